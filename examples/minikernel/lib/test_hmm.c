// SPDX-License-Identifier: GPL-2.0
/*
 * A test driver for device-private memory in the style of HMM mirror drivers: it creates
 * ZONE_DEVICE pages for fake device memory and keeps the free ones on a list.
 */
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/memremap.h>

#define DEVMEM_CHUNK_SIZE	(256UL * 1024 * 1024)

struct dmirror_device {
	struct dmirror_chunk **chunks;
	unsigned int nr_chunks;
	struct page *free_pages;
	unsigned long calloc;
	unsigned long cfree;
	u64 next_base;
};

struct dmirror_chunk {
	struct dmirror_device *mdevice;
	bool remove;
	struct dev_pagemap pagemap;	/* last: it ends in a flexible array */
};

static struct dmirror_device dmirror_devices[2];

static struct dmirror_chunk *dmirror_page_to_chunk(struct page *page)
{
	/* container_of on the pagemap, which really is embedded in the chunk: fine */
	return container_of(page->pgmap, struct dmirror_chunk, pagemap);
}

static struct dmirror_device *dmirror_page_to_device(struct page *page)
{
	return dmirror_page_to_chunk(page)->mdevice;
}

static void dmirror_devmem_free(struct page *page)
{
	struct dmirror_device *mdevice = dmirror_page_to_device(page);

	page->zone_device_data = mdevice->free_pages;
	mdevice->free_pages = page;
	mdevice->cfree++;
}

static vm_fault_t dmirror_devmem_fault(struct vm_fault *vmf)
{
	/* no device to migrate from in this test: report the access as bad */
	return vmf->page ? VM_FAULT_SIGBUS : VM_FAULT_OOM;
}

static const struct dev_pagemap_ops dmirror_devmem_ops = {
	.page_free	= dmirror_devmem_free,
	.migrate_to_ram	= dmirror_devmem_fault,
};

static int dmirror_allocate_chunk(struct dmirror_device *mdevice, struct page **ppage)
{
	struct dmirror_chunk *devmem;
	unsigned long pfn, pfn_first, pfn_last;
	void *ptr;
	int ret;

	devmem = kzalloc(sizeof(*devmem), GFP_KERNEL);
	if (!devmem)
		return -ENOMEM;

	devmem->pagemap.type = MEMORY_DEVICE_PRIVATE;
	devmem->pagemap.range.start = mdevice->next_base;
	devmem->pagemap.range.end = mdevice->next_base + DEVMEM_CHUNK_SIZE - 1;
	devmem->pagemap.nr_range = 1;
	devmem->pagemap.ops = &dmirror_devmem_ops;
	devmem->pagemap.owner = mdevice;
	devmem->mdevice = mdevice;

	ptr = memremap_pages(&devmem->pagemap, 0);
	if (IS_ERR(ptr)) {
		ret = PTR_ERR(ptr);
		goto err_free;
	}
	mdevice->next_base += DEVMEM_CHUNK_SIZE;

	pfn_first = PHYS_PFN(devmem->pagemap.range.start);
	pfn_last = pfn_first + PHYS_PFN(range_len(&devmem->pagemap.range));
	for (pfn = pfn_first; pfn < pfn_last; pfn++) {
		struct page *page = pfn_to_page(pfn);

		/* kmeminit demo: KMI006 non-atomic PG_reserved update on a page other CPUs can already see */
		__ClearPageReserved(page);
		page->zone_device_data = mdevice->free_pages;
		mdevice->free_pages = page;
	}
	mdevice->calloc += pfn_last - pfn_first;

	if (ppage) {
		*ppage = mdevice->free_pages;
		mdevice->free_pages = (*ppage)->zone_device_data;
		mdevice->calloc--;
	}
	return 0;

err_free:
	kfree(devmem);
	return ret;
}

static int __init hmm_dmirror_init(void)
{
	unsigned int id;
	int ret;

	for (id = 0; id < ARRAY_SIZE(dmirror_devices); id++) {
		dmirror_devices[id].next_base = (u64)(64 + id) << 32;
		ret = dmirror_allocate_chunk(&dmirror_devices[id], NULL);
		if (ret)
			return ret;
	}
	pr_info("HMM test module loaded\n");
	return 0;
}

module_init(hmm_dmirror_init);
