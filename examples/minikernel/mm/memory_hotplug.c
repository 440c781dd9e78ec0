// SPDX-License-Identifier: GPL-2.0
/*
 * Memory hotplug: adding a range (memmap allocated, sections valid), onlining it (memmap
 * initialised, pages to the allocator, sections online) and the reverse.
 */
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/ioport.h>
#include <linux/slab.h>
#include <linux/memory.h>
#include <linux/memremap.h>
#include <linux/memory_hotplug.h>
#include "internal.h"

static atomic_t mem_hotplug_writers;
static bool memmap_on_memory = true;

/* Stand-in for the percpu rwsem that keeps pfn walkers and hotplug apart. */
void mem_hotplug_begin(void)
{
	atomic_inc(&mem_hotplug_writers);
}

void mem_hotplug_done(void)
{
	atomic_dec_and_test(&mem_hotplug_writers);
}

/*
 * pfn_to_online_page - the struct page of @pfn, if its memmap is initialised
 *
 * The one safe way for a pfn walker to get from a pfn to a page it may read.  ZONE_DEVICE
 * pfns give NULL: their memmap is initialised on the pagemap's own schedule.
 */
struct page *pfn_to_online_page(unsigned long pfn)
{
	unsigned long section_nr = pfn_to_section_nr(pfn);
	struct mem_section *ms;

	if (section_nr >= NR_MEM_SECTIONS)
		return NULL;
	ms = __nr_to_section(section_nr);
	if (!online_section(ms))
		return NULL;
	if (online_device_section(ms))
		return NULL;
	return pfn_to_page(pfn);
}

static int check_pfn_span(unsigned long pfn, unsigned long nr_pages)
{
	if (!IS_ALIGNED(pfn | nr_pages, PAGES_PER_SECTION))
		return -EINVAL;
	return 0;
}

/* Give every section of the range a memmap.  The memmap stays uninitialised. */
int __ref __add_pages(int nid, unsigned long pfn, unsigned long nr_pages,
		      struct mhp_params *params)
{
	const unsigned long end_pfn = pfn + nr_pages;
	struct vmem_altmap *altmap = params->altmap;
	unsigned long cur_nr_pages;
	int err;

	if (WARN_ON_ONCE(!params->pgprot.pgprot))
		return -EINVAL;

	if (altmap) {
		/* the altmap must describe exactly the start of this range */
		if (altmap->base_pfn != pfn || vmem_altmap_offset(altmap) > nr_pages) {
			pr_warn("%s: bad altmap for pfn %lx\n", __func__, pfn);
			return -EINVAL;
		}
		altmap->alloc = 0;
	}

	if (check_pfn_span(pfn, nr_pages))
		return -EINVAL;

	for (; pfn < end_pfn; pfn += cur_nr_pages) {
		cur_nr_pages = min(end_pfn - pfn, SECTION_ALIGN_UP(pfn + 1) - pfn);
		err = sparse_add_section(nid, pfn, cur_nr_pages, altmap, params->pgmap);
		if (err)
			return err;
		cond_resched();
	}
	return 0;
}

void __remove_pages(unsigned long pfn, unsigned long nr_pages, struct vmem_altmap *altmap)
{
	const unsigned long end_pfn = pfn + nr_pages;
	unsigned long cur_nr_pages;

	for (; pfn < end_pfn; pfn += cur_nr_pages) {
		cur_nr_pages = min(end_pfn - pfn, SECTION_ALIGN_UP(pfn + 1) - pfn);
		sparse_remove_section(pfn, cur_nr_pages, altmap);
	}
}

static void resize_zone_range(struct zone *zone, unsigned long start_pfn,
			      unsigned long nr_pages)
{
	unsigned long old_end_pfn = zone_end_pfn(zone);

	if (zone_is_empty(zone) || start_pfn < zone->zone_start_pfn)
		zone->zone_start_pfn = start_pfn;
	zone->spanned_pages = max(start_pfn + nr_pages, old_end_pfn) - zone->zone_start_pfn;
}

/*
 * Associate the pfn range with @zone and initialise its memmap.  Pages come out
 * PG_reserved; online_pages() releases them.
 * kmeminit demo: KMI004 @altmap is only ever NULL (online_pages) or a pgmap's altmap */
void __ref move_pfn_range_to_zone(struct zone *zone, unsigned long start_pfn,
				  unsigned long nr_pages, struct vmem_altmap *altmap,
				  int migratetype)
{
	int nid = zone->zone_pgdat->node_id;

	resize_zone_range(zone, start_pfn, nr_pages);
	memmap_init_range(nr_pages, nid, zone_idx(zone), start_pfn, 0,
			  MEMINIT_HOTPLUG, altmap, migratetype);
}

void remove_pfn_range_from_zone(struct zone *zone, unsigned long start_pfn,
				unsigned long nr_pages)
{
	if (start_pfn == zone->zone_start_pfn) {
		zone->zone_start_pfn += nr_pages;
		zone->spanned_pages -= nr_pages;
	} else if (start_pfn + nr_pages == zone_end_pfn(zone)) {
		zone->spanned_pages -= nr_pages;
	}
}

void generic_online_page(struct page *page, unsigned int order)
{
	__free_pages_core(page, order, MEMINIT_HOTPLUG);
}

static void online_pages_range(unsigned long start_pfn, unsigned long nr_pages)
{
	const unsigned long end_pfn = start_pfn + nr_pages;
	unsigned long pfn = start_pfn;

	while (pfn < end_pfn) {
		unsigned int order = MAX_PAGE_ORDER;

		while (order && (!IS_ALIGNED(pfn, 1UL << order) || pfn + (1UL << order) > end_pfn))
			order--;
		generic_online_page(pfn_to_page(pfn), order);
		pfn += 1UL << order;
	}
}

/*
 * online_pages - make a hot-added range usable
 *
 * Order matters: the memmap is initialised by move_pfn_range_to_zone() first, and only
 * then are the sections marked online for pfn_to_online_page() users.
 */
int __ref online_pages(unsigned long pfn, unsigned long nr_pages, struct zone *zone,
		       struct memory_group *group)
{
	if (WARN_ON_ONCE(!nr_pages || !pageblock_aligned(pfn) ||
			 !IS_ALIGNED(pfn + nr_pages, PAGES_PER_SECTION)))
		return -EINVAL;

	move_pfn_range_to_zone(zone, pfn, nr_pages, NULL, MIGRATE_ISOLATE);
	zone->present_pages += nr_pages;
	if (group)
		group->max_pages += nr_pages;

	online_pages_range(pfn, nr_pages);
	online_mem_sections(pfn, pfn + nr_pages);
	return 0;
}

int offline_pages(unsigned long start_pfn, unsigned long nr_pages, struct zone *zone,
		  struct memory_group *group)
{
	const unsigned long end_pfn = start_pfn + nr_pages;
	unsigned long pfn;

	/* hide the range from walkers before its pages are torn down */
	offline_mem_sections(start_pfn, end_pfn);
	for (pfn = start_pfn; pfn < end_pfn; pfn++) {
		struct page *page = pfn_to_page(pfn);

		__SetPageOffline(page);
	}
	adjust_managed_page_count(pfn_to_page(start_pfn), -(long)nr_pages);
	zone->present_pages -= nr_pages;
	if (group)
		group->max_pages -= nr_pages;
	remove_pfn_range_from_zone(zone, start_pfn, nr_pages);
	return 0;
}

/* The memmap of a memmap_on_memory block lives in the block: initialise those pages. */
int mhp_init_memmap_on_memory(unsigned long pfn, unsigned long nr_pages, struct zone *zone)
{
	unsigned long end_pfn = pfn + nr_pages;

	move_pfn_range_to_zone(zone, pfn, nr_pages, NULL, MIGRATE_UNMOVABLE);
	if (nr_pages >= PAGES_PER_SECTION)
		online_mem_sections(pfn, ALIGN_DOWN(end_pfn, PAGES_PER_SECTION));
	return 0;
}

void mhp_deinit_memmap_on_memory(unsigned long pfn, unsigned long nr_pages)
{
	unsigned long end_pfn = pfn + nr_pages;
	struct zone *zone = page_zone(pfn_to_page(pfn));

	if (nr_pages >= PAGES_PER_SECTION)
		offline_mem_sections(pfn, ALIGN_DOWN(end_pfn, PAGES_PER_SECTION));
	remove_pfn_range_from_zone(zone, pfn, nr_pages);
}

bool mhp_supports_memmap_on_memory(void)
{
	unsigned long vmemmap_size = memory_block_size_bytes() / PAGE_SIZE * sizeof(struct page);

	return memmap_on_memory && IS_ALIGNED(vmemmap_size, PAGE_SIZE);
}

static unsigned long memory_block_memmap_on_memory_pages(void)
{
	unsigned long nr_pages = PFN_UP(memory_block_size_bytes() / PAGE_SIZE *
					sizeof(struct page));

	return ALIGN(nr_pages, pageblock_nr_pages);
}

static void remove_memory_blocks_and_altmaps(u64 start, u64 size)
{
	unsigned long memblock_size = memory_block_size_bytes();
	u64 cur_start;

	for (cur_start = start; cur_start < start + size; cur_start += memblock_size) {
		struct memory_block *mem;
		struct vmem_altmap *altmap;

		mem = find_memory_block_by_id(pfn_to_section_nr(PHYS_PFN(cur_start)));
		if (WARN_ON_ONCE(!mem))
			continue;
		altmap = mem->altmap;
		mem->altmap = NULL;
		remove_memory_block_devices(cur_start, memblock_size);
		arch_remove_memory(cur_start, memblock_size, altmap);
		kfree(altmap);
	}
}

/*
 * memmap_on_memory: each memory block carries its own memmap at its start, described by
 * a standalone altmap that the block keeps until it is removed.
 */
static int create_altmaps_and_memory_blocks(int nid, struct memory_group *group,
					    u64 start, u64 size)
{
	unsigned long memblock_size = memory_block_size_bytes();
	u64 cur_start;
	int ret;

	for (cur_start = start; cur_start < start + size; cur_start += memblock_size) {
		struct mhp_params params = { .pgprot = PAGE_KERNEL };
		struct vmem_altmap mhp_altmap = {
			.base_pfn = PHYS_PFN(cur_start),
			.end_pfn = PHYS_PFN(cur_start + memblock_size - 1),
			.free = memory_block_memmap_on_memory_pages(),
		};

		params.altmap = kmemdup(&mhp_altmap, sizeof(struct vmem_altmap), GFP_KERNEL);
		if (!params.altmap) {
			ret = -ENOMEM;
			goto out;
		}

		ret = arch_add_memory(nid, cur_start, memblock_size, &params);
		if (ret < 0) {
			kfree(params.altmap);
			goto out;
		}

		ret = create_memory_block_devices(cur_start, memblock_size, params.altmap, group);
		if (ret) {
			arch_remove_memory(cur_start, memblock_size, params.altmap);
			kfree(params.altmap);
			goto out;
		}
	}
	return 0;
out:
	if (cur_start != start)
		remove_memory_blocks_and_altmaps(start, cur_start - start);
	return ret;
}

/*
 * add_memory_resource - hot-add a physical range
 *
 * Afterwards the range has a memmap and pfn_valid() is true for it; it is still offline
 * and its memmap uninitialised until memory_block_online() runs online_pages().
 */
int __ref add_memory_resource(int nid, struct resource *res, mhp_t mhp_flags)
{
	struct mhp_params params = { .pgprot = PAGE_KERNEL };
	struct memory_group *group = NULL;
	u64 start = res->start, size = resource_size(res);
	int ret;

	if (check_pfn_span(PHYS_PFN(start), PHYS_PFN(size)))
		return -EINVAL;

	mem_hotplug_begin();

	if ((mhp_flags & MHP_MEMMAP_ON_MEMORY) && mhp_supports_memmap_on_memory()) {
		ret = create_altmaps_and_memory_blocks(nid, group, start, size);
		if (ret)
			goto error;
	} else {
		ret = arch_add_memory(nid, start, size, &params);
		if (ret < 0)
			goto error;

		ret = create_memory_block_devices(start, size, NULL, group);
		if (ret)
			goto error_remove;
	}

	mem_hotplug_done();
	return 0;

error_remove:
	arch_remove_memory(start, size, params.altmap);
error:
	mem_hotplug_done();
	return ret;
}

static struct resource hotplug_resources[16];
static unsigned int nr_hotplug_resources;

int add_memory_driver_managed(int nid, u64 start, u64 size, const char *resource_name,
			      mhp_t mhp_flags)
{
	struct resource *res;
	int rc;

	if (!resource_name || nr_hotplug_resources >= ARRAY_SIZE(hotplug_resources))
		return -EINVAL;

	res = &hotplug_resources[nr_hotplug_resources];
	res->start = start;
	res->end = start + size - 1;
	res->name = resource_name;
	res->flags = IORESOURCE_SYSRAM | IORESOURCE_SYSRAM_DRIVER_MANAGED;

	rc = add_memory_resource(nid, res, mhp_flags);
	if (!rc)
		nr_hotplug_resources++;
	return rc;
}

/*
 * hotplug_fast_online - add and online a driver's range in one go, skipping the memory
 * block state machine (for ranges the driver wants usable before userspace runs).
 */
int hotplug_fast_online(int nid, u64 start, u64 size)
{
	struct zone *zone = &NODE_DATA(nid)->node_zones[ZONE_MOVABLE];
	unsigned long pfn = PHYS_PFN(start), nr_pages = PHYS_PFN(size);
	int rc;

	rc = add_memory_driver_managed(nid, start, size, "System RAM (fast)", MHP_NONE);
	if (rc)
		return rc;

	mem_hotplug_begin();
	/* kmeminit demo: KMI001 sections go online before move_pfn_range_to_zone() wrote the memmap */
	online_mem_sections(pfn, pfn + nr_pages);
	move_pfn_range_to_zone(zone, pfn, nr_pages, NULL, MIGRATE_MOVABLE);
	online_pages_range(pfn, nr_pages);
	zone->present_pages += nr_pages;
	mem_hotplug_done();
	return 0;
}
