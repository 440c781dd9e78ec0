// SPDX-License-Identifier: GPL-2.0
/*
 * page_owner-style pfn walkers: count pages per zone for a debugfs file.  They run at any
 * time, concurrently with memory hotplug and with ZONE_DEVICE setup.
 */
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/memory_hotplug.h>

struct file;

/*
 * Count the pages of @zone that have a reference.  Only pfns whose memmap is initialised
 * can be trusted, and pfn_to_online_page() is what says so.
 */
static unsigned long count_referenced_pages(struct zone *zone)
{
	unsigned long pfn, end_pfn = zone_end_pfn(zone);
	unsigned long count = 0;

	for (pfn = zone->zone_start_pfn; pfn < end_pfn; pfn++) {
		struct page *page = pfn_to_online_page(pfn);

		if (!page)
			continue;
		if (page_zone(page) != zone)
			continue;
		if (page_count(page))
			count++;
	}
	return count;
}

/*
 * Walk the zone a pageblock at a time and count the blocks that really belong to it.
 */
static unsigned long count_zone_pageblocks(struct zone *zone)
{
	unsigned long pfn, end_pfn = zone_end_pfn(zone);
	unsigned long count = 0;

	for (pfn = zone->zone_start_pfn; pfn < end_pfn; pfn += pageblock_nr_pages) {
		struct page *page;

		if (!pfn_valid(pfn))
			continue;
		page = pfn_to_page(pfn);
		/* kmeminit demo: KMI003 pfn_valid() only says a memmap exists; a hot-added block's is uninitialised */
		if (page_zone(page) != zone)
			continue;
		count++;
	}
	return count;
}

ssize_t read_page_owner(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	struct pglist_data *pgdat = NODE_DATA(0);
	unsigned long refs = 0, blocks = 0;
	int i;

	(void)file;
	(void)buf;
	(void)count;
	if (*ppos)
		return 0;

	for (i = 0; i < MAX_NR_ZONES; i++) {
		struct zone *zone = &pgdat->node_zones[i];

		refs += count_referenced_pages(zone);
		blocks += count_zone_pageblocks(zone);
	}
	pr_info("page_owner: %lu referenced pages in %lu pageblocks\n", refs, blocks);
	*ppos += 1;
	return 0;
}
