#!/usr/bin/env python3
"""Time the global phase on an indexed store: load the program model, build the call graph,
answer the VALID → UNLOCK → INIT query from every device/hotplug entry, and run the origin
analysis for `struct vmem_altmap *`.  Prints the model's size and each phase's seconds.

Usage: bench/global_phase.py --tree KTREE [PATH ...]   (index first: kmeminit index -p KTREE ...)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kmeminit.analyzer.compdb import open_compdb  # noqa: E402
from kmeminit.analyzer.config import load_config  # noqa: E402
from kmeminit.analyzer.dataflow.ordering import OrderingEngine, Query  # noqa: E402
from kmeminit.analyzer.dataflow.origins import OriginEngine, OriginSpec  # noqa: E402
from kmeminit.analyzer.program import Program  # noqa: E402
from kmeminit.analyzer.store import FactStore  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, required=True)
    ap.add_argument("--store", type=Path)
    ap.add_argument("paths", nargs="*")
    args = ap.parse_args()
    config = load_config()
    db = open_compdb(args.tree, config, args.paths)
    store = FactStore(args.store or Path(db.source_root) / ".kmeminit" / "facts.db")
    times: dict[str, float] = {}

    start = time.perf_counter()
    program = Program.from_store(store, [e.file for e in db.entries])
    times["load facts"] = time.perf_counter() - start
    start = time.perf_counter()
    stats = program.stats()
    times["call graph"] = time.perf_counter() - start

    start = time.perf_counter()
    engine = OrderingEngine(program, config.name_sets("events"))
    query = Query.sequence("VALID", "UNLOCK", "INIT", kills={1: ["INIT"], 2: ["LOCK"]})
    entries = config.name_sets("entries")
    hits = [n for n in program.usrs_named(entries["device"] | entries["hotplug"])
            if n in program.functions and engine.holds(n, query)]
    times["ordering (all entries)"] = time.perf_counter() - start

    start = time.perf_counter()
    section = config.get("origins", "struct vmem_altmap *")
    origins = OriginEngine(program, OriginSpec("struct vmem_altmap *",
                                               frozenset(section["allocators"]),
                                               tuple(section["embedded_helpers"].items())))
    tracked = len(list(origins.variables()))
    times["origins"] = time.perf_counter() - start

    print(f"slice: {len(db.entries)} TUs; " + ", ".join(f"{k} {v}" for k, v in stats.items()))
    print(f"window VALID->UNLOCK->INIT holds from: "
          f"{sorted(program.name_of(h) for h in hits)}; altmap variables: {tracked}")
    for name, seconds in times.items():
        print(f"  {name:28} {seconds:6.2f} s")
    print(f"  {'global phase total':28} {sum(times.values()):6.2f} s   (target <= 10 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
