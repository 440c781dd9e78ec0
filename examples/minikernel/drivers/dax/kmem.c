// SPDX-License-Identifier: GPL-2.0
/*
 * dax kmem: hand a device-dax range (say, a CXL or pmem region) to the page allocator as
 * ordinary, hot-added System RAM.
 */
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/range.h>
#include <linux/memory_hotplug.h>

struct dev_dax {
	int target_node;
	int nr_range;
	bool online_early;		/* online at probe time, without waiting for udev */
	struct range ranges[4];
};

struct dax_device_driver {
	const char *name;
	int (*probe)(struct dev_dax *dev_dax);
	void (*remove)(struct dev_dax *dev_dax);
};

int dax_driver_register(struct dax_device_driver *dax_drv);
void dax_driver_unregister(struct dax_device_driver *dax_drv);

static bool memmap_on_memory;

static int dev_dax_kmem_probe(struct dev_dax *dev_dax)
{
	mhp_t mhp_flags = MHP_NID_IS_MGID;
	int i, rc = 0;

	if (memmap_on_memory)
		mhp_flags |= MHP_MEMMAP_ON_MEMORY;

	for (i = 0; i < dev_dax->nr_range; i++) {
		struct range *range = &dev_dax->ranges[i];

		if (dev_dax->online_early)
			rc = hotplug_fast_online(dev_dax->target_node, range->start,
						 range_len(range));
		else
			rc = add_memory_driver_managed(dev_dax->target_node, range->start,
						       range_len(range), "System RAM (kmem)",
						       mhp_flags);
		if (rc) {
			pr_warn("kmem: range %d: add failed: %d\n", i, rc);
			break;
		}
	}
	return rc;
}

static void dev_dax_kmem_remove(struct dev_dax *dev_dax)
{
	pr_warn("kmem: %d ranges stay online until reboot\n", dev_dax->nr_range);
}

static struct dax_device_driver device_dax_kmem_driver = {
	.name = "kmem",
	.probe = dev_dax_kmem_probe,
	.remove = dev_dax_kmem_remove,
};

static int __init dax_kmem_init(void)
{
	return dax_driver_register(&device_dax_kmem_driver);
}

static void __exit dax_kmem_exit(void)
{
	dax_driver_unregister(&device_dax_kmem_driver);
}

module_init(dax_kmem_init);
module_exit(dax_kmem_exit);
