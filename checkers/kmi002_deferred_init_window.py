"""KMI002 deferred-init-window: pfns valid, hotplug lock dropped, memmap not yet initialised.

## What it finds

A path on which a pfn range becomes `pfn_valid()` (section activation:
`sparse_add_section()` / `__add_section()` / `sparse_add_one_section()`, reached through
`arch_add_memory()` / `add_pages()` / `__add_pages()`), then the memory-hotplug lock is
released (`mem_hotplug_done()`), and only afterwards is the range's memmap initialised
(`memmap_init_range()`, `move_pfn_range_to_zone()`, `memmap_init_zone_device()`, per
`events.INIT_RANGE` in the config).  One result per function in which the window opens
(the function that drops the lock between the two), with the three steps as a code flow.
The lock dropped must be the one held when the range became valid: a callee that takes
and drops the hotplug lock itself (`mem_hotplug_begin()` … `mem_hotplug_done()`, a nested
or later hotplug operation reached through the call graph) does not open the window.

## Why it matters in the kernel

Between section activation and memmap initialisation the struct pages of the range exist
but hold garbage (or `PAGE_POISON_PATTERN` with `CONFIG_DEBUG_VM`).  While the hotplug lock
is held, hotplug-aware walkers are excluded; once it is dropped, anything that trusts
`pfn_valid()` + `pfn_to_page()` (see KMI003) can read those pages.  In current kernels this
is the ZONE_DEVICE path by design ("defer ZONE_DEVICE page initialization to the point
where we init pgmap"): `pagemap_range()` initialises the pages with
`memmap_init_zone_device()` after `mem_hotplug_done()`.  The finding documents the window
that pfn walkers are exposed to.

## Example

```c
#include <linux/mm.h>
#include <linux/memory_hotplug.h>
#include <linux/memremap.h>

int map_device_range(struct dev_pagemap *pgmap, int nid, u64 start, u64 size)
{
	struct mhp_params params = { .altmap = pgmap_altmap(pgmap) };
	int error;

	mem_hotplug_begin();
	error = arch_add_memory(nid, start, size, &params);
	mem_hotplug_done();
	if (error)
		return error;
	memmap_init_zone_device(NULL, PHYS_PFN(start), PHYS_PFN(size), pgmap);
	return 0;
}
```

## Fix

```c
#include <linux/mm.h>
#include <linux/memory_hotplug.h>
#include <linux/memremap.h>

int map_device_range(struct dev_pagemap *pgmap, int nid, u64 start, u64 size)
{
	struct mhp_params params = { .altmap = pgmap_altmap(pgmap) };
	int error;

	mem_hotplug_begin();
	error = arch_add_memory(nid, start, size, &params);
	if (!error)
		memmap_init_zone_device(NULL, PHYS_PFN(start), PHYS_PFN(size), pgmap);
	mem_hotplug_done();
	return error;
}
```

## Known false positives

The analysis is not range-sensitive: an initialisation of any range after the unlock
closes the window on the path, even if it initialises a different range.  Where the window
is deliberate (ZONE_DEVICE), the result is documentation rather than a bug: suppress it
with a reason in `.kmeminit-suppressions.yaml`, or lower `rules.KMI002.level`.

## Precision

high — three-step, path-sensitive ordering through the call graph; a second
`mem_hotplug_begin()` before the initialisation closes the window.
"""

from __future__ import annotations

from collections.abc import Iterator

from kmeminit.analyzer.config import Config
from kmeminit.analyzer.dataflow.ordering import Query, WitnessStep
from kmeminit.analyzer.kernel import kernel_facts
from kmeminit.analyzer.kernel.events import witness_trace
from kmeminit.analyzer.model import Level
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.results import Finding, Related
from kmeminit.analyzer.rules import rule_config

# A LOCK between VALID and UNLOCK means the UNLOCK releases a lock taken after the range
# became valid (a balanced begin/done pair further down the call graph), not the window.
QUERY = Query.sequence("VALID", "UNLOCK", "INIT_RANGE",
                       kills={1: ["INIT_RANGE", "LOCK"], 2: ["LOCK"]})
WHAT = {"VALID": "pfns become valid", "UNLOCK": "the hotplug lock is dropped",
        "INIT_RANGE": "the memmap is initialised only now"}


class DeferredInitWindow:
    id = "KMI002"
    name = "deferred-init-window"
    level = Level.WARNING
    precision = "high"
    tags = ("memory-hotplug", "zone-device", "documentation")
    short = ("pfns become valid, the hotplug lock is dropped, and only then is the memmap "
             "initialised.")
    full = ("Section activation makes a pfn range pfn_valid(); if mem_hotplug_done() runs "
            "before memmap_init_range() / memmap_init_zone_device(), pfn walkers can read "
            "uninitialised struct pages in between.")
    config_keys = ("entry_kinds",)
    demand = ("events",)  # the prefilter families its verdicts depend on

    def check(self, program: Program, config: Config) -> Iterator[Finding]:
        kinds = rule_config(config, self.id).get("entry_kinds", ["device", "hotplug"])
        opened: set[str] = set()
        # the query's first step makes the range valid: it may start at a callback too
        events = kernel_facts(program, config).events
        for _, steps in events.witnesses(QUERY, kinds, QUERY):
            unlock = next(s for s in steps if s.label == "UNLOCK")
            if unlock.usr in opened:
                continue
            opened.add(unlock.usr)
            yield self._finding(program, steps, unlock)
        if program.partial:
            program.defer(self.id, events.deferred(QUERY, QUERY))

    def _finding(self, program: Program, steps: list[WitnessStep],
                 unlock: WitnessStep) -> Finding:
        valid = next(s for s in steps if s.label == "VALID")
        init = next(s for s in steps if s.label == "INIT_RANGE")
        # Where the window opens in the unlocking function: its own call leading to VALID.
        start = steps.index(valid)
        opener = next((s for s in reversed(steps[:start + 1])
                       if s.usr == unlock.usr and s.depth == unlock.depth), valid)
        window = steps[steps.index(opener):]
        related = (Related(1, unlock.location, f"{unlock.callee}() drops the hotplug lock"),
                   Related(2, init.location, f"{init.callee or 'the memmap'}() initialises "
                                             "the memmap afterwards"))
        return Finding.make(
            self.id, self.level,
            "deferred memmap init window: pfns become valid via {valid}() here, "
            "[{unlock}() drops the hotplug lock](1), and [the memmap is initialised by "
            "{init}() only afterwards](2)",
            opener.location, unlock.function, related=related,
            trace=witness_trace(window, WHAT),
            valid=valid.callee or "section activation", unlock=unlock.callee or "unlock",
            init=init.callee or "init")
