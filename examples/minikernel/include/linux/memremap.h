/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_MEMREMAP_H
#define _LINUX_MEMREMAP_H

#include <linux/types.h>
#include <linux/stddef.h>
#include <linux/range.h>
#include <linux/percpu-refcount.h>
#include <linux/mm_types.h>

struct zone;

/*
 * struct vmem_altmap - pre-allocated storage for the memmap of a hot-added range
 * @base_pfn: first pfn of the range the memmap describes
 * @end_pfn: last pfn of that range
 * @reserve: pages at the start kept back for the driver (an info block)
 * @free: pages after @reserve available to hold the memmap
 * @align: pages skipped to align allocations
 * @alloc: pages handed out so far
 *
 * Two kinds exist: one embedded in a struct dev_pagemap (ZONE_DEVICE), and a standalone
 * one kmalloc'ed per memory block for memmap_on_memory hotplug.
 */
struct vmem_altmap {
	unsigned long base_pfn;
	unsigned long end_pfn;
	unsigned long reserve;
	unsigned long free;
	unsigned long align;
	unsigned long alloc;
	bool inaccessible;
};

enum memory_type {
	MEMORY_DEVICE_PRIVATE = 1,
	MEMORY_DEVICE_COHERENT,
	MEMORY_DEVICE_FS_DAX,
	MEMORY_DEVICE_GENERIC,
	MEMORY_DEVICE_PCI_P2PDMA,
};

struct dev_pagemap;

struct dev_pagemap_ops {
	/* the last reference to a ZONE_DEVICE page was dropped */
	void (*page_free)(struct page *page);
	/* a CPU touched a DEVICE_PRIVATE page: bring the data back */
	vm_fault_t (*migrate_to_ram)(struct vm_fault *vmf);
	int (*memory_failure)(struct dev_pagemap *pgmap, unsigned long pfn,
			      unsigned long nr_pages, int mf_flags);
};

#define PGMAP_ALTMAP_VALID	(1 << 0)

struct dev_pagemap {
	struct vmem_altmap altmap;
	struct percpu_ref ref;
	unsigned int flags;
	unsigned long vmemmap_shift;
	enum memory_type type;
	const struct dev_pagemap_ops *ops;
	void *owner;
	int nr_range;
	union {
		struct range range;
		DECLARE_FLEX_ARRAY(struct range, ranges);
	};
};

static inline struct vmem_altmap *pgmap_altmap(struct dev_pagemap *pgmap)
{
	if (pgmap->flags & PGMAP_ALTMAP_VALID)
		return &pgmap->altmap;
	return NULL;
}

static inline unsigned long pgmap_vmemmap_nr(struct dev_pagemap *pgmap)
{
	return 1UL << pgmap->vmemmap_shift;
}

/* pfns at the start of the range that do not get a usable page: reserve plus the memmap */
static inline unsigned long vmem_altmap_offset(struct vmem_altmap *altmap)
{
	return altmap->reserve + altmap->free;
}

static inline void vmem_altmap_free(struct vmem_altmap *altmap, unsigned long nr_pfns)
{
	altmap->alloc -= nr_pfns;
}

void *memremap_pages(struct dev_pagemap *pgmap, int nid);
void memunmap_pages(struct dev_pagemap *pgmap);
void free_zone_device_page(struct page *page);
void memmap_init_zone_device(struct zone *zone, unsigned long start_pfn,
			     unsigned long nr_pages, struct dev_pagemap *pgmap);

#endif /* _LINUX_MEMREMAP_H */
