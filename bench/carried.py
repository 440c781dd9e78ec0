#!/usr/bin/env python3
"""Random edits of a whole tree's lexical scans: whenever the prefilter would carry its
demand over one (analyzer/prefilter.py `_carried`), a demand computed afresh over the
edited scans must be the same.

Usage: bench/carried.py (--compdb DB [--scans STORE] | --store KBUILD_STORE) [--trials N]
                        [--seed S] [--under mm/]

Each trial takes one file of the lexical index (under --under, if given), and either adds
a call from one of its definitions to a random name of the index ("call") or to a name
another definition of the same file calls ("near": a helper of its own subsystem), drops
one of a definition's calls ("uncall"), appends a new static function (calling nothing,
or a random name), or drops a definition.  The call edits take a definition the demand
asked about when the file has one.  It asks `prefilter.call_changes`, `_carried`'s test
(the changed items against what the demand asked about, seeds, mentions; the calls it
asked about against the demand's trace, analyzer/calltrace.py, which may also update the
demand from added calls), and when the test would carry or update the demand it computes
the demand again over the edited index and compares the TUs chosen, each family's TUs, and
the levels the growth reports.
Prints every trial and the counts (and those computed again by kind of edit); exits 1 if
a carried or updated demand differed.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
from pathlib import Path
from typing import Any

from kmeminit.analyzer import prefilter
from kmeminit.analyzer.calltrace import CallTrace, StoredTrace
from kmeminit.analyzer.cli.session import tune_collector
from kmeminit.analyzer.compdb import load_entries
from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.lexindex import LexFile, LexFunction, keys_of
from kmeminit.analyzer.store import FactStore


class Swapped:
    """The stored scans, with one file's scan replaced."""

    def __init__(self, inner: Any, path: str, lex: LexFile) -> None:
        self.inner, self.path, self.lex = inner, path, lex

    def get(self, path: str, digest: str) -> LexFile | None:
        return self.lex if path == self.path else self.inner.get(path, digest)

    def put(self, *_: Any) -> None:
        pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--compdb", type=Path)
    where.add_argument("--store", type=Path, help="a kbuild store: its recorded commands")
    ap.add_argument("--scans", type=Path,
                    help="with --compdb: the store to keep the lexical scans in (default: "
                         "the tree's .kmeminit/facts.db)")
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--under", default="", help="only files whose path contains this")
    args = ap.parse_args()
    tune_collector()
    random.seed(args.seed)
    config = load_config()
    if args.compdb:
        entries = load_entries(args.compdb, config)[0]
        store = FactStore(args.scans or args.compdb.parent / ".kmeminit" / "facts.db")
    else:
        store = FactStore(args.store)
        entries = [c.entry() for c in store.commands()]
    scans = prefilter.StoredScans(store, config)
    vocabulary = scans.vocabulary

    def demand(source: Any) -> tuple[Any, set[str], Any]:
        lex = prefilter.build_lexindex(entries, config, source)
        lex.queried, lex.trace = set(), CallTrace()
        report = prefilter.PrefilterReport(len(entries))
        chosen = prefilter._demand(entries, lex, config, report)
        return lex, chosen, report

    base, chosen, report = demand(scans)
    scopes = (report.scopes, report.levels, report.bounded)
    asked = base.queried or set()
    assert base.trace is not None
    encoded = base.trace.encode(base.answers(), base.files_of,
                                sorted(e.file for e in entries), prefilter.key_flags(base))
    assert encoded is not None
    trace = StoredTrace(encoded)
    rows = [(path, owner, header) for path, _, owner, header in prefilter.lexical_files(entries)
            if base.files.get(path) and base.files[path].functions and args.under in path]
    names = sorted(base.defs)
    carried = recomputed = wrong = by_trace = updated = 0
    kinds = ("call", "near", "uncall", "new", "drop")
    tried = dict.fromkeys(kinds, 0)  # trials by kind of edit, and those computed again
    again_by = dict.fromkeys(kinds, 0)
    for trial in range(args.trials):
        path, owner, header = random.choice(rows)
        old = base.files[path]
        fns = list(old.functions)
        key = keys_of(path, old, owner, header)
        on_paths = [j for j, fn in enumerate(fns) if key(fn.name) in asked]
        kind = random.choice(kinds)
        i = random.choice(on_paths) if on_paths and kind in ("call", "near", "uncall") \
            else random.randrange(len(fns))
        if kind == "call":
            fns[i] = fns[i]._replace(calls=fns[i].calls | {random.choice(names).split("@")[0]})
        elif kind == "near":
            local = sorted({c for fn in fns for c in fn.calls} - fns[i].calls)
            if not local:
                continue
            fns[i] = fns[i]._replace(calls=fns[i].calls | {random.choice(local)})
        elif kind == "uncall":
            if not fns[i].calls:
                continue
            fns[i] = fns[i]._replace(calls=fns[i].calls - {random.choice(sorted(fns[i].calls))})
        elif kind == "new":
            calls = frozenset({random.choice(names).split("@")[0]}) \
                if random.random() < 0.5 else frozenset()
            fns.append(LexFunction(f"kmeminit_trial_{trial}", path, 0, True, False, False,
                                   frozenset(), calls, frozenset(), frozenset(), frozenset()))
        else:
            fns.pop(i)
        new = dataclasses.replace(old, functions=tuple(fns))
        tried[kind] += 1
        calls = prefilter.call_changes(asked, vocabulary, path, owner, header, old, new)
        if calls is not None:  # as prefilter._carried takes them
            calls = (prefilter.index_steps(calls[0], config),
                     prefilter.index_steps(calls[1], config))
        patched = None
        if calls is not None and (calls[0] or calls[1]) and \
                not trace.keeps(calls[0], calls[1], prefilter.CHAIN_SLACK):
            patched = trace.patch(calls[0], calls[1], prefilter.CHAIN_SLACK)
            if patched is None:
                calls = None
        if calls is None:
            recomputed += 1
            again_by[kind] += 1
            print(f"{trial:3} {kind:6} {path}: computed again", flush=True)
            continue
        carried += patched is None
        updated += patched is not None
        by_trace += bool(calls[0] or calls[1]) and patched is None
        lex, again, again_report = demand(Swapped(scans, path, new))
        if patched is not None:
            # (each walker's own TUs are not known after changed calls: units None)
            same = prefilter._patched_demand(patched, sorted(report.walkers)) == \
                dict(prefilter._stored_demand(again, again_report), units=None)
        else:
            same = again == chosen and \
                (again_report.scopes, again_report.levels, again_report.bounded) == scopes
        wrong += not same
        how = " updated" if patched else " carried (the trace)" if calls[0] or calls[1] \
            else " carried"
        print(f"{trial:3} {kind:6} {path}:{how}, {'same' if same else 'DIFFERENT'}",
              flush=True)
    print(f"{args.trials} trials: carried {carried} ({by_trace} by the calls' trace), "
          f"updated from the trace {updated}, computed again {recomputed}, carried or "
          f"updated but different {wrong}")
    print("computed again, by kind of edit: " + ", ".join(
        f"{kind} {again_by[kind]} of {tried[kind]}" for kind in kinds))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
