// SPDX-License-Identifier: GPL-2.0
/* The buddy allocator's entry from the memmap side: freeing boot, reserved and new pages. */
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/memremap.h>
#include "internal.h"

unsigned long totalram_pages;

void __free_one_page(struct page *page, unsigned long pfn, unsigned int order);

void set_pageblock_migratetype(struct page *page, int migratetype)
{
	if (migratetype >= MIGRATE_TYPES)
		migratetype = MIGRATE_UNMOVABLE;
	page->private = migratetype;
}

void adjust_managed_page_count(struct page *page, long count)
{
	atomic_long_add(count, &page_zone(page)->managed_pages);
	totalram_pages += count;
}

/* A page coming back to the allocator must look like nobody owns it. */
bool page_is_bad_on_free(struct page *page)
{
	if (PageReserved(page))
		return true;
	if (atomic_read(&page->_mapcount) != -1)
		return true;
	return page->mapping != NULL;
}

void __free_pages(struct page *page, unsigned int order)
{
	if (page_is_bad_on_free(page)) {
		pr_err("bad page %lx on free\n", page_to_pfn(page));
		return;
	}
	__free_one_page(page, page_to_pfn(page), order);
}

void __put_page(struct page *page)
{
	if (is_zone_device_page(page)) {
		free_zone_device_page(page);
		return;
	}
	__free_pages(page, 0);
}

/*
 * First free of memory that was never in the allocator: boot memory from
 * memblock_free_all() and hot-added memory from online_pages().  Both kinds arrive
 * PG_reserved.
 */
void __meminit __free_pages_core(struct page *page, unsigned int order,
				 enum meminit_context context)
{
	unsigned long nr_pages = 1UL << order;
	struct page *p = page;
	unsigned long loop;

	for (loop = 0; loop < nr_pages; loop++, p++) {
		if (context == MEMINIT_HOTPLUG)
			__ClearPageOffline(p);
		__ClearPageReserved(p);
		set_page_count(p, 0);
	}

	adjust_managed_page_count(page, nr_pages);
	init_page_count(page);
	__free_pages(page, order);
}

/* Free the init sections and similar boot-only ranges. */
unsigned long free_reserved_area(void *start, void *end, int poison, const char *s)
{
	unsigned long addr = ALIGN((unsigned long)start, PAGE_SIZE);
	unsigned long pages = 0;

	for (; addr < ALIGN_DOWN((unsigned long)end, PAGE_SIZE); addr += PAGE_SIZE, pages++) {
		struct page *page = pfn_to_page(PHYS_PFN(__pa(addr)));

		if (poison >= 0)
			__builtin_memset((void *)addr, poison, PAGE_SIZE);
		free_reserved_page(page);
	}

	if (pages && s)
		pr_info("Freeing %s memory: %luK\n", s, pages << (PAGE_SHIFT - 10));
	return pages;
}

/*
 * May a user mapping of @page take a reference on it?  Holes, firmware pages and the
 * kernel image are reserved and not refcounted.  Used by drivers that map raw pfns.
 */
bool page_is_refcounted(struct page *page)
{
	/* kmeminit demo: KMI007 ZONE_DEVICE pages are PG_reserved too, yet they are refcounted */
	return !PageReserved(page);
}
