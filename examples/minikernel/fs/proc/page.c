// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/kpagecount and /proc/kpageflags: one 64-bit word per pfn.  (The copy to user
 * space is left out; the readers fill a kernel buffer.)
 */
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/memory_hotplug.h>

#define KPF_LOCKED		0
#define KPF_LRU			5
#define KPF_RESERVED		32
#define KPF_OFFLINE		23
#define KPMSIZE			sizeof(u64)

struct file;

/* kpagecount: reference count per pfn, 0 for holes and uninitialised memmap. */
static ssize_t kpagecount_read(struct file *file, u64 *out, size_t count, loff_t *ppos)
{
	unsigned long pfn = *ppos / KPMSIZE;
	size_t i, nr = count / KPMSIZE;

	(void)file;
	for (i = 0; i < nr && pfn < max_pfn; i++, pfn++) {
		struct page *page = pfn_to_online_page(pfn);

		out[i] = page ? page_count(page) : 0;
	}
	*ppos += i * KPMSIZE;
	return i * KPMSIZE;
}

/* kpageflags: a stable encoding of the page flags per pfn. */
static ssize_t kpageflags_read(struct file *file, u64 *out, size_t count, loff_t *ppos)
{
	unsigned long pfn = *ppos / KPMSIZE;
	size_t i, nr = count / KPMSIZE;

	(void)file;
	for (i = 0; i < nr && pfn < max_pfn; i++, pfn++) {
		u64 kflags = 0;

		if (pfn_valid(pfn)) {
			struct page *page = pfn_to_page(pfn);

			/* kmeminit demo: KMI003 a ZONE_DEVICE or hot-added pfn is valid before its memmap is written */
			if (PageReserved(page))
				kflags |= 1ULL << KPF_RESERVED;
		}
		out[i] = kflags;
	}
	*ppos += i * KPMSIZE;
	return i * KPMSIZE;
}

struct proc_ops {
	ssize_t (*proc_read)(struct file *file, u64 *out, size_t count, loff_t *ppos);
};

static const struct proc_ops kpagecount_proc_ops = {
	.proc_read	= kpagecount_read,
};

static const struct proc_ops kpageflags_proc_ops = {
	.proc_read	= kpageflags_read,
};

int proc_create(const char *name, const struct proc_ops *ops);

static int __init proc_page_init(void)
{
	proc_create("kpagecount", &kpagecount_proc_ops);
	proc_create("kpageflags", &kpageflags_proc_ops);
	return 0;
}
module_init(proc_page_init);
