// SPDX-License-Identifier: GPL-2.0
/*
 * Compaction-style zone scanners.  Both look at pageblocks of a zone while memory may be
 * hot-added or removed next to them, so every pfn goes through pfn_to_online_page().
 */
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/memory_hotplug.h>

/*
 * Return the first page of the pageblock [start_pfn, end_pfn) if the whole block is in
 * @zone, NULL otherwise.
 */
static struct page *pageblock_pfn_to_page(unsigned long start_pfn, unsigned long end_pfn,
					  struct zone *zone)
{
	struct page *start_page, *end_page;

	start_page = pfn_to_online_page(start_pfn);
	if (!start_page)
		return NULL;
	if (page_zone(start_page) != zone)
		return NULL;

	end_page = pfn_to_online_page(end_pfn - 1);
	if (!end_page || page_zone(end_page) != zone)
		return NULL;
	return start_page;
}

/* Is the zone free of holes?  Compaction takes shortcuts when it is. */
void set_zone_contiguous(struct zone *zone)
{
	unsigned long block_start_pfn = zone->zone_start_pfn;
	unsigned long block_end_pfn = ALIGN(block_start_pfn + 1, pageblock_nr_pages);

	for (; block_start_pfn < zone_end_pfn(zone);
	     block_start_pfn = block_end_pfn, block_end_pfn += pageblock_nr_pages) {
		block_end_pfn = min(block_end_pfn, zone_end_pfn(zone));
		if (!pageblock_pfn_to_page(block_start_pfn, block_end_pfn, zone))
			return;
		cond_resched();
	}
	zone->contiguous = true;
}

/* Count pages the migration scanner could isolate in one pageblock. */
unsigned long isolate_migratepages_block(struct zone *zone, unsigned long low_pfn,
					 unsigned long end_pfn)
{
	unsigned long nr_isolated = 0;

	for (; low_pfn < end_pfn; low_pfn++) {
		struct page *page = pfn_to_online_page(low_pfn);
		struct folio *folio;

		if (!page || page_zone(page) != zone)
			continue;
		folio = page_folio(page);
		if (folio_test_reserved(folio))
			continue;
		if (folio_test_lru(folio) && page_count(page))
			nr_isolated++;
	}
	return nr_isolated;
}
