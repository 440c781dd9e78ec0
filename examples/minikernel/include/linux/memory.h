/* SPDX-License-Identifier: GPL-2.0 */
/* Memory blocks: the sysfs-visible units (one or more sections) that are onlined as a whole. */
#ifndef _LINUX_MEMORY_H
#define _LINUX_MEMORY_H

#include <linux/types.h>

struct zone;
struct vmem_altmap;

#define MEM_ONLINE		(1 << 0)
#define MEM_GOING_OFFLINE	(1 << 1)
#define MEM_OFFLINE		(1 << 2)

struct memory_group {
	int nid;
	unsigned long max_pages;
};

struct memory_block {
	unsigned long start_section_nr;
	unsigned long state;
	int online_type;
	int nid;
	struct zone *zone;
	/*
	 * Standalone altmap of a memmap_on_memory block: allocated by the hotplug core,
	 * freed when the block is removed.  NULL for ordinary blocks.
	 */
	struct vmem_altmap *altmap;
	struct memory_group *group;
};

unsigned long memory_block_size_bytes(void);
struct memory_block *find_memory_block_by_id(unsigned long block_id);
int create_memory_block_devices(unsigned long start, unsigned long size,
				struct vmem_altmap *altmap, struct memory_group *group);
void remove_memory_block_devices(unsigned long start, unsigned long size);
int memory_block_change_state(struct memory_block *mem, unsigned long to_state);

/* Call @func for every memory block of [start, start + size) / of the system. */
typedef int (*walk_memory_blocks_func_t)(struct memory_block *, void *);
int walk_memory_blocks(unsigned long start, unsigned long size, void *arg,
		       walk_memory_blocks_func_t func);
int for_each_memory_block(void *arg, walk_memory_blocks_func_t func);

static inline unsigned long memory_block_id(unsigned long section_nr, unsigned long sections_per_block)
{
	return section_nr / sections_per_block;
}

#endif /* _LINUX_MEMORY_H */
