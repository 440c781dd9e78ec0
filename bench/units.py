#!/usr/bin/env python3
"""KMI003 walker by walker: each pfn walker over the TUs of its own demand, against the
rule over its whole family's TUs.

Usage: bench/units.py (--compdb DB | --store KBUILD_STORE) [--store STORE] [--edit FILE]...

The walkers' demand (analyzer/prefilter.py `walker_demand`) is a union over the walkers
(the functions converting pfns with pfn_to_page(), grouped by name): each one's callers up
to `caller_levels`, a caller chain to a root that is neither `__init` nor a hotplug entry
(all its callers when there is none), and the callees it may hand its page to.  Computed
for one walker at a time, it names the TUs that walker's verdict reads.  This runs KMI003
over the program of each walker's TUs alone, keeps the findings in that walker, and
compares their union with the rule's findings over the whole family: equal means the
demand is complete walker by walker (the finest partial view of the prefilter's
property, and what a re-run of the rule over only the walkers an edit reaches would rest
on).  It also counts the functions the rule finds conversions in that are not lexical
walkers (conversions hidden in a helper such as pfn_folio() or a macro such as
pfn_to_nid(): the lexical index cannot tell them, so their TUs are not known before the
rule has run), and, for each --edit, the walkers whose TUs include that file and the TUs
they need, against the family's.

With --compdb, the chosen TUs the store lacks are parsed first; a kbuild store must hold
them already (`kmeminit report` leaves them).  The demand is computed afresh
(the whole database's lexical index: seconds).  Exits 1 when the union differs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from kmeminit.analyzer import prefilter
from kmeminit.analyzer.cli.session import tune_collector
from kmeminit.analyzer.compdb import load_entries
from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.index import index_entries
from kmeminit.analyzer.kernel import kernel_facts
from kmeminit.analyzer.model import to_json
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.rules import build_rules
from kmeminit.analyzer.store import FactStore


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compdb", type=Path, help="a compile database (with --store)")
    ap.add_argument("--store", type=Path, required=True,
                    help="the facts; without --compdb, a kbuild store: its recorded commands")
    ap.add_argument("--edit", action="append", default=[],
                    help="a file (path or its end): the walkers whose TUs include it")
    args = ap.parse_args()
    tune_collector()
    config = load_config()
    store = FactStore(args.store)
    if args.compdb:
        entries = load_entries(args.compdb, config)[0]
    else:
        entries = [c.entry() for c in store.commands()]
    if not entries:
        print(f"units: no compile commands in {args.compdb or args.store}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    lex = prefilter.build_lexindex(entries, config, prefilter.StoredScans(store, config))
    report = prefilter.PrefilterReport(len(entries))
    chosen = prefilter._demand(entries, lex, config, report)
    known = {e.file for e in entries}
    order = [e.file for e in entries if e.file in chosen]
    if args.compdb:  # the chosen TUs' facts, parsing those the store lacks
        stats = index_entries([e for e in entries if e.file in chosen], store, config,
                              jobs=os.cpu_count() or 1, timeout=300)
        if stats.failed:
            print(f"units: {stats.failed} TUs failed to parse", file=sys.stderr)
            return 2
    family = report.scopes["walkers"]
    # each walker's own part, as the demand computed it (prefilter.walker_units: what
    # memo.Units keeps a walker's findings by)
    units = {name: files or frozenset() for name, files in (report.units or {}).items()}
    sizes = sorted(len(files) for files in units.values()) or [0]
    print(f"demand {time.perf_counter() - start:.1f} s: {len(chosen)} of {len(entries)} TUs, "
          f"the walkers' {len(family)}; {len(units)} walkers by name, TUs per walker: "
          f"median {statistics.median(sizes):g}, mean {sum(sizes) / len(sizes):.1f}, "
          f"most {sizes[-1]}", flush=True)

    checker = next(c for c in build_rules(None, config)[0] if c.id == "KMI003")
    start = time.perf_counter()
    whole = Program.from_store(store, [f for f in order if f in family]).apply_config(config)
    found = to_json(list(checker.check(whole, config)))
    expected = [json.dumps(f, sort_keys=True) for f in found]
    family_s = time.perf_counter() - start
    pfn = kernel_facts(whole, config).pfn
    converting = {fn.name for fn in whole.functions.values()
                  if fn.blocks and next(iter(pfn.conversions(fn)), None) is not None}
    hidden = sorted(converting - set(units))
    del whole, pfn
    outside = [f for f in found if f.get("function") not in units]

    got: list[str] = []
    start = time.perf_counter()
    for name, files in sorted(units.items()):
        alone = Program.from_store(store, [f for f in order if f in files])
        for finding in to_json(list(checker.check(alone.apply_config(config), config))):
            if finding.get("function") == name:
                got.append(json.dumps(finding, sort_keys=True))
    units_s = time.perf_counter() - start
    same = sorted(got) == sorted(expected)
    print(f"KMI003 over the family's {len(family)} TUs: {len(expected)} findings "
          f"({family_s:.1f} s to load and run); each walker over its own TUs "
          f"({sum(sizes)} TUs summed, {units_s:.1f} s): {len(got)} findings; "
          f"{'identical' if same else 'DIFFERENT'}")
    if not same:
        for line in sorted(set(expected) - set(got)):
            print(f"  only over the family: {json.loads(line)['message'][:160]}")
        for line in sorted(set(got) - set(expected)):
            print(f"  only walker by walker: {json.loads(line)['message'][:160]}")
    print(f"functions converting pfns: {len(converting)}, of them not lexical walkers "
          f"(hidden conversions) {len(hidden)}: {', '.join(hidden[:12])}"
          f"{' ...' if len(hidden) > 12 else ''}; findings outside every walker: "
          f"{len(outside)}")
    for edit in args.edit:
        files = {f for f in known if f == edit or f.endswith("/" + edit.lstrip("/"))}
        reached = sorted(name for name, needs in units.items() if needs & files)
        needed = set().union(*(units[name] for name in reached))
        print(f"edit {edit}: {len(reached)} of {len(units)} walkers need it, "
              f"{len(needed)} TUs for them against the family's {len(family)}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
