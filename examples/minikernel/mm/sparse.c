// SPDX-License-Identifier: GPL-2.0
/*
 * SPARSEMEM section bookkeeping for the kmeminit example tree.
 *
 * A hot-added section goes through three states: present (it exists), has a memmap
 * (pfn_valid() is true, pfn_to_page() returns a pointer into vmemmap) and online (its
 * memmap has been initialised and its pages belong to a zone).  Only the last state makes
 * the struct pages trustworthy.
 */
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/memory_hotplug.h>
#include "internal.h"

struct mem_section mem_section[NR_MEM_SECTIONS];

static void __section_mark_present(struct mem_section *ms)
{
	ms->section_mem_map |= SECTION_MARKED_PRESENT;
}

/*
 * From here on pfn_valid() answers true for the whole section.  Whether @memmap holds
 * initialised struct pages is the caller's business.
 */
static void sparse_init_one_section(struct mem_section *ms, struct page *memmap,
				    unsigned long flags)
{
	unsigned long state = ms->section_mem_map & ~SECTION_MAP_MASK;

	ms->section_mem_map = (unsigned long)memmap | state | SECTION_HAS_MEM_MAP | flags;
}

static struct page *populate_section_memmap(unsigned long pfn, unsigned long nr_pages,
					    int nid, struct vmem_altmap *altmap,
					    struct dev_pagemap *pgmap)
{
	return __populate_section_memmap(pfn, nr_pages, nid, altmap, pgmap);
}

static void depopulate_section_memmap(unsigned long pfn, unsigned long nr_pages,
				      struct vmem_altmap *altmap)
{
	unsigned long start = (unsigned long)pfn_to_page(pfn);
	unsigned long end = start + nr_pages * sizeof(struct page);

	vmemmap_free(start, end, altmap);
}

/* Allocate (through @altmap when there is one) and map the memmap of a section. */
static struct page * __meminit section_activate(int nid, unsigned long pfn,
						unsigned long nr_pages,
						struct vmem_altmap *altmap,
						struct dev_pagemap *pgmap)
{
	struct mem_section *ms = __pfn_to_section(pfn);
	struct page *memmap;

	/* boot memory: the memmap of the whole section already exists */
	if (nr_pages < PAGES_PER_SECTION && early_section(ms))
		return pfn_to_page(pfn);

	memmap = populate_section_memmap(pfn, nr_pages, nid, altmap, pgmap);
	if (!memmap)
		return ERR_PTR(-ENOMEM);
	return memmap;
}

static void section_deactivate(unsigned long pfn, unsigned long nr_pages,
			       struct vmem_altmap *altmap)
{
	struct mem_section *ms = __pfn_to_section(pfn);

	if (early_section(ms))
		return;
	ms->section_mem_map &= ~(SECTION_MAP_MASK | SECTION_HAS_MEM_MAP);
	depopulate_section_memmap(pfn, nr_pages, altmap);
}

/**
 * sparse_add_section - give a (part of a) section a memmap
 * @nid: node the memory is on
 * @start_pfn: first pfn, within one section
 * @nr_pages: number of pfns
 * @altmap: where to allocate the memmap from, or NULL for normal memory
 * @pgmap: the ZONE_DEVICE pagemap the range belongs to, or NULL
 *
 * The memmap is mapped but not initialised: that is move_pfn_range_to_zone()'s job
 * (memmap_init_zone_device() for ZONE_DEVICE).  Until then its contents are poison.
 */
int __meminit sparse_add_section(int nid, unsigned long start_pfn, unsigned long nr_pages,
				 struct vmem_altmap *altmap, struct dev_pagemap *pgmap)
{
	unsigned long section_nr = pfn_to_section_nr(start_pfn);
	struct mem_section *ms = __nr_to_section(section_nr);
	struct page *memmap;
	unsigned long flags = 0;

	if (!ms)
		return -EINVAL;

	memmap = section_activate(nid, start_pfn, nr_pages, altmap, pgmap);
	if (IS_ERR(memmap))
		return PTR_ERR(memmap);

	/* poison the memmap so that a reader of an uninitialised page trips over it */
	__builtin_memset(memmap, 0xff, sizeof(struct page) * nr_pages);

	if (pgmap)
		flags |= SECTION_TAINT_ZONE_DEVICE;
	__section_mark_present(ms);
	sparse_init_one_section(ms, memmap, flags);
	return 0;
}

void sparse_remove_section(unsigned long pfn, unsigned long nr_pages,
			   struct vmem_altmap *altmap)
{
	struct mem_section *ms = __pfn_to_section(pfn);

	if (WARN_ON_ONCE(!valid_section(ms)))
		return;
	section_deactivate(pfn, nr_pages, altmap);
}

/* Memmap of these sections is initialised: pfn_to_online_page() may now return it. */
void online_mem_sections(unsigned long start_pfn, unsigned long end_pfn)
{
	unsigned long pfn;

	for (pfn = start_pfn; pfn < end_pfn; pfn += PAGES_PER_SECTION) {
		struct mem_section *ms = __pfn_to_section(pfn);

		if (WARN_ON(!valid_section(ms)))
			continue;
		ms->section_mem_map |= SECTION_IS_ONLINE;
	}
}

void offline_mem_sections(unsigned long start_pfn, unsigned long end_pfn)
{
	unsigned long pfn;

	for (pfn = start_pfn; pfn < end_pfn; pfn += PAGES_PER_SECTION) {
		struct mem_section *ms = __pfn_to_section(pfn);

		if (WARN_ON(!valid_section(ms)))
			continue;
		ms->section_mem_map &= ~SECTION_IS_ONLINE;
	}
}

extern unsigned long boot_end_pfn;

/* Boot: every section with memory gets a memmap now; free_area_init() initialises it. */
void __init sparse_init(void)
{
	unsigned long pfn;

	for (pfn = 0; pfn < boot_end_pfn; pfn += PAGES_PER_SECTION) {
		struct mem_section *ms = __pfn_to_section(pfn);
		struct page *memmap;

		memmap = __populate_section_memmap(pfn, PAGES_PER_SECTION, 0, NULL, NULL);
		if (!memmap) {
			pr_err("sparse: no memmap for pfn %lx\n", pfn);
			continue;
		}
		__section_mark_present(ms);
		sparse_init_one_section(ms, memmap, SECTION_IS_EARLY);
	}
}
