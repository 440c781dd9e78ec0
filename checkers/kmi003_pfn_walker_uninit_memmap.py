"""KMI003 pfn-walker-uninit-memmap: struct page state read through pfn_valid() + pfn_to_page().

## What it finds

A function that turns a pfn from outside — a parameter, user input such as `*ppos`, or an
iteration over zone / node / section spans — into a struct page with `pfn_to_page()` and
then reads the page's state: `page_zone()`, `page_to_nid()`, `PageXxx()` /
`folio_test_xxx()`, `page_count()`, `compound_head()`, `get_page()`, `page->flags`, … or
passes the page to a function that does (interprocedurally).  Conversions that read in the
same step count as both: a macro whose expansion reads the page (`pfn_to_nid(pfn)` is
`page_to_nid(pfn_to_page(pfn))` on NUMA; nothing without NUMA, and then nothing is
reported), or a helper that converts its pfn argument unchecked and reads the page
(`pfn_folio()`).  The pfn was checked only with a memmap-exists predicate — `pfn_valid()`,
`valid_section()`, `present_section_nr()`, `pfn_section_valid()`, `for_each_valid_pfn()`
(config `pfn.weak_guards`) — or not at all, instead of being converted with
`pfn_to_online_page()`.  One result per conversion, at the first state read after it,
naming the guard present and the read.

Silent: pages from `pfn_to_online_page()`, or after an online check or validator ran in
the function (`online_section()`, `pageblock_pfn_to_page()`, …); pfns derived from a
struct page the function already holds (`page_to_pfn()` round trips, compound tails);
boot-only `__init` code and hotplug-owned code; memmap initialisation code itself and
functions that have just initialised the range; a walker whose every caller hands it a
range the caller proved online — an online check, a configured validator
(`pageblock_pfn_to_page()`, `start_isolate_page_range()`, …), a memory block state check
(`mem->state == MEM_ONLINE`) on every path to the call — directly or up to
`rules.KMI003.caller_levels` (default 2) caller levels (a callback's callers are the
functions that hand it to an iterator).  A walker also called from an unknown context (its
address reaches a file, sysfs or proc operations table, or a registration) has no caller
guarantee.  Reads made only for diagnostics — `dump_page()`, the arguments of
`VM_BUG_ON_PAGE()`-style macros and `pr_*()`, `WARN()`'s message — are not reads.  When a
finding survives because one caller lacks the guarantee, the message names it and the
trace shows the callers that have it.

## Why it matters in the kernel

`pfn_valid()` only says that a memmap *exists* for the pfn.  Memory hotplug activates
sections (making them `pfn_valid()`) before it initialises their memmap, and ZONE_DEVICE
initialises its memmap only after dropping the hotplug lock (KMI002), so a walker that trusts
`pfn_valid()` reads uninitialised or poisoned struct pages — wrong zone and node ids,
`PagePoisoned()` BUGs with `CONFIG_DEBUG_VM`.  The kernel fixed a batch of such walkers in
2019 (/proc/kpageflags, /proc/kpagecount, /proc/kpagecgroup, page_owner, memory_failure,
zone shrinking) by switching them to `pfn_to_online_page()`.

## Example

```c
#include <linux/mm.h>
#include <linux/mmzone.h>

unsigned long count_reserved(unsigned long start_pfn, unsigned long end_pfn)
{
	unsigned long pfn, count = 0;

	for (pfn = start_pfn; pfn < end_pfn; pfn++) {
		struct page *page;

		if (!pfn_valid(pfn))
			continue;
		page = pfn_to_page(pfn);
		if (PageReserved(page))
			count++;
	}
	return count;
}
```

## Fix

```c
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/memory_hotplug.h>

unsigned long count_reserved(unsigned long start_pfn, unsigned long end_pfn)
{
	unsigned long pfn, count = 0;

	for (pfn = start_pfn; pfn < end_pfn; pfn++) {
		struct page *page = pfn_to_online_page(pfn);

		if (!page)
			continue;
		if (PageReserved(page))
			count++;
	}
	return count;
}
```

## Known false positives

Walkers that run only where no hotplug or ZONE_DEVICE range can be (early boot code not
marked `__init`, zone spans of zones that cannot hold device memory) are reported; so are
reads that are deliberately tolerant of garbage (racy statistics), and walkers whose
callers validate the range further up than `caller_levels`, or in a way not configured as
a validator.  A caller's check counts when it runs on every path to the call and names a
variable of the range handed over (also through local assignments); that association is
syntactic.  The pfn's origin is judged from the function's own text and local
assignments.

## Precision

medium — path-sensitive within the function (the read must be reachable from the
conversion; a caller's check must dominate its call), interprocedural for reads through
callees and for caller guarantees; the guard-to-pfn association and the pfn origin are
syntactic.
"""

from __future__ import annotations

from collections.abc import Iterator

from kmeminit.analyzer.config import Config
from kmeminit.analyzer.kernel import kernel_facts
from kmeminit.analyzer.kernel.pfn import (
    BY_CALLERS,
    CallerCheck,
    Conversion,
    Guarantee,
    Guards,
    PfnFacts,
)
from kmeminit.analyzer.model import Function, Level, Location
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.results import CheckedConversion, Finding, Related, Step
from kmeminit.analyzer.rules import rule_config


class PfnWalkerUninitMemmap:
    id = "KMI003"
    name = "pfn-walker-uninit-memmap"
    level = Level.WARNING
    precision = "medium"
    tags = ("correctness", "memory-hotplug", "zone-device", "pfn-walker")
    short = ("struct page state is read for a pfn checked only with pfn_valid(); use "
             "pfn_to_online_page().")
    full = ("pfn_valid() only says a memmap exists; hot-added and ZONE_DEVICE memmaps are "
            "initialised later.  Walkers that read page state through pfn_to_page() must "
            "use pfn_to_online_page() (or an equivalent configured guard), unless every "
            "caller hands them a range it has proven online.")
    config_keys = ("caller_levels",)
    demand = ("walkers",)  # the prefilter families its verdicts depend on
    # its verdicts on a walker (a finding's `function`) depend on that walker's own part
    # of the demand alone (prefilter.walker_units): a run may keep them walker by walker
    units = "walkers"

    def __init__(self) -> None:
        # the USR of the function each finding of the last check is in, in order: a run
        # that keeps findings walker by walker puts them in this order (analyzer/memo.py)
        self.owners: list[str] = []

    def check(self, program: Program, config: Config) -> Iterator[Finding]:
        self.owners = []
        facts = kernel_facts(program, config)
        pfn = facts.pfn
        levels = int(rule_config(config, self.id).get("caller_levels", 2))
        online = config.get("pfn", "online_guards", default=[]) or []
        replacement = online[0] if online else None
        quiet = facts.entries.boot_only | facts.entries.hotplug_owned
        for usr, fn in sorted(program.functions.items()):
            if not fn.blocks or usr in quiet or fn.name in pfn.know.init:
                continue
            for conv in pfn.conversions(fn):
                finding = self._check_conversion(pfn, fn, conv, levels, replacement)
                if finding is not None:
                    self.owners.append(usr)
                    yield finding

    def subjects(self, program: Program, config: Config) -> set[str]:
        """The names of the functions this rule's verdict on depends on their callers or
        callees: with a conversion of an outside or span pfn that the function's own text
        does not settle (`_unsettled`), quiet ones (boot-only, hotplug-owned: that is
        their callers' doing) included.  The prefilter demands the callers of each
        (analyzer/prefilter.py `walkers`); a conversion hidden in a helper or macro is
        found here first."""
        pfn = kernel_facts(program, config).pfn
        return {fn.name for fn in program.functions.values()
                if fn.blocks and fn.name not in pfn.know.init
                and any(self._unsettled(pfn, fn, conv) is not None
                        for conv in pfn.conversions(fn))}

    @staticmethod
    def _unsettled(pfn: PfnFacts, fn: Function, conv: Conversion
                   ) -> tuple[tuple[str, Location] | None, Guards] | None:
        """The weak guard and the guards of a conversion the function's own text leaves
        open (an outside or span pfn, no online check or validator, a weak guard or a walk
        over a span), else None."""
        origin = pfn.origin(fn, conv.pfn)
        if origin not in ("outside", "span"):
            return None
        guards = pfn.guards(fn, conv)
        if guards.settled:
            return None
        guard = guards.weak
        if guard is None and not (origin == "span" and pfn.in_loop(fn, conv)):
            # An unchecked pfn from a plain parameter is the caller's contract, not a walk:
            # walkers iterate over zone / node / section spans or user offsets, or test
            # pfn_valid() because they expect holes.
            return None
        return guard, guards

    def _check_conversion(self, pfn: PfnFacts, fn: Function, conv: Conversion, levels: int,
                          replacement: str | None) -> Finding | None:
        open_ = self._unsettled(pfn, fn, conv)
        if open_ is None:
            return None
        guard, guards = open_
        read = (conv.read, conv.location) if conv.read else pfn.first_read(fn, conv)
        if read is None:
            return None
        guarantee = None
        params = pfn.pfn_params(fn, conv.pfn)
        if params and levels > 0:
            guarantee = pfn.caller_guarantee(fn, params, levels)
            if guarantee.held:
                if guarantee.deferred:
                    pfn.program.defer(self.id, [fn.usr])
                return None
        fix = None
        if guard and replacement:
            # the fix: convert with the online check and test its NULL (mechanical where
            # the code has one of the usual shapes: analyzer/triage/fixes.py)
            fix = CheckedConversion(guard[0], guard[1], conv.name, conv.location, conv.pfn,
                                    replacement)
        return self._finding(fn, conv, guard or guards.present, read, guarantee, fix)

    def _finding(self, fn: Function, conv: Conversion, guard: tuple[str, Location] | None,
                 read: tuple[str, Location], guarantee: Guarantee | None,
                 fix: CheckedConversion | None) -> Finding:
        what, location = read
        guard_text = f"{guard[0]}()" if guard else "no check at all"
        related = [Related(1, conv.location, f"{conv.name}({conv.pfn}) converts the pfn")]
        trace = [Step(conv.location, f"{conv.name}({conv.pfn}): struct page of an outside pfn"
                      + (f", and a read of it ({conv.how})" if conv.read else ""), 0, fn.name)]
        if guard:
            related.append(Related(2, guard[1], f"{guard[0]}() only says a memmap exists"))
            trace.insert(0, Step(guard[1], f"{guard[0]}(): the only check of the pfn", 0,
                                 fn.name))
        if location != conv.location or not conv.read:
            trace.append(Step(location, f"{what} reads struct page state", 0, fn.name))
        callers = guarantee.checks if guarantee else ()
        trace += [_caller_step(c) for c in callers]
        if guarantee and guarantee.why:
            trace.append(Step(Location(fn.file, fn.line), f"{fn.name}(): no caller "
                              f"guarantee, {guarantee.why}", 0, fn.name))
        template = ("{what} reads the struct page of [{conv}({pfn})](1) checked only by "
                    "{guard}: the memmap of a hot-added or ZONE_DEVICE range may not be "
                    "initialised yet; use pfn_to_online_page()")
        args = {"what": what, "conv": conv.name, "pfn": conv.pfn, "guard": guard_text}
        lacking = next((c for c in callers if c.guard is None), None)
        if lacking is not None and any(c.guard for c in callers):
            template += " (not every caller checks the range: {lacking}() does not)"
            args["lacking"] = lacking.function
        return Finding.make(self.id, self.level, template, location, fn.name,
                            related=tuple(related), trace=tuple(trace), fix=fix, **args)


def _caller_step(check: CallerCheck) -> Step:
    """A caller on the way up: what it proved about the range before the call."""
    call = (f"hands {check.callee}() to {check.via}(), which calls it back" if check.via
            else f"calls {check.callee}()")
    if check.guard is None:
        text = f"caller {check.function}() {call} without proving the range online"
    elif check.guard == BY_CALLERS:
        text = f"caller {check.function}() {call} with a range its own callers proved online"
    else:
        text = f"caller {check.function}() {call} after {check.guard}: the range is online"
    return Step(check.location, text, check.level, check.function)
