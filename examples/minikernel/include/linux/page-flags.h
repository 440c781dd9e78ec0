/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Page flag bits and their accessors.  The accessors are generated, so grep finds
 * PG_reserved but not SetPageReserved(): look at the PAGEFLAG() lines at the bottom.
 */
#ifndef _LINUX_PAGE_FLAGS_H
#define _LINUX_PAGE_FLAGS_H

#include <linux/types.h>
#include <linux/bitops.h>
#include <linux/mm_types.h>

enum pageflags {
	PG_locked,
	PG_writeback,
	PG_referenced,
	PG_uptodate,
	PG_dirty,
	PG_lru,
	PG_head,
	PG_waiters,
	PG_active,
	PG_workingset,
	PG_owner_priv_1,
	PG_reserved,		/* memmap says: not managed by the buddy allocator */
	PG_private,
	PG_reclaim,
	PG_swapbacked,
	PG_unevictable,
	PG_hwpoison,
	PG_offline,		/* logically offline: ballooned out or not onlined */
	__NR_PAGEFLAGS,
};

static __always_inline struct page *compound_head(const struct page *page)
{
	unsigned long head = READ_ONCE(page->compound_head);

	if (unlikely(head & 1))
		return (struct page *)(head - 1);
	return (struct page *)page;
}

#define page_folio(p)		((struct folio *)compound_head(p))
#define folio_page(f, n)	(&(f)->page + (n))

static __always_inline const unsigned long *const_folio_flags(const struct folio *folio)
{
	return &folio->flags;
}

static __always_inline unsigned long *folio_flags(struct folio *folio)
{
	return &folio->flags;
}

/* Which page of a compound page carries the flag. */
#define PF_ANY(page)		(page)
#define PF_HEAD(page)		compound_head(page)
#define PF_NO_COMPOUND(page)	(page)

#define TESTPAGEFLAG(uname, lname, policy)					\
static __always_inline bool folio_test_##lname(const struct folio *folio)	\
{ return test_bit(PG_##lname, const_folio_flags(folio)); }			\
static __always_inline int Page##uname(const struct page *page)		\
{ return test_bit(PG_##lname, &policy(page)->flags); }

#define SETPAGEFLAG(uname, lname, policy)					\
static __always_inline void folio_set_##lname(struct folio *folio)		\
{ set_bit(PG_##lname, folio_flags(folio)); }					\
static __always_inline void SetPage##uname(struct page *page)			\
{ set_bit(PG_##lname, &policy(page)->flags); }

#define CLEARPAGEFLAG(uname, lname, policy)					\
static __always_inline void folio_clear_##lname(struct folio *folio)		\
{ clear_bit(PG_##lname, folio_flags(folio)); }					\
static __always_inline void ClearPage##uname(struct page *page)		\
{ clear_bit(PG_##lname, &policy(page)->flags); }

#define __SETPAGEFLAG(uname, lname, policy)					\
static __always_inline void __folio_set_##lname(struct folio *folio)		\
{ __set_bit(PG_##lname, folio_flags(folio)); }					\
static __always_inline void __SetPage##uname(struct page *page)		\
{ __set_bit(PG_##lname, &policy(page)->flags); }

#define __CLEARPAGEFLAG(uname, lname, policy)					\
static __always_inline void __folio_clear_##lname(struct folio *folio)	\
{ __clear_bit(PG_##lname, folio_flags(folio)); }				\
static __always_inline void __ClearPage##uname(struct page *page)		\
{ __clear_bit(PG_##lname, &policy(page)->flags); }

#define PAGEFLAG(uname, lname, policy)						\
	TESTPAGEFLAG(uname, lname, policy)					\
	SETPAGEFLAG(uname, lname, policy)					\
	CLEARPAGEFLAG(uname, lname, policy)

PAGEFLAG(Reserved, reserved, PF_NO_COMPOUND)
	__CLEARPAGEFLAG(Reserved, reserved, PF_NO_COMPOUND)
	__SETPAGEFLAG(Reserved, reserved, PF_NO_COMPOUND)
PAGEFLAG(Offline, offline, PF_NO_COMPOUND)
	__CLEARPAGEFLAG(Offline, offline, PF_NO_COMPOUND)
	__SETPAGEFLAG(Offline, offline, PF_NO_COMPOUND)
TESTPAGEFLAG(Head, head, PF_ANY)
	__SETPAGEFLAG(Head, head, PF_ANY)
TESTPAGEFLAG(HWPoison, hwpoison, PF_ANY)
TESTPAGEFLAG(LRU, lru, PF_HEAD)

#endif /* _LINUX_PAGE_FLAGS_H */
