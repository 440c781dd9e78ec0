"""KMI006 pg-reserved-transition: where PG_reserved is set or cleared, from which entry point.

## What it finds

An inventory, one note per (entry point, site): every direct set or clear of PG_reserved
(`SetPageReserved`, `__SetPageReserved`, `ClearPageReserved`, `__ClearPageReserved`, the
`folio_` variants, and `set_bit`/`clear_bit`/`__set_bit`/`__clear_bit` whose first
argument is `PG_reserved`), plus calls to configured wrappers whose definition is not
analysed.  The entry points are the configured `entries` (boot, hotplug, device,
freeing).  Each note gives:

- the shortest call chain from the entry point to the site (the SARIF codeFlow; `kmeminit
  reserved` also counts the distinct function chains, which the note does not: on a full
  build the call graph is one large strongly connected component, the count says only
  "the whole kernel leads here", and it depends on every function in it);
- whether the site sets or clears the bit;
- the guarding conditions: for every function on the shortest chain, the conditions of
  the CFG edges that every path from the function's entry to the call (or the site) must
  take — edge dominators, i.e. the enclosing `if`/loop/`switch` conditions that control the
  site.  A condition that only some paths take (`if (x) a(); site();`) is not listed.
  A false branch reads `!(cond)`, a `switch` case `cond == CASE`;
- the net effect along the shortest chain: whether, once the site ran, the last
  transition before the entry point returns can only be this one ("left reserved" /
  "cleared") or either.

A site that no entry point reaches is reported once, with entry "none".  Wrappers
(`mark_page_reserved()`, `free_reserved_page()`, …) are followed through the call graph,
so their callers appear as chains to the site inside the wrapper.  Header inline
functions count when analysed code calls them, once per function.

## Why it matters in the kernel

Before PG_reserved can be dropped from hot-added memory (as later kernels did, using
PageOffline) or from ZONE_DEVICE pages, a maintainer needs the whole inventory: which
paths leave pages reserved, under which conditions (`context == MEMINIT_HOTPLUG`,
`zone == ZONE_DEVICE`), and which paths clear the bit again — not a grep, which misses
the generated accessors' callers and the conditions.

## Example

```c
#include <linux/mm.h>

void online_pages_range(unsigned long start_pfn, unsigned long nr_pages);

/* A hot-added range starts out reserved until it is onlined. */
void hotplug_init_range(unsigned long start_pfn, unsigned long nr_pages,
			enum meminit_context context)
{
	unsigned long pfn;

	for (pfn = start_pfn; pfn < start_pfn + nr_pages; pfn++) {
		struct page *page = pfn_to_page(pfn);

		if (context == MEMINIT_HOTPLUG)
			__SetPageReserved(page);
	}
}
```

## Fix

This is an inventory rule: there is nothing to fix, only code it does not report.  A
range marked logically offline with PageOffline (what later kernels do for hot-added
memory) is not a PG_reserved transition:

```c
#include <linux/mm.h>

void hotplug_init_range(unsigned long start_pfn, unsigned long nr_pages)
{
	unsigned long pfn;

	for (pfn = start_pfn; pfn < start_pfn + nr_pages; pfn++)
		__SetPageOffline(pfn_to_page(pfn));
}
```

## Known false positives

None as an inventory; but chains come from the call graph, so a chain through an ops
table may join callers and callees that never meet at run time, and the guarding
conditions of different functions are listed side by side without relating their
variables (`context == MEMINIT_HOTPLUG` inside memmap_init_range() is not evaluated
against the constant its caller passed).  Header inline functions that no analysed code
calls are left out.

## Precision

very-high for the sites (every direct call or macro of a configured name), high for
the chains and conditions (CFG edge dominators; the call graph over-approximates
indirect calls).  A partial view (one TU under `kmeminit-cc`) cannot know that no entry
point reaches a site: it reports only the (entry, site) pairs it sees.
"""

from __future__ import annotations

from collections.abc import Iterator

from kmeminit.analyzer.config import Config
from kmeminit.analyzer.kernel import kernel_facts
from kmeminit.analyzer.model import Level
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.results import Finding

_VERB = {"set": "sets", "clear": "clears"}


class PgReservedTransition:
    id = "KMI006"
    name = "pg-reserved-transition"
    level = Level.NOTE
    precision = "very-high"
    tags = ("inventory", "pg-reserved", "memory-hotplug", "zone-device")
    short = "A site that sets or clears PG_reserved, with the entry point reaching it."
    full = ("One note per (entry point, PG_reserved set/clear site): the shortest call "
            "chain, the branch conditions guarding the site along the chain and the net "
            "effect; sites no entry point reaches are reported once.")
    config_keys = ()
    demand = ("reserved",)  # the prefilter families its verdicts depend on

    def check(self, program: Program, config: Config) -> Iterator[Finding]:
        analysis = kernel_facts(program, config).reserved
        for reach in analysis.reaches:
            if reach.entry_usr is None and program.partial:
                program.defer(self.id, [reach.site.usr])
                continue  # an entry outside the view may reach it
            site = reach.site
            conditions = " && ".join(reach.conditions) or "nothing"
            # The entry is part of the finding's identity (one note per entry and site),
            # so it is written into the template rather than passed as an argument.
            if reach.entry_usr is None:
                template = ("{callee}() {verb} PG_reserved in {fn}(), reached from no "
                            "configured entry point; guarded by: {conditions}")
            else:
                template = ("{callee}() {verb} PG_reserved in {fn}(), reached from "
                            f"{reach.kind} entry {reach.entry}(); guarded by: "
                            "{conditions}; net effect: {effect}")
            args = {"callee": site.callee, "verb": _VERB[site.op], "fn": site.function,
                    "conditions": conditions}
            if reach.entry_usr is not None:
                args["effect"] = reach.effect
            yield Finding.make(self.id, self.level, template, site.location, site.function,
                               trace=analysis.reach_trace(reach), **args)
