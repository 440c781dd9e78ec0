/* SPDX-License-Identifier: GPL-2.0 */
/* A reference count without the per-cpu fast path: enough for the pagemap lifetime. */
#ifndef _LINUX_PERCPU_REFCOUNT_H
#define _LINUX_PERCPU_REFCOUNT_H

#include <linux/types.h>
#include <linux/atomic.h>

struct percpu_ref;
typedef void (percpu_ref_func_t)(struct percpu_ref *);

struct percpu_ref {
	atomic_long_t count;
	percpu_ref_func_t *release;
	bool dead;
};

static inline void percpu_ref_get_many(struct percpu_ref *ref, unsigned long nr)
{
	atomic_long_add(nr, &ref->count);
}

static inline void percpu_ref_put_many(struct percpu_ref *ref, unsigned long nr)
{
	atomic_long_sub(nr, &ref->count);
	if (atomic_long_read(&ref->count) == 0 && ref->release)
		ref->release(ref);
}

static inline bool percpu_ref_tryget_live(struct percpu_ref *ref)
{
	if (READ_ONCE(ref->dead))
		return false;
	percpu_ref_get_many(ref, 1);
	return true;
}

#endif /* _LINUX_PERCPU_REFCOUNT_H */
