// SPDX-License-Identifier: GPL-2.0
/*
 * Memory block devices: the units userspace onlines and offlines through
 * /sys/devices/system/memory/memoryN/state.
 */
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/memory.h>
#include <linux/memremap.h>
#include <linux/memory_hotplug.h>

#define MIN_MEMORY_BLOCK_SIZE	(1UL << SECTION_SIZE_BITS)
#define MAX_MEMORY_BLOCKS	1024

static struct memory_block *memory_blocks[MAX_MEMORY_BLOCKS];

unsigned long memory_block_size_bytes(void)
{
	return MIN_MEMORY_BLOCK_SIZE;
}

static unsigned long phys_to_block_id(unsigned long phys)
{
	return pfn_to_section_nr(PHYS_PFN(phys));
}

struct memory_block *find_memory_block_by_id(unsigned long block_id)
{
	if (block_id >= MAX_MEMORY_BLOCKS)
		return NULL;
	return memory_blocks[block_id];
}

static int init_memory_block(unsigned long block_id, unsigned long state,
			     struct vmem_altmap *altmap, struct memory_group *group)
{
	struct memory_block *mem;

	if (block_id >= MAX_MEMORY_BLOCKS)
		return -EINVAL;
	if (memory_blocks[block_id])
		return -EEXIST;

	mem = kzalloc(sizeof(*mem), GFP_KERNEL);
	if (!mem)
		return -ENOMEM;

	mem->start_section_nr = block_id;
	mem->state = state;
	mem->nid = group ? group->nid : 0;
	mem->altmap = altmap;
	mem->group = group;
	memory_blocks[block_id] = mem;
	return 0;
}

static void remove_memory_block(struct memory_block *mem)
{
	memory_blocks[mem->start_section_nr] = NULL;
	kfree(mem);
}

int create_memory_block_devices(unsigned long start, unsigned long size,
				struct vmem_altmap *altmap, struct memory_group *group)
{
	const unsigned long start_block_id = phys_to_block_id(start);
	const unsigned long end_block_id = phys_to_block_id(start + size);
	unsigned long block_id;
	int ret = 0;

	for (block_id = start_block_id; block_id != end_block_id; block_id++) {
		ret = init_memory_block(block_id, MEM_OFFLINE, altmap, group);
		if (ret)
			break;
	}
	if (ret) {
		while (block_id-- > start_block_id)
			remove_memory_block(memory_blocks[block_id]);
	}
	return ret;
}

void remove_memory_block_devices(unsigned long start, unsigned long size)
{
	unsigned long block_id;

	for (block_id = phys_to_block_id(start); block_id != phys_to_block_id(start + size);
	     block_id++) {
		struct memory_block *mem = find_memory_block_by_id(block_id);

		if (mem)
			remove_memory_block(mem);
	}
}

static int memory_block_online(struct memory_block *mem)
{
	unsigned long start_pfn = section_nr_to_pfn(mem->start_section_nr);
	unsigned long nr_pages = PHYS_PFN(memory_block_size_bytes());
	unsigned long nr_vmemmap_pages = 0;
	struct zone *zone = &NODE_DATA(mem->nid)->node_zones[ZONE_MOVABLE];
	int ret;

	if (mem->altmap)
		nr_vmemmap_pages = mem->altmap->free;

	mem_hotplug_begin();
	if (nr_vmemmap_pages) {
		ret = mhp_init_memmap_on_memory(start_pfn, nr_vmemmap_pages, zone);
		if (ret)
			goto out;
	}

	ret = online_pages(start_pfn + nr_vmemmap_pages, nr_pages - nr_vmemmap_pages, zone,
			   mem->group);
	if (ret) {
		if (nr_vmemmap_pages)
			mhp_deinit_memmap_on_memory(start_pfn, nr_vmemmap_pages);
		goto out;
	}
	mem->zone = zone;
out:
	mem_hotplug_done();
	return ret;
}

static int memory_block_offline(struct memory_block *mem)
{
	unsigned long start_pfn = section_nr_to_pfn(mem->start_section_nr);
	unsigned long nr_pages = PHYS_PFN(memory_block_size_bytes());
	unsigned long nr_vmemmap_pages = 0;
	int ret;

	if (!mem->zone)
		return -EINVAL;
	if (mem->altmap)
		nr_vmemmap_pages = mem->altmap->free;

	mem_hotplug_begin();
	ret = offline_pages(start_pfn + nr_vmemmap_pages, nr_pages - nr_vmemmap_pages,
			    mem->zone, mem->group);
	if (!ret && nr_vmemmap_pages)
		mhp_deinit_memmap_on_memory(start_pfn, nr_vmemmap_pages);
	if (!ret)
		mem->zone = NULL;
	mem_hotplug_done();
	return ret;
}

/* What a write to the block's sysfs "state" file ends up in. */
int memory_block_change_state(struct memory_block *mem, unsigned long to_state)
{
	int ret;

	if (mem->state == to_state)
		return 0;

	if (to_state == MEM_ONLINE)
		ret = memory_block_online(mem);
	else if (to_state == MEM_OFFLINE)
		ret = memory_block_offline(mem);
	else
		ret = -EINVAL;

	if (!ret)
		mem->state = to_state;
	return ret;
}
