"""KMI001 online-before-init: a pfn range goes online before its memmap is initialised.

## What it finds

A path from a memory-hotplug or ZONE_DEVICE entry point (or from any function nothing in
the analysed code calls and whose address is never taken, such as exported API) on which a
pfn range is made *online* — `online_mem_sections()`, or `SECTION_IS_ONLINE` or-ed into a
section's `section_mem_map` — before any memmap initialisation (`memmap_init_range()`,
`move_pfn_range_to_zone()`, `memmap_init_zone_device()`, `__init_single_page()`, per
`events.INIT` in the config) has happened on that path.  The witness is the call chain to
the online step; the related location is where the initialisation comes too late.

A function handed to an iterator (`walk_memory_blocks(…, cb)`, `walk_system_ram_range()`,
config `callbacks`, or any analysed function that calls its function-pointer parameter) is
not an entry point: it runs from the iterator's call site, after everything its caller did
first, and the witness labels that step "callback".  A function called from an unknown
context — stored into a driver, file or sysfs operations table, a notifier, a
registration — starts a path only when the path makes its own range valid first
(`arch_add_memory()`, `sparse_add_section()`, … then online before init): the dispatcher
may have initialised any other range before the call.

## Why it matters in the kernel

`pfn_to_online_page()` is the contract pfn walkers rely on (`/proc/kpageflags`,
page_owner, memory_failure, compaction, zone shrinking): an online section promises an
initialised memmap.  Marking sections online first opens a window in which those walkers
dereference poisoned or stale struct pages — the class of bug the 2019 walker fixes
closed.  `online_pages()` therefore initialises the memmap (`move_pfn_range_to_zone()`)
and only then calls `online_mem_sections()`.

## Example

```c
#include <linux/mm.h>
#include <linux/memory_hotplug.h>

int online_pages(unsigned long pfn, unsigned long nr_pages,
	struct zone *zone, struct memory_group *group)
{
	mem_hotplug_begin();
	online_mem_sections(pfn, pfn + nr_pages);
	move_pfn_range_to_zone(zone, pfn, nr_pages, NULL, MIGRATE_MOVABLE);
	mem_hotplug_done();
	return 0;
}
```

## Fix

```c
#include <linux/mm.h>
#include <linux/memory_hotplug.h>

int online_pages(unsigned long pfn, unsigned long nr_pages,
	struct zone *zone, struct memory_group *group)
{
	mem_hotplug_begin();
	move_pfn_range_to_zone(zone, pfn, nr_pages, NULL, MIGRATE_MOVABLE);
	online_mem_sections(pfn, pfn + nr_pages);
	mem_hotplug_done();
	return 0;
}
```

## Known false positives

The analysis is not range-sensitive: an initialisation of *another* range earlier on the
path silences the rule (a false negative), and onlining a range whose memmap was
initialised on an earlier, separate path (a previous call from user space) is reported.
Iterators that are neither analysed nor configured hide their callbacks' callers: such a
callback is treated as called from an unknown context (a false negative at worst).
Boot code (`__init`) is not an entry: sections are marked online early at boot, before any
pfn walker can run.

## Precision

high — the ordering is path-sensitive within functions (a branch is not an order) and
interprocedural through the call graph, including ops-table calls.
"""

from __future__ import annotations

from collections.abc import Iterator

from kmeminit.analyzer.config import Config
from kmeminit.analyzer.dataflow.ordering import Query, WitnessStep
from kmeminit.analyzer.kernel import kernel_facts
from kmeminit.analyzer.kernel.events import MemmapEvents, witness_trace
from kmeminit.analyzer.model import Level
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.results import Finding, Related
from kmeminit.analyzer.rules import rule_config

QUERY = Query.sequence("ONLINE", kills={0: ["INIT"]})
# From a function called in an unknown context (a callback of a generic dispatcher): only
# a range the path itself makes valid, which the dispatcher cannot have initialised.
OWN_RANGE = Query.sequence("VALID", "ONLINE", kills={1: ["INIT"]})


class OnlineBeforeInit:
    id = "KMI001"
    name = "online-before-init"
    level = Level.ERROR
    precision = "high"
    tags = ("correctness", "memory-hotplug", "zone-device")
    short = "A pfn range is made online before its memmap is initialised."
    full = ("On some path from a hotplug or device-memory entry point, sections become "
            "visible through pfn_to_online_page() before memmap_init_range() / "
            "move_pfn_range_to_zone() / memmap_init_zone_device() initialised their "
            "struct pages.")
    config_keys = ("entry_kinds",)
    demand = ("events",)  # the prefilter families its verdicts depend on

    def check(self, program: Program, config: Config) -> Iterator[Finding]:
        kinds = rule_config(config, self.id).get("entry_kinds", ["hotplug", "device"])
        events = kernel_facts(program, config).events
        reported: set[tuple[str, int]] = set()
        for entry, steps in events.witnesses(QUERY, kinds, OWN_RANGE):
            online = next(s for s in steps if s.label == "ONLINE")
            key = (online.location.file, online.location.line)
            if key in reported:
                continue
            reported.add(key)
            yield self._finding(program, events, entry, steps, online)
        if program.partial:
            program.defer(self.id, events.deferred(QUERY, OWN_RANGE))

    def _finding(self, program: Program, events: MemmapEvents, entry: str,
                 steps: list[WitnessStep], online: WitnessStep) -> Finding:
        related = ()
        late = events.later_call(online, "INIT")
        if late is not None:
            related = (Related(1, late[0], f"the memmap is initialised only here, by "
                                           f"{late[1]}()"),)
        what = online.callee or "a SECTION_IS_ONLINE store"
        template = ("pfns go online through {what}() before their memmap is initialised on "
                    "the path from {entry}(); pfn_to_online_page() users can read "
                    "uninitialised struct pages")
        if related:
            template += "; [initialisation comes later](1)"
        return Finding.make(
            self.id, self.level, template, online.location, online.function,
            related=related,
            trace=witness_trace(steps, {"ONLINE": "pfns go online",
                                        "VALID": "pfns become valid"}),
            what=what, entry=program.name_of(entry))

