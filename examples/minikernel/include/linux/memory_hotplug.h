/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_MEMORY_HOTPLUG_H
#define _LINUX_MEMORY_HOTPLUG_H

#include <linux/types.h>

struct page;
struct zone;
struct resource;
struct memory_group;
struct vmem_altmap;
struct dev_pagemap;

typedef struct {
	unsigned long pgprot;
} pgprot_t;

#define PAGE_KERNEL		((pgprot_t) { 0x163 })

/* How the memmap of a range is being initialised: at boot, or for hot-added memory. */
enum meminit_context {
	MEMINIT_EARLY,
	MEMINIT_HOTPLUG,
};

typedef int __bitwise mhp_t;

#define MHP_NONE		((mhp_t)0)
#define MHP_MERGE_RESOURCE	((mhp_t)(1 << 0))
/* Place the memmap of the range on the range itself, through a vmem_altmap. */
#define MHP_MEMMAP_ON_MEMORY	((mhp_t)(1 << 1))
#define MHP_NID_IS_MGID		((mhp_t)(1 << 2))

/* Parameters of arch_add_memory() and friends. */
struct mhp_params {
	struct vmem_altmap *altmap;
	pgprot_t pgprot;
	struct dev_pagemap *pgmap;
};

void mem_hotplug_begin(void);
void mem_hotplug_done(void);

struct page *pfn_to_online_page(unsigned long pfn);

int __add_pages(int nid, unsigned long start_pfn, unsigned long nr_pages,
		struct mhp_params *params);
void __remove_pages(unsigned long start_pfn, unsigned long nr_pages,
		    struct vmem_altmap *altmap);
int add_pages(int nid, unsigned long start_pfn, unsigned long nr_pages,
	      struct mhp_params *params);
int arch_add_memory(int nid, u64 start, u64 size, struct mhp_params *params);
void arch_remove_memory(u64 start, u64 size, struct vmem_altmap *altmap);

int sparse_add_section(int nid, unsigned long pfn, unsigned long nr_pages,
		       struct vmem_altmap *altmap, struct dev_pagemap *pgmap);
void sparse_remove_section(unsigned long pfn, unsigned long nr_pages,
			   struct vmem_altmap *altmap);

void move_pfn_range_to_zone(struct zone *zone, unsigned long start_pfn,
			    unsigned long nr_pages, struct vmem_altmap *altmap,
			    int migratetype);
void remove_pfn_range_from_zone(struct zone *zone, unsigned long start_pfn,
				unsigned long nr_pages);

int online_pages(unsigned long pfn, unsigned long nr_pages, struct zone *zone,
		 struct memory_group *group);
int offline_pages(unsigned long start_pfn, unsigned long nr_pages, struct zone *zone,
		  struct memory_group *group);
int mhp_init_memmap_on_memory(unsigned long pfn, unsigned long nr_pages, struct zone *zone);
void mhp_deinit_memmap_on_memory(unsigned long pfn, unsigned long nr_pages);
bool mhp_supports_memmap_on_memory(void);
void generic_online_page(struct page *page, unsigned int order);

int add_memory_resource(int nid, struct resource *resource, mhp_t mhp_flags);
int add_memory_driver_managed(int nid, u64 start, u64 size, const char *resource_name,
			      mhp_t mhp_flags);
int hotplug_fast_online(int nid, u64 start, u64 size);

#endif /* _LINUX_MEMORY_HOTPLUG_H */
