/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_MM_TYPES_H
#define _LINUX_MM_TYPES_H

#include <linux/types.h>

struct dev_pagemap;
struct address_space;

typedef unsigned int __bitwise vm_fault_t;

#define VM_FAULT_OOM		((vm_fault_t)0x000001)
#define VM_FAULT_SIGBUS		((vm_fault_t)0x000002)

/*
 * One struct page per page frame, kept in the memmap.  Until the memmap of a range has been
 * initialised these words hold whatever the allocator left (or a poison pattern): flags,
 * zone/node links and the refcount all mean nothing yet.
 */
struct page {
	unsigned long flags;		/* PG_* bits, zone and node links */
	union {
		struct {			/* page cache, anonymous and buddy pages */
			struct list_head lru;
			struct address_space *mapping;
			unsigned long index;
			unsigned long private;
		};
		struct {			/* tail pages of compound pages */
			unsigned long compound_head;	/* bit 0 set: head pointer */
		};
		struct {			/* ZONE_DEVICE pages */
			void *_pgmap_pad;
			struct dev_pagemap *pgmap;
			void *zone_device_data;
		};
	};
	atomic_t _mapcount;
	atomic_t _refcount;
};

/* A folio is a head page seen as a whole; it overlays struct page word for word. */
struct folio {
	union {
		struct {
			unsigned long flags;
			struct list_head lru;
			struct address_space *mapping;
			unsigned long index;
			void *private;
			atomic_t _mapcount;
			atomic_t _refcount;
		};
		struct page page;
	};
};

struct vm_area_struct;

struct vm_fault {
	struct vm_area_struct *vma;
	unsigned long address;
	struct page *page;
};

#endif /* _LINUX_MM_TYPES_H */
