/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Zones, nodes and SPARSEMEM sections.  A section's memmap becomes reachable through
 * pfn_to_page() once SECTION_HAS_MEM_MAP is set; pfn_valid() answers from that bit.  The
 * memmap is only guaranteed to be *initialised* once SECTION_IS_ONLINE is set as well, which
 * is what pfn_to_online_page() checks.
 */
#ifndef _LINUX_MMZONE_H
#define _LINUX_MMZONE_H

#include <linux/types.h>
#include <linux/kernel.h>
#include <linux/atomic.h>
#include <linux/mm_types.h>

#define PAGE_SHIFT		12
#define PAGE_SIZE		(1UL << PAGE_SHIFT)
#define PAGE_MASK		(~(PAGE_SIZE - 1))
#define PHYS_PFN(x)		((unsigned long)((x) >> PAGE_SHIFT))
#define PFN_PHYS(x)		((phys_addr_t)(x) << PAGE_SHIFT)
#define PFN_UP(x)		(((x) + PAGE_SIZE - 1) >> PAGE_SHIFT)

#define MAX_NUMNODES		8
#define MAX_PAGE_ORDER		10
#define MAX_ORDER_NR_PAGES	(1UL << MAX_PAGE_ORDER)
#define pageblock_order		9
#define pageblock_nr_pages	(1UL << pageblock_order)
#define pageblock_aligned(pfn)	IS_ALIGNED((unsigned long)(pfn), pageblock_nr_pages)

enum migratetype {
	MIGRATE_UNMOVABLE,
	MIGRATE_MOVABLE,
	MIGRATE_RECLAIMABLE,
	MIGRATE_ISOLATE,
	MIGRATE_TYPES
};

enum zone_type {
	ZONE_DMA32,
	ZONE_NORMAL,
	ZONE_MOVABLE,
	ZONE_DEVICE,
	__MAX_NR_ZONES
};
#define MAX_NR_ZONES		__MAX_NR_ZONES

/* page->flags layout: node id and zone index live in the top bits. */
#define NODES_WIDTH		6
#define ZONES_WIDTH		2
#define NODES_PGSHIFT		(BITS_PER_LONG - NODES_WIDTH)
#define ZONES_PGSHIFT		(NODES_PGSHIFT - ZONES_WIDTH)
#define NODES_MASK		((1UL << NODES_WIDTH) - 1)
#define ZONES_MASK		((1UL << ZONES_WIDTH) - 1)

struct pglist_data;

struct zone {
	struct pglist_data *zone_pgdat;
	unsigned long zone_start_pfn;
	unsigned long spanned_pages;
	unsigned long present_pages;
	atomic_long_t managed_pages;
	bool contiguous;
	const char *name;
};

typedef struct pglist_data {
	struct zone node_zones[MAX_NR_ZONES];
	int nr_zones;
	unsigned long node_start_pfn;
	unsigned long node_present_pages;
	unsigned long node_spanned_pages;
	int node_id;
} pg_data_t;

extern struct pglist_data *node_data[MAX_NUMNODES];
#define NODE_DATA(nid)		(node_data[nid])

#define zone_idx(zone)		((zone) - (zone)->zone_pgdat->node_zones)

static inline unsigned long zone_end_pfn(const struct zone *zone)
{
	return zone->zone_start_pfn + zone->spanned_pages;
}

static inline bool zone_spans_pfn(const struct zone *zone, unsigned long pfn)
{
	return zone->zone_start_pfn <= pfn && pfn < zone_end_pfn(zone);
}

static inline bool zone_is_empty(const struct zone *zone)
{
	return zone->spanned_pages == 0;
}

static inline bool zone_is_zone_device(const struct zone *zone)
{
	return zone_idx(zone) == ZONE_DEVICE;
}

/* SPARSEMEM: 128 MiB sections, 46 bits of physical address space. */
#define SECTION_SIZE_BITS	27
#define MAX_PHYSMEM_BITS	46
#define PFN_SECTION_SHIFT	(SECTION_SIZE_BITS - PAGE_SHIFT)
#define PAGES_PER_SECTION	(1UL << PFN_SECTION_SHIFT)
#define PAGE_SECTION_MASK	(~(PAGES_PER_SECTION - 1))
#define SECTIONS_SHIFT		(MAX_PHYSMEM_BITS - SECTION_SIZE_BITS)
#define NR_MEM_SECTIONS		(1UL << SECTIONS_SHIFT)
#define SECTION_ALIGN_UP(pfn)	(((pfn) + PAGES_PER_SECTION - 1) & PAGE_SECTION_MASK)
#define SECTION_ALIGN_DOWN(pfn)	((pfn) & PAGE_SECTION_MASK)

struct mem_section_usage;

struct mem_section {
	/* pointer to the section's memmap, low bits are the SECTION_* state */
	unsigned long section_mem_map;
	struct mem_section_usage *usage;
};

enum {
	SECTION_MARKED_PRESENT_BIT,
	SECTION_HAS_MEM_MAP_BIT,
	SECTION_IS_ONLINE_BIT,
	SECTION_IS_EARLY_BIT,
	SECTION_TAINT_ZONE_DEVICE_BIT,
	SECTION_MAP_LAST_BIT,
};

#define SECTION_MARKED_PRESENT		(1UL << SECTION_MARKED_PRESENT_BIT)
#define SECTION_HAS_MEM_MAP		(1UL << SECTION_HAS_MEM_MAP_BIT)
#define SECTION_IS_ONLINE		(1UL << SECTION_IS_ONLINE_BIT)
#define SECTION_IS_EARLY		(1UL << SECTION_IS_EARLY_BIT)
#define SECTION_TAINT_ZONE_DEVICE	(1UL << SECTION_TAINT_ZONE_DEVICE_BIT)
#define SECTION_MAP_MASK		(~((1UL << SECTION_MAP_LAST_BIT) - 1))

extern struct mem_section mem_section[NR_MEM_SECTIONS];

static inline unsigned long pfn_to_section_nr(unsigned long pfn)
{
	return pfn >> PFN_SECTION_SHIFT;
}

static inline unsigned long section_nr_to_pfn(unsigned long section_nr)
{
	return section_nr << PFN_SECTION_SHIFT;
}

static inline struct mem_section *__nr_to_section(unsigned long section_nr)
{
	if (section_nr >= NR_MEM_SECTIONS)
		return NULL;
	return &mem_section[section_nr];
}

static inline struct mem_section *__pfn_to_section(unsigned long pfn)
{
	return __nr_to_section(pfn_to_section_nr(pfn));
}

static inline bool present_section(const struct mem_section *ms)
{
	return ms && (ms->section_mem_map & SECTION_MARKED_PRESENT);
}

static inline bool valid_section(const struct mem_section *ms)
{
	return ms && (ms->section_mem_map & SECTION_HAS_MEM_MAP);
}

static inline bool early_section(const struct mem_section *ms)
{
	return ms && (ms->section_mem_map & SECTION_IS_EARLY);
}

static inline bool online_section(const struct mem_section *ms)
{
	return ms && (ms->section_mem_map & SECTION_IS_ONLINE);
}

static inline bool online_device_section(const struct mem_section *ms)
{
	unsigned long both = SECTION_IS_ONLINE | SECTION_TAINT_ZONE_DEVICE;

	return ms && (ms->section_mem_map & both) == both;
}

static inline bool online_section_nr(unsigned long section_nr)
{
	return online_section(__nr_to_section(section_nr));
}

static inline bool present_section_nr(unsigned long section_nr)
{
	return present_section(__nr_to_section(section_nr));
}

static inline bool valid_section_nr(unsigned long section_nr)
{
	return valid_section(__nr_to_section(section_nr));
}

/*
 * Is there a memmap for @pfn?  Says nothing about whether it has been initialised: a
 * hot-added range answers true from sparse_add_section() on, long before its struct pages
 * are written.
 */
static inline int pfn_valid(unsigned long pfn)
{
	unsigned long section_nr = pfn_to_section_nr(pfn);

	if (PFN_PHYS(pfn) >> PAGE_SHIFT != pfn)
		return 0;
	if (section_nr >= NR_MEM_SECTIONS)
		return 0;
	return valid_section(__nr_to_section(section_nr));
}

/* SPARSEMEM_VMEMMAP: the memmap is one virtually contiguous array. */
#define VMEMMAP_START		0xffffea0000000000UL
#define vmemmap			((struct page *)VMEMMAP_START)

#define pfn_to_page(pfn)	(vmemmap + (pfn))
#define page_to_pfn(page)	((unsigned long)((page) - vmemmap))

/* NUMA: a pfn's node is kept in its struct page, so asking for it reads the memmap. */
#define pfn_to_nid(pfn)							\
({									\
	unsigned long __pfn_to_nid_pfn = (pfn);				\
	page_to_nid(pfn_to_page(__pfn_to_nid_pfn));			\
})

void online_mem_sections(unsigned long start_pfn, unsigned long end_pfn);
void offline_mem_sections(unsigned long start_pfn, unsigned long end_pfn);
void sparse_init(void);

#include <linux/memory_hotplug.h>

#endif /* _LINUX_MMZONE_H */
