// SPDX-License-Identifier: GPL-2.0
/*
 * ZONE_DEVICE: struct pages for device memory (persistent memory, device-private memory
 * of a GPU...), set up through the hotplug core but never onlined.
 */
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/memremap.h>
#include <linux/memory_hotplug.h>
#include "internal.h"

#define MAX_PGMAPS	64

/* Which pagemap owns a pfn, for get_dev_pagemap()-style lookups. */
static struct dev_pagemap *pgmap_of_range[MAX_PGMAPS];

static int pgmap_register_range(struct dev_pagemap *pgmap, int range_id)
{
	if (range_id >= MAX_PGMAPS || pgmap_of_range[range_id])
		return -EBUSY;
	pgmap_of_range[range_id] = pgmap;
	return 0;
}

static void pgmap_unregister_range(int range_id)
{
	pgmap_of_range[range_id] = NULL;
}

/* pfns at the start of the first range taken by the driver's reserve and by the memmap */
/* kmeminit demo: KMI004 altmap is only ever &pgmap->altmap or NULL: pass the pgmap */
static unsigned long pgmap_memmap_pfns(struct vmem_altmap *altmap)
{
	struct dev_pagemap *pgmap;

	if (!altmap)
		return 0;
	pgmap = container_of(altmap, struct dev_pagemap, altmap);
	return pgmap->altmap.reserve + pgmap->altmap.free;
}

static unsigned long pfn_first(struct dev_pagemap *pgmap, int range_id)
{
	struct range *range = &pgmap->ranges[range_id];
	unsigned long pfn = PHYS_PFN(range->start);

	if (range_id)
		return pfn;
	return pfn + pgmap_memmap_pfns(pgmap_altmap(pgmap));
}

static unsigned long pfn_len(struct dev_pagemap *pgmap, int range_id)
{
	struct range *range = &pgmap->ranges[range_id];

	return PHYS_PFN(range->end + 1) - pfn_first(pgmap, range_id);
}

static void pageunmap_range(struct dev_pagemap *pgmap, int range_id)
{
	struct range *range = &pgmap->ranges[range_id];
	struct page *first_page = pfn_to_page(pfn_first(pgmap, range_id));

	mem_hotplug_begin();
	remove_pfn_range_from_zone(page_zone(first_page), PHYS_PFN(range->start),
				   PHYS_PFN(range_len(range)));
	if (pgmap->type == MEMORY_DEVICE_PRIVATE)
		__remove_pages(PHYS_PFN(range->start), PHYS_PFN(range_len(range)), NULL);
	else
		arch_remove_memory(range->start, range_len(range), pgmap_altmap(pgmap));
	mem_hotplug_done();
	pgmap_unregister_range(range_id);
}

void memunmap_pages(struct dev_pagemap *pgmap)
{
	int i;

	for (i = 0; i < pgmap->nr_range; i++)
		percpu_ref_put_many(&pgmap->ref, pfn_len(pgmap, i));
	for (i = 0; i < pgmap->nr_range; i++)
		pageunmap_range(pgmap, i);
}

/*
 * Add one range of a pagemap.  The range is added (pfn_valid() becomes true) under the
 * hotplug lock; its memmap is initialised after the lock is dropped, by
 * memmap_init_zone_device(), so that large pmem ranges do not hold the lock for seconds.
 */
static int pagemap_range(struct dev_pagemap *pgmap, struct mhp_params *params,
			 int range_id, int nid)
{
	const bool is_private = pgmap->type == MEMORY_DEVICE_PRIVATE;
	struct range *range = &pgmap->ranges[range_id];
	struct zone *zone;
	int error;

	if (WARN_ON_ONCE(range_len(range) == 0))
		return -EINVAL;

	error = pgmap_register_range(pgmap, range_id);
	if (error)
		return error;

	if (nid < 0)
		nid = 0;

	mem_hotplug_begin();

	if (is_private) {
		/* No linear mapping for memory the CPU cannot reach. */
		/* kmeminit demo: KMI002 pfn_valid() turns true here (and in arch_add_memory() below); the memmap is written only after mem_hotplug_done() */
		error = add_pages(nid, PHYS_PFN(range->start), PHYS_PFN(range_len(range)),
				  params);
	} else {
		error = arch_add_memory(nid, range->start, range_len(range), params);
	}

	if (!error) {
		zone = &NODE_DATA(nid)->node_zones[ZONE_DEVICE];
		move_pfn_range_to_zone(zone, PHYS_PFN(range->start), PHYS_PFN(range_len(range)),
				       params->altmap, MIGRATE_MOVABLE);
	}

	mem_hotplug_done();
	if (error)
		goto err_add_memory;

	memmap_init_zone_device(&NODE_DATA(nid)->node_zones[ZONE_DEVICE],
				PHYS_PFN(range->start), PHYS_PFN(range_len(range)), pgmap);
	percpu_ref_get_many(&pgmap->ref, pfn_len(pgmap, range_id));
	return 0;

err_add_memory:
	pgmap_unregister_range(range_id);
	return error;
}

/*
 * memremap_pages - create struct pages for a device's memory
 * @pgmap: describes the ranges, type and (optionally) the altmap that holds the memmap
 * @nid: preferred node
 */
void *memremap_pages(struct dev_pagemap *pgmap, int nid)
{
	struct mhp_params params = {
		.altmap = pgmap_altmap(pgmap),
		.pgmap = pgmap,
		.pgprot = PAGE_KERNEL,
	};
	const int nr_range = pgmap->nr_range;
	int error, i;

	if (WARN_ON_ONCE(nr_range < 1))
		return ERR_PTR(-EINVAL);

	switch (pgmap->type) {
	case MEMORY_DEVICE_PRIVATE:
		if (!pgmap->ops || !pgmap->ops->migrate_to_ram || !pgmap->ops->page_free) {
			pr_warn("%s: missing migrate_to_ram or page_free\n", __func__);
			return ERR_PTR(-EINVAL);
		}
		if (!pgmap->owner) {
			pr_warn("%s: missing owner\n", __func__);
			return ERR_PTR(-EINVAL);
		}
		break;
	case MEMORY_DEVICE_COHERENT:
	case MEMORY_DEVICE_FS_DAX:
	case MEMORY_DEVICE_GENERIC:
	case MEMORY_DEVICE_PCI_P2PDMA:
		break;
	default:
		WARN_ON_ONCE(1);
		return ERR_PTR(-EINVAL);
	}

	/* the memmap must fit in the first range, after the driver's reserve */
	if ((pgmap->flags & PGMAP_ALTMAP_VALID) &&
	    pgmap_memmap_pfns(&pgmap->altmap) >= PHYS_PFN(range_len(&pgmap->ranges[0])))
		return ERR_PTR(-ENOSPC);

	pgmap->nr_range = 0;
	error = 0;
	for (i = 0; i < nr_range; i++) {
		error = pagemap_range(pgmap, &params, i, nid);
		if (error)
			break;
		pgmap->nr_range++;
	}

	if (i < nr_range) {
		memunmap_pages(pgmap);
		pgmap->nr_range = nr_range;
		return ERR_PTR(error);
	}

	return __va(pgmap->ranges[0].start);
}

/* The last reference to a device page went away: give it back to its driver. */
void free_zone_device_page(struct page *page)
{
	struct dev_pagemap *pgmap = page->pgmap;

	if (WARN_ON_ONCE(!pgmap->ops || !pgmap->ops->page_free))
		return;

	page->mapping = NULL;
	pgmap->ops->page_free(page);

	if (pgmap->type != MEMORY_DEVICE_PRIVATE && pgmap->type != MEMORY_DEVICE_COHERENT)
		set_page_count(page, 1);
	else
		percpu_ref_put_many(&pgmap->ref, 1);
}
