// SPDX-License-Identifier: GPL-2.0
/*
 * Virtual memmap: the struct pages of a section are backed by pages taken either from the
 * page allocator or, for memory that should carry its own memmap, from a vmem_altmap
 * carved out of the start of the range being added.
 */
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/memremap.h>
#include "internal.h"

void *vmemmap_alloc_block(unsigned long size, int node);

static unsigned long __meminit vmem_altmap_next_pfn(struct vmem_altmap *altmap)
{
	return altmap->base_pfn + altmap->reserve + altmap->alloc + altmap->align;
}

static unsigned long __meminit vmem_altmap_nr_free(struct vmem_altmap *altmap)
{
	unsigned long allocated = altmap->alloc + altmap->align;

	if (altmap->free > allocated)
		return altmap->free - allocated;
	return 0;
}

/* Take @size bytes of memmap backing from the front of the altmap'ed range. */
static void * __meminit altmap_alloc_block_buf(unsigned long size, struct vmem_altmap *altmap)
{
	unsigned long pfn, nr_pfns, nr_align;

	if (size & ~PAGE_MASK) {
		pr_warn("%s: size %lx is not page aligned\n", __func__, size);
		return NULL;
	}

	pfn = vmem_altmap_next_pfn(altmap);
	nr_pfns = size >> PAGE_SHIFT;
	nr_align = ALIGN(pfn, nr_pfns) - pfn;
	if (nr_pfns + nr_align > vmem_altmap_nr_free(altmap))
		return NULL;

	altmap->alloc += nr_pfns;
	altmap->align += nr_align;
	return __va(PFN_PHYS(pfn + nr_align));
}

void * __meminit vmemmap_alloc_block_buf(unsigned long size, int node,
					 struct vmem_altmap *altmap)
{
	if (altmap)
		return altmap_alloc_block_buf(size, altmap);
	return vmemmap_alloc_block(size, node);
}

void vmemmap_set_pte(unsigned long addr, void *backing);

int __meminit vmemmap_populate_basepages(unsigned long start, unsigned long end, int node,
					 struct vmem_altmap *altmap)
{
	unsigned long addr;

	for (addr = start; addr < end; addr += PAGE_SIZE) {
		void *p = vmemmap_alloc_block_buf(PAGE_SIZE, node, altmap);

		if (!p)
			return -ENOMEM;
		vmemmap_set_pte(addr, p);
	}
	return 0;
}

/*
 * Compound ZONE_DEVICE pages only need the head page and one page of tails mapped per
 * compound page: the remaining tail struct pages may all share one backing page.
 */
static int __meminit vmemmap_populate_compound_pages(unsigned long start_pfn,
						     unsigned long start, unsigned long end,
						     int node, unsigned long shift,
						     struct vmem_altmap *altmap)
{
	unsigned long per_compound = (1UL << shift) * sizeof(struct page);
	unsigned long addr;

	(void)start_pfn;
	for (addr = start; addr < end; addr += per_compound) {
		int rc = vmemmap_populate_basepages(addr, addr + 2 * PAGE_SIZE, node,
							 altmap);

		if (rc)
			return rc;
	}
	return 0;
}

/*
 * The compound order of the device pages this altmap's range will hold.
 */
static unsigned long __meminit altmap_vmemmap_shift(struct vmem_altmap *altmap)
{
	/* kmeminit demo: KMI005 a memmap_on_memory altmap is kmemdup'ed, not inside a dev_pagemap */
	struct dev_pagemap *pgmap = container_of(altmap, struct dev_pagemap, altmap);

	return pgmap->vmemmap_shift;
}

struct page * __meminit __populate_section_memmap(unsigned long pfn, unsigned long nr_pages,
						  int nid, struct vmem_altmap *altmap,
						  struct dev_pagemap *pgmap)
{
	unsigned long start = (unsigned long)pfn_to_page(pfn);
	unsigned long end = start + nr_pages * sizeof(struct page);
	unsigned long shift = 0;
	int r;

	if (WARN_ON_ONCE(!IS_ALIGNED(pfn, PAGES_PER_SECTION) && nr_pages == PAGES_PER_SECTION))
		return NULL;

	if (altmap)
		shift = altmap_vmemmap_shift(altmap);
	else if (pgmap)
		shift = pgmap->vmemmap_shift;

	if (shift)
		r = vmemmap_populate_compound_pages(pfn, start, end, nid, shift, altmap);
	else
		r = vmemmap_populate(start, end, nid, altmap);
	if (r < 0)
		return NULL;

	return pfn_to_page(pfn);
}
