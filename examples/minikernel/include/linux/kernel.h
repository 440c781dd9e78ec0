/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_KERNEL_H
#define _LINUX_KERNEL_H

#include <linux/types.h>
#include <linux/compiler.h>
#include <linux/errno.h>

#define BITS_PER_LONG		64

#define ALIGN(x, a)		(((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a)	((x) & ~((__typeof__(x))(a) - 1))
#define IS_ALIGNED(x, a)	(((x) & ((__typeof__(x))(a) - 1)) == 0)
#define DIV_ROUND_UP(n, d)	(((n) + (d) - 1) / (d))
#define ARRAY_SIZE(arr)		(sizeof(arr) / sizeof((arr)[0]))

#define min(x, y)		((x) < (y) ? (x) : (y))
#define max(x, y)		((x) > (y) ? (x) : (y))
#define min_t(type, x, y)	((type)(x) < (type)(y) ? (type)(x) : (type)(y))

/*
 * container_of - cast a member of a structure out to the containing structure.
 * Nothing checks that @ptr really points into a @type: that is the caller's promise.
 */
#define container_of(ptr, type, member) ({				\
	void *__mptr = (void *)(ptr);					\
	((type *)(__mptr - offsetof(type, member))); })

static inline void *ERR_PTR(long error)
{
	return (void *)error;
}

static inline long PTR_ERR(const void *ptr)
{
	return (long)ptr;
}

static inline bool IS_ERR(const void *ptr)
{
	return unlikely((unsigned long)ptr >= (unsigned long)-MAX_ERRNO);
}

void __warn(const char *file, int line);
int _printk(const char *fmt, ...) __printf(1, 2);

#define WARN_ON(condition) ({						\
	int __ret_warn_on = !!(condition);				\
	if (unlikely(__ret_warn_on))					\
		__warn(__FILE__, __LINE__);				\
	unlikely(__ret_warn_on);					\
})
#define WARN_ON_ONCE(condition)	WARN_ON(condition)
#define WARN(condition, fmt, ...) ({					\
	int __ret_warn_on = !!(condition);				\
	if (unlikely(__ret_warn_on))					\
		_printk(fmt, ##__VA_ARGS__);				\
	unlikely(__ret_warn_on);					\
})
#define BUG_ON(condition)	do { if (unlikely(condition)) __builtin_trap(); } while (0)

#define pr_info(fmt, ...)	_printk(fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...)	_printk(fmt, ##__VA_ARGS__)
#define pr_err(fmt, ...)	_printk(fmt, ##__VA_ARGS__)

void cond_resched(void);

#endif /* _LINUX_KERNEL_H */
