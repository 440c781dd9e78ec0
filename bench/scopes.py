#!/usr/bin/env python3
"""Each rule over its own family's TUs against over every TU the prefilter chooses.

Usage: bench/scopes.py --compdb KTREE/compile_commands.full.json --store STORE

STORE must hold the facts of the chosen TUs (a `kmeminit check --prefilter` of the same
database leaves them).  The prefilter's demand is computed afresh (its lexical index of the
whole database: seconds), then each rule runs over the program of the TUs of the families
it names (`demand`), then over those together with each other family's, and over the
program of all chosen TUs; their findings, code flows included, must be identical: what
lets a run keep a rule's result while its family's TUs are unchanged (analyzer/memo.py),
and run several families over one program (analyzer/families.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from kmeminit.analyzer import prefilter
from kmeminit.analyzer.cli.session import tune_collector
from kmeminit.analyzer.compdb import load_entries
from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.model import to_json
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.rules import build_rules
from kmeminit.analyzer.store import FactStore


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compdb", type=Path, required=True)
    ap.add_argument("--store", type=Path, required=True)
    args = ap.parse_args()
    tune_collector()
    config = load_config()
    entries = load_entries(args.compdb, config)[0]
    store = FactStore(args.store)
    start = time.perf_counter()
    report = prefilter.PrefilterReport(len(entries))
    chosen = prefilter._demand(entries, prefilter.build_lexindex(entries, config), config,
                               report)
    print(f"demand {time.perf_counter() - start:.1f} s: {len(chosen)} of {len(entries)} "
          f"TUs; " + ", ".join(f"{family} {len(files)}"
                               for family, files in report.scopes.items()))
    order = [e.file for e in entries]
    checkers, _ = build_rules(None, config)
    whole = Program.from_store(store, [f for f in order if f in chosen]).apply_config(config)
    expected = {c.id: to_json(list(c.check(whole, config))) for c in checkers}
    del whole
    different = 0
    # each rule over its families' TUs, and over those together with another family's
    # (what a worker running several families over one program gives it)
    for family in [None, *report.scopes]:
        extra = report.scopes[family] if family else frozenset()
        for checker in checkers:
            if family in checker.demand:
                continue
            scope = set().union(*(report.scopes[f] for f in checker.demand)) | extra
            alone = Program.from_store(store, [f for f in order if f in scope])
            got = to_json(list(checker.check(alone.apply_config(config), config)))
            same = got == expected[checker.id]
            different += not same
            print(f"{checker.id} over {len(scope)} of {len(chosen)} TUs "
                  f"({'+'.join(checker.demand)}{' and ' + family if family else ''}): "
                  f"{len(got)} findings, over all {len(expected[checker.id])}: "
                  f"{'identical' if same else 'DIFFERENT'}", flush=True)
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
