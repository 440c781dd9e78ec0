"""KMI007 pg-reserved-reader: every test of PG_reserved, and who can reach it.

## What it finds

An inventory, one note per reader: every `PageReserved()` / `folio_test_reserved()` test
(a call, or a macro in kernels where it is one) and every `test_bit()` whose first
argument is `PG_reserved`, outside the generated accessors themselves.  Each note names
the configured entry points (boot, hotplug, device, freeing) whose call graph reaches the
reader, and whether the reader sits in a pfn walker — a function that turns pfns into
struct pages inside a loop (the notion KMI003 uses).  The trace is the shortest call chain
from the first such entry point.

## Why it matters in the kernel

Hot-added memory and ZONE_DEVICE pages are PG_reserved by construction.  A reader that
takes "reserved" to mean "boot memory, not refcounted, not movable" misbehaves on them
(the KVM `kvm_is_reserved_pfn()` mistake), and a pfn walker can meet such pages whenever
they are visible.  Before the bit is dropped from those pages, these are the places whose
behaviour changes.

## Example

```c
#include <linux/mm.h>

/* Counts the boot-reserved pages of a pfn range: also counts device and offline pages. */
unsigned long count_reserved(unsigned long start_pfn, unsigned long end_pfn)
{
	unsigned long pfn, n = 0;

	for (pfn = start_pfn; pfn < end_pfn; pfn++)
		if (PageReserved(pfn_to_page(pfn)))
			n++;
	return n;
}
```

## Fix

An inventory rule: nothing to fix, only code it does not report.  A walker that asks
the question it means (is the page logically offline?) does not read PG_reserved:

```c
#include <linux/mm.h>

unsigned long count_offline(unsigned long start_pfn, unsigned long end_pfn)
{
	unsigned long pfn, n = 0;

	for (pfn = start_pfn; pfn < end_pfn; pfn++)
		if (PageOffline(pfn_to_page(pfn)))
			n++;
	return n;
}
```

## Known false positives

None as an inventory.  The entry points listed come from the call graph, which joins
every implementation of an ops-table callback to every caller of that field.  Readers
inside debug macros that the configuration compiles out (`VM_WARN_ON(PageReserved(p))`
without CONFIG_DEBUG_VM) are not code and are not reported.

## Precision

very-high for the readers; high for the entry points reaching them.
"""

from __future__ import annotations

from collections.abc import Iterator

from kmeminit.analyzer.config import Config
from kmeminit.analyzer.kernel import kernel_facts
from kmeminit.analyzer.model import Level
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.results import Finding, Step


class PgReservedReader:
    id = "KMI007"
    name = "pg-reserved-reader"
    level = Level.NOTE
    precision = "very-high"
    tags = ("inventory", "pg-reserved", "memory-hotplug", "zone-device")
    short = "A test of PG_reserved, with the entry points reaching it and its pfn-walker status."
    full = ("One note per PageReserved()/folio_test_reserved() reader: the configured entry "
            "points that reach it and whether it sits in a pfn walker, i.e. whether it could "
            "observe hot-added or device pages.")
    config_keys = ()
    demand = ("reserved",)  # the prefilter families its verdicts depend on

    def check(self, program: Program, config: Config) -> Iterator[Finding]:
        analysis = kernel_facts(program, config).reserved
        for reader in analysis.readers:
            entries = analysis.reader_entries(reader)
            shown = ", ".join(f"{name}() ({kind})" for kind, name, _ in entries) or "none"
            walker = "inside a pfn walker" if reader.in_walker else "not in a pfn walker"
            trace: tuple[Step, ...] = ()
            if entries:
                trace = analysis.reader_trace(reader, entries[0][2])
            yield Finding.make(
                self.id, self.level,
                "{callee}() reads PG_reserved in {fn}(), " + walker
                + "; reachable from: {entries}",
                reader.location, reader.function, trace=trace,
                callee=reader.callee, fn=reader.function, entries=shown)
