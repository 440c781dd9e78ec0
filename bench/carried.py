#!/usr/bin/env python3
"""Random edits of a whole tree's lexical scans: whenever the prefilter would carry its
demand over one (analyzer/prefilter.py `_carried`), a demand computed afresh over the
edited scans must be the same.

Usage: bench/carried.py (--compdb DB | --store KBUILD_STORE) [--trials N] [--seed S]
                        [--under mm/]

Each trial takes one file of the lexical index (under --under, if given), and either adds
a call from one of its definitions to a random name of the index, appends a new static
function (calling nothing, or a random name), or drops a definition; it asks
`prefilter.reaches_demand`, `_carried`'s test (the changed items against what the demand
asked about, seeds, mentions), and when the test would carry the demand it computes the
demand again over the edited index and compares the TUs chosen and each family's TUs.
Prints every carried trial and the counts; exits 1 if a carried demand differed.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
from pathlib import Path
from typing import Any

from kmeminit.analyzer import prefilter
from kmeminit.analyzer.cli.session import tune_collector
from kmeminit.analyzer.compdb import CompileEntry, load_entries
from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.lexindex import LexFile, LexFunction
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
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--under", default="", help="only files whose path contains this")
    args = ap.parse_args()
    tune_collector()
    random.seed(args.seed)
    config = load_config()
    if args.compdb:
        entries = load_entries(args.compdb, config)[0]
        store = FactStore(args.compdb.parent / ".kmeminit" / "facts.db")
    else:
        store = FactStore(args.store)
        entries = [CompileEntry(c.file, c.directory, c.arguments, c.clang_args, (), c.arch)
                   for c in store.commands()]
    scans = prefilter.StoredScans(store, config)
    vocabulary = scans.vocabulary

    def demand(source: Any) -> tuple[Any, set[str], dict[str, frozenset[str]]]:
        lex = prefilter.build_lexindex(entries, config, source)
        lex.queried = set()
        report = prefilter.PrefilterReport(len(entries))
        chosen = prefilter._demand(entries, lex, config, report)
        return lex, chosen, report.scopes

    base, chosen, scopes = demand(scans)
    asked = base.queried or set()
    rows = [(path, owner, header) for path, _, owner, header in prefilter.lexical_files(entries)
            if base.files.get(path) and base.files[path].functions and args.under in path]
    names = sorted(base.defs)
    carried = recomputed = wrong = 0
    for trial in range(args.trials):
        path, owner, header = random.choice(rows)
        old = base.files[path]
        fns = list(old.functions)
        i = random.randrange(len(fns))
        kind = random.choice(["call", "new", "drop"])
        if kind == "call":
            fns[i] = fns[i]._replace(calls=fns[i].calls | {random.choice(names).split("@")[0]})
        elif kind == "new":
            calls = frozenset({random.choice(names).split("@")[0]}) \
                if random.random() < 0.5 else frozenset()
            fns.append(LexFunction(f"kmeminit_trial_{trial}", path, 0, True, False, False,
                                   frozenset(), calls, frozenset(), frozenset(), frozenset()))
        else:
            fns.pop(i)
        new = dataclasses.replace(old, functions=tuple(fns))
        if prefilter.reaches_demand(asked, vocabulary, path, owner, header, old, new):
            recomputed += 1
            continue
        carried += 1
        _, again, again_scopes = demand(Swapped(scans, path, new))
        same = again == chosen and again_scopes == scopes
        wrong += not same
        print(f"{trial:3} {kind:4} {path}: carried, {'same' if same else 'DIFFERENT'}",
              flush=True)
    print(f"{args.trials} trials: carried {carried}, computed again {recomputed}, carried but "
          f"different {wrong}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
