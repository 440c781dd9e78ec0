// SPDX-License-Identifier: GPL-2.0
/* x86-64 memory setup: boot paging init, the linear map and the vmemmap for hot-added memory. */
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/memremap.h>
#include <linux/memory_hotplug.h>
#include "../../../mm/internal.h"

unsigned long boot_end_pfn;
phys_addr_t boot_reserved_end;
static unsigned long max_low_pfn_mapped;

int init_memory_mapping(unsigned long start, unsigned long end, pgprot_t prot);
void kernel_physical_mapping_remove(unsigned long start, unsigned long end);
void remove_pagetable(unsigned long start, unsigned long end, bool direct,
		      struct vmem_altmap *altmap);

int __meminit vmemmap_populate(unsigned long start, unsigned long end, int node,
			       struct vmem_altmap *altmap)
{
	if (end - start < PAGES_PER_SECTION * sizeof(struct page))
		return vmemmap_populate_basepages(start, end, node, NULL);
	return vmemmap_populate_basepages(start, end, node, altmap);
}

void __ref vmemmap_free(unsigned long start, unsigned long end, struct vmem_altmap *altmap)
{
	remove_pagetable(start, end, false, altmap);
}

static void update_end_of_memory_vars(u64 start, u64 size)
{
	unsigned long end_pfn = PFN_UP(start + size);

	if (end_pfn > max_pfn)
		max_pfn = end_pfn;
}

int add_pages(int nid, unsigned long start_pfn, unsigned long nr_pages,
	      struct mhp_params *params)
{
	int ret;

	ret = __add_pages(nid, start_pfn, nr_pages, params);
	WARN_ON_ONCE(ret);

	update_end_of_memory_vars(PFN_PHYS(start_pfn), nr_pages << PAGE_SHIFT);
	return ret;
}

int arch_add_memory(int nid, u64 start, u64 size, struct mhp_params *params)
{
	unsigned long start_pfn = PHYS_PFN(start);
	unsigned long nr_pages = PHYS_PFN(size);

	init_memory_mapping(start, start + size, params->pgprot);
	return add_pages(nid, start_pfn, nr_pages, params);
}

void __ref arch_remove_memory(u64 start, u64 size, struct vmem_altmap *altmap)
{
	unsigned long start_pfn = PHYS_PFN(start);
	unsigned long nr_pages = PHYS_PFN(size);

	__remove_pages(start_pfn, nr_pages, altmap);
	kernel_physical_mapping_remove(start, start + size);
}

void __init paging_init(void)
{
	unsigned long max_zone_pfns[MAX_NR_ZONES] = { 0 };

	sparse_init();
	max_zone_pfns[ZONE_DMA32] = min(boot_end_pfn, 1UL << (32 - PAGE_SHIFT));
	max_zone_pfns[ZONE_NORMAL] = boot_end_pfn;
	max_zone_pfns[ZONE_MOVABLE] = boot_end_pfn;
	max_low_pfn_mapped = boot_end_pfn;
	free_area_init(max_zone_pfns);
}

void __init mem_init(void)
{
	memblock_free_all();
	pr_info("x86/mm: %lu pfns mapped\n", max_low_pfn_mapped);
}
