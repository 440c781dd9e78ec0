/* SPDX-License-Identifier: GPL-2.0 */
/* Declarations shared inside mm/ only. */
#ifndef __MM_INTERNAL_H
#define __MM_INTERNAL_H

#include <linux/mm.h>

struct page *__populate_section_memmap(unsigned long pfn, unsigned long nr_pages,
				       int nid, struct vmem_altmap *altmap,
				       struct dev_pagemap *pgmap);
void vmemmap_free(unsigned long start, unsigned long end, struct vmem_altmap *altmap);
int vmemmap_populate(unsigned long start, unsigned long end, int node,
		     struct vmem_altmap *altmap);
int vmemmap_populate_basepages(unsigned long start, unsigned long end, int node,
			       struct vmem_altmap *altmap);
void *vmemmap_alloc_block_buf(unsigned long size, int node, struct vmem_altmap *altmap);

void __init_single_page(struct page *page, unsigned long pfn, unsigned long zone, int nid);
void memmap_init_range(unsigned long size, int nid, unsigned long zone,
		       unsigned long start_pfn, unsigned long zone_end_pfn,
		       enum meminit_context context, struct vmem_altmap *altmap,
		       int migratetype);
void reserve_bootmem_region(phys_addr_t start, phys_addr_t end, int nid);

bool page_is_bad_on_free(struct page *page);

#endif /* __MM_INTERNAL_H */
