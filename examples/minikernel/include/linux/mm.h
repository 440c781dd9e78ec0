/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_MM_H
#define _LINUX_MM_H

#include <linux/types.h>
#include <linux/kernel.h>
#include <linux/atomic.h>
#include <linux/mm_types.h>
#include <linux/page-flags.h>
#include <linux/mmzone.h>
#include <linux/memremap.h>

extern unsigned long max_pfn;
extern unsigned long min_low_pfn;
extern unsigned long totalram_pages;

static inline enum zone_type page_zonenum(const struct page *page)
{
	return (page->flags >> ZONES_PGSHIFT) & ZONES_MASK;
}

static inline int page_to_nid(const struct page *page)
{
	return (page->flags >> NODES_PGSHIFT) & NODES_MASK;
}

static inline struct zone *page_zone(const struct page *page)
{
	return &NODE_DATA(page_to_nid(page))->node_zones[page_zonenum(page)];
}

static inline bool is_zone_device_page(const struct page *page)
{
	return page_zonenum(page) == ZONE_DEVICE;
}

static inline void set_page_zone(struct page *page, enum zone_type zone)
{
	page->flags &= ~(ZONES_MASK << ZONES_PGSHIFT);
	page->flags |= (zone & ZONES_MASK) << ZONES_PGSHIFT;
}

static inline void set_page_node(struct page *page, unsigned long node)
{
	page->flags &= ~(NODES_MASK << NODES_PGSHIFT);
	page->flags |= (node & NODES_MASK) << NODES_PGSHIFT;
}

static inline void set_page_links(struct page *page, enum zone_type zone,
				  unsigned long node, unsigned long pfn)
{
	set_page_zone(page, zone);
	set_page_node(page, node);
	(void)pfn;
}

static inline int page_count(const struct page *page)
{
	return atomic_read(&compound_head(page)->_refcount);
}

static inline void set_page_count(struct page *page, int v)
{
	atomic_set(&page->_refcount, v);
}

static inline void init_page_count(struct page *page)
{
	set_page_count(page, 1);
}

static inline void get_page(struct page *page)
{
	atomic_inc(&compound_head(page)->_refcount);
}

void __put_page(struct page *page);

static inline void put_page(struct page *page)
{
	if (atomic_dec_and_test(&compound_head(page)->_refcount))
		__put_page(page);
}

static inline void mm_zero_struct_page(struct page *page)
{
	__builtin_memset(page, 0, sizeof(*page));
}

static inline void INIT_LIST_HEAD(struct list_head *list)
{
	WRITE_ONCE(list->next, list);
	list->prev = list;
}

void __free_pages(struct page *page, unsigned int order);
#define __free_page(page)	__free_pages((page), 0)
void __free_pages_core(struct page *page, unsigned int order,
		       enum meminit_context context);

void adjust_managed_page_count(struct page *page, long count);

/* Take a page away from the allocator's accounting for good (firmware, crash kernel...). */
static inline void mark_page_reserved(struct page *page)
{
	SetPageReserved(page);
	adjust_managed_page_count(page, -1);
}

/* Hand a page that was reserved at boot back to the buddy allocator. */
static inline void free_reserved_page(struct page *page)
{
	ClearPageReserved(page);
	init_page_count(page);
	__free_page(page);
	adjust_managed_page_count(page, 1);
}

unsigned long free_reserved_area(void *start, void *end, int poison, const char *s);
bool page_is_refcounted(struct page *page);

void set_pageblock_migratetype(struct page *page, int migratetype);

void free_area_init(unsigned long *max_zone_pfn);
void memblock_free_all(void);
void mem_init(void);
void mm_core_init(void);

void *__va_phys(phys_addr_t addr);
#define __va(x)			__va_phys((phys_addr_t)(x))
#define __pa(x)			((phys_addr_t)(unsigned long)(x) - 0xffff888000000000UL)

static inline struct folio *pfn_folio(unsigned long pfn)
{
	return page_folio(pfn_to_page(pfn));
}

/* Prints what a struct page holds; checks for a poisoned memmap before reading it. */
void dump_page(const struct page *page, const char *reason);

#define VM_BUG_ON_PAGE(cond, page)					\
	do {								\
		if (unlikely(cond)) {					\
			dump_page(page, "VM_BUG_ON_PAGE(" #cond ")");	\
			__builtin_trap();				\
		}							\
	} while (0)

#endif /* _LINUX_MM_H */
