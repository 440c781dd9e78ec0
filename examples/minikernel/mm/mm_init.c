// SPDX-License-Identifier: GPL-2.0
/*
 * Initialising the memmap: at boot for all of memory, again for every hot-added range,
 * and separately for ZONE_DEVICE ranges once their pagemap is set up.
 */
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/memremap.h>
#include <linux/memory_hotplug.h>
#include "internal.h"

struct pglist_data *node_data[MAX_NUMNODES];
unsigned long max_pfn;
unsigned long min_low_pfn;

/* Write a struct page from scratch: nothing read from it before this means anything. */
void __meminit __init_single_page(struct page *page, unsigned long pfn,
				  unsigned long zone, int nid)
{
	mm_zero_struct_page(page);
	set_page_links(page, zone, nid, pfn);
	init_page_count(page);
	atomic_set(&page->_mapcount, -1);
	INIT_LIST_HEAD(&page->lru);
}

/*
 * memmap_init_range - initialise the struct pages of a pfn range
 *
 * At boot (MEMINIT_EARLY) the pages stay reserved only if memblock says so, see
 * reserve_bootmem_region(); for hot-added memory every page starts out PG_reserved and
 * stays so until online_pages() hands it to the buddy allocator.
 *
 * For ZONE_DEVICE only the pages that hold the memmap itself (the altmap'ed head of the
 * range) are initialised here; memmap_init_zone_device() does the rest, later.
 */
void __meminit memmap_init_range(unsigned long size, int nid, unsigned long zone,
				 unsigned long start_pfn, unsigned long zone_end_pfn,
				 enum meminit_context context, struct vmem_altmap *altmap,
				 int migratetype)
{
	unsigned long pfn, end_pfn = start_pfn + size;

	if (zone_end_pfn && end_pfn > zone_end_pfn)
		end_pfn = zone_end_pfn;

	if (zone == ZONE_DEVICE) {
		if (!altmap)
			return;
		if (start_pfn == altmap->base_pfn)
			start_pfn += altmap->reserve;
		end_pfn = altmap->base_pfn + vmem_altmap_offset(altmap);
	}

	for (pfn = start_pfn; pfn < end_pfn; pfn++) {
		struct page *page = pfn_to_page(pfn);

		__init_single_page(page, pfn, zone, nid);
		if (context == MEMINIT_HOTPLUG)
			__SetPageReserved(page);

		if (pageblock_aligned(pfn))
			set_pageblock_migratetype(page, migratetype);
		if ((pfn & (PAGES_PER_SECTION - 1)) == 0)
			cond_resched();
	}
}

static void __ref __init_zone_device_page(struct page *page, unsigned long pfn,
					  unsigned long zone_idx, int nid,
					  struct dev_pagemap *pgmap)
{
	__init_single_page(page, pfn, zone_idx, nid);

	/*
	 * Device pages are never handed to the buddy allocator: PG_reserved keeps the
	 * generic code off them.
	 */
	__SetPageReserved(page);

	page->pgmap = pgmap;
	page->zone_device_data = NULL;

	if (pageblock_aligned(pfn))
		set_pageblock_migratetype(page, MIGRATE_MOVABLE);

	/* private and coherent pages are free (refcount 0) until the driver hands them out */
	if (pgmap->type == MEMORY_DEVICE_PRIVATE || pgmap->type == MEMORY_DEVICE_COHERENT)
		set_page_count(page, 0);
}

static void __ref memmap_init_compound(struct page *head, unsigned long head_pfn,
				       unsigned long zone_idx, int nid,
				       struct dev_pagemap *pgmap, unsigned long nr_pages)
{
	unsigned long pfn, end_pfn = head_pfn + nr_pages;

	__SetPageHead(head);
	for (pfn = head_pfn + 1; pfn < end_pfn; pfn++) {
		struct page *page = pfn_to_page(pfn);

		__init_zone_device_page(page, pfn, zone_idx, nid, pgmap);
		WRITE_ONCE(page->compound_head, (unsigned long)head + 1);
	}
}

/*
 * memmap_init_zone_device - initialise the memmap of a ZONE_DEVICE range
 *
 * Called by memremap_pages() after the range was added, i.e. after pfn_valid() became
 * true for it, and outside the hotplug lock.
 */
void __ref memmap_init_zone_device(struct zone *zone, unsigned long start_pfn,
				   unsigned long nr_pages, struct dev_pagemap *pgmap)
{
	unsigned long pfn, end_pfn = start_pfn + nr_pages;
	struct pglist_data *pgdat = zone->zone_pgdat;
	struct vmem_altmap *altmap = pgmap_altmap(pgmap);
	unsigned long pfns_per_compound = pgmap_vmemmap_nr(pgmap);
	unsigned long zone_idx = zone_idx(zone);
	int nid = pgdat->node_id;

	if (WARN_ON_ONCE(!pgmap || zone_idx != ZONE_DEVICE))
		return;

	/* the memmap pages themselves were initialised by move_pfn_range_to_zone() */
	if (altmap) {
		start_pfn = altmap->base_pfn + vmem_altmap_offset(altmap);
		nr_pages = end_pfn - start_pfn;
	}

	for (pfn = start_pfn; pfn < end_pfn; pfn += pfns_per_compound) {
		struct page *page = pfn_to_page(pfn);

		__init_zone_device_page(page, pfn, zone_idx, nid, pgmap);
		if (pfns_per_compound == 1)
			continue;
		memmap_init_compound(page, pfn, zone_idx, nid, pgmap, pfns_per_compound);
	}

	pr_info("%s initialised %lu pages\n", __func__, nr_pages);
}

/* Boot: memblock marks firmware, the kernel image and early allocations reserved. */
void __meminit reserve_bootmem_region(phys_addr_t start, phys_addr_t end, int nid)
{
	unsigned long pfn;

	for (pfn = PFN_UP(start); pfn < PHYS_PFN(end); pfn++) {
		struct page *page = pfn_to_page(pfn);

		__init_single_page(page, pfn, ZONE_NORMAL, nid);
		__SetPageReserved(page);
	}
}

static void __init memmap_init_zone_range(struct zone *zone, unsigned long start_pfn,
					  unsigned long end_pfn)
{
	int nid = zone->zone_pgdat->node_id;

	memmap_init_range(end_pfn - start_pfn, nid, zone_idx(zone), start_pfn,
			  zone_end_pfn(zone), MEMINIT_EARLY, NULL, MIGRATE_MOVABLE);
}

void __init free_area_init(unsigned long *max_zone_pfn)
{
	unsigned long start_pfn = 0;
	int nid, j;

	for (nid = 0; nid < MAX_NUMNODES; nid++) {
		struct pglist_data *pgdat = NODE_DATA(nid);

		if (!pgdat)
			continue;
		for (j = 0; j < ZONE_DEVICE; j++) {
			struct zone *zone = &pgdat->node_zones[j];

			zone->zone_pgdat = pgdat;
			zone->zone_start_pfn = start_pfn;
			zone->spanned_pages = max_zone_pfn[j] - start_pfn;
			memmap_init_zone_range(zone, start_pfn, max_zone_pfn[j]);
			start_pfn = max_zone_pfn[j];
		}
		/* the boot memmap is complete: walkers may use it from now on */
		online_mem_sections(pgdat->node_start_pfn, start_pfn);
	}
}

extern unsigned long boot_end_pfn;
extern phys_addr_t boot_reserved_end;

/* Release all boot memory that memblock did not keep to the buddy allocator. */
void __init memblock_free_all(void)
{
	unsigned long pfn = PHYS_PFN(boot_reserved_end);

	reserve_bootmem_region(0, boot_reserved_end, 0);
	for (; pfn + MAX_ORDER_NR_PAGES <= boot_end_pfn; pfn += MAX_ORDER_NR_PAGES)
		__free_pages_core(pfn_to_page(pfn), MAX_PAGE_ORDER, MEMINIT_EARLY);
}

void __init mm_core_init(void)
{
	mem_init();
	pr_info("Memory: %lu pages available\n", totalram_pages);
}
