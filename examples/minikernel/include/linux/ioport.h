/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_IOPORT_H
#define _LINUX_IOPORT_H

#include <linux/types.h>

struct resource {
	resource_size_t start;
	resource_size_t end;
	const char *name;
	unsigned long flags;
};

#define IORESOURCE_MEM			0x00000200
#define IORESOURCE_SYSRAM		0x01000000
#define IORESOURCE_SYSRAM_DRIVER_MANAGED 0x02000000

static inline resource_size_t resource_size(const struct resource *res)
{
	return res->end - res->start + 1;
}

/* Call @func for every System RAM range in [start_pfn, start_pfn + nr_pages). */
int walk_system_ram_range(unsigned long start_pfn, unsigned long nr_pages, void *arg,
			  int (*func)(unsigned long, unsigned long, void *));

#endif /* _LINUX_IOPORT_H */
