"""A small source tree and a RunResult over it (and its Report, after the triage stage),
shared by the formatter tests."""

from __future__ import annotations

from pathlib import Path

from kmeminit.analyzer.model import Level, Location, Notification
from kmeminit.analyzer.results import (
    Finding,
    Invocation,
    Related,
    Report,
    RuleMeta,
    RunResult,
    Step,
)
from kmeminit.analyzer.triage import TriageInputs, triage

PAGE_OWNER = """\
// SPDX-License-Identifier: GPL-2.0
#include <linux/mm.h>

static void init_pages(unsigned long start_pfn, unsigned long nr)
{
\tstruct page *page = pfn_to_page(start_pfn);

\tset_page_owner(page, 0, 0);
\tmemmap_init_range(nr, 0, 0, start_pfn, 0, MEMINIT_HOTPLUG, NULL, 0);
}
"""

DOC = """Demo rule.

## What it finds
Pages used before their memmap is initialised.

## Why it matters in the kernel
Uninitialised struct pages.

## Example
```c
set_page_owner(page, 0, 0);
memmap_init_range(...);
```

## Fix
Initialise first.

## Known false positives
None known.

## Precision
high
"""


def rule(rule_id: str, level: Level = Level.WARNING) -> RuleMeta:
    return RuleMeta(rule_id, f"demo-{rule_id.lower()}", level, "high", ("correctness",),
                    "Short.", "Full description.", DOC)


def make_tree(root: Path) -> Path:
    """root/src/mm/page_owner.c, plus root/outside.c outside the source root."""
    (root / "src" / "mm").mkdir(parents=True)
    (root / "src" / "mm" / "page_owner.c").write_text(PAGE_OWNER)
    (root / "outside.c").write_text("int x;\n")
    return root / "src"


def make_result(src: Path, start: str = "2024-05-01T10:00:00Z",
                end: str = "2024-05-01T10:00:05Z", extra_findings: tuple[Finding, ...] = (),
                ) -> RunResult:
    c_file = str(src / "mm" / "page_owner.c")
    use = Finding.make(
        "KMI003", Level.WARNING, "{page} used before [memmap init](1) in {fn}",
        Location(c_file, 8, 2, 8, 16), "init_pages",
        related=(Related(1, Location(c_file, 9, 2), "memmap initialised here"),),
        trace=(Step(Location(c_file, 6, 22), "page taken from pfn_to_page()", 0, "init_pages"),
               Step(Location(c_file, 8, 2), "page used", 1, "set_page_owner")),
        page="page", fn="init_pages")
    error = Finding.make("KMI001", Level.ERROR, "memmap of {pfn} never initialised",
                         Location(c_file, 6, 22), "init_pages", pfn="start_pfn")
    invocation = Invocation("kmeminit --sarif out.sarif", ("kmeminit", "--sarif", "out.sarif"),
                            str(src), start, end, True, str(src))
    notes = (Notification(Level.WARNING, "clang: unknown flag -mfoo", c_file, 3),
             Notification(Level.ERROR, "checker KMI002 crashed and was skipped: boom",
                          rule="KMI002"))
    return RunResult((rule("KMI003"), rule("KMI001", Level.ERROR), rule("KMI002")),
                     (use, error) + extra_findings, notes, invocation, {"functions": "12"})


def make_report(src: Path, start: str = "2024-05-01T10:00:00Z",
                end: str = "2024-05-01T10:00:05Z", extra_findings: tuple[Finding, ...] = (),
                inputs: TriageInputs | None = None) -> Report:
    """make_result() through the triage stage."""
    return triage(make_result(src, start, end, extra_findings), inputs)
