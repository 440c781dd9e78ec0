/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_SLAB_H
#define _LINUX_SLAB_H

#include <linux/types.h>
#include <linux/compiler.h>

#define __GFP_ZERO		((gfp_t)0x100u)
#define GFP_KERNEL		((gfp_t)0xcc0u)

void *kmalloc(size_t size, gfp_t flags) __malloc;
void *kmemdup(const void *src, size_t len, gfp_t gfp) __malloc;
void kfree(const void *objp);

static inline void *kzalloc(size_t size, gfp_t flags)
{
	return kmalloc(size, flags | __GFP_ZERO);
}

#endif /* _LINUX_SLAB_H */
