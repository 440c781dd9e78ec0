#!/usr/bin/env python3
"""Time the SARIF output of a big result: GitHub's limit of 25,000 results per run.

Usage: bench/sarif.py [--results 25000] [--files 250] [--repeat 3]

Writes a synthetic source tree to a temporary directory (FILES C files of 200 lines) and
times the way from the checkers' findings to the text of the SARIF file: the triage
stage (fingerprints, ordering), the log, GitHub's size check and the JSON text.
Three workloads:
  bare             findings with a message and a location        target < 3 s
  related          each with one related location as well
  traced           and a three-step trace, as KMI003 reports them (4.5x bare's text)
Each figure is the best of REPEAT runs, wall clock and CPU time of this process (the
second is steadier on a shared machine).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kmeminit.analyzer.model import Level, Location  # noqa: E402
from kmeminit.analyzer.results import (  # noqa: E402
    Finding,
    Invocation,
    Related,
    RuleMeta,
    RunResult,
    Step,
)
from kmeminit.analyzer.triage import triage  # noqa: E402
from kmeminit.sarif.writer import build_sarif  # noqa: E402

LINES = 200
RULES = tuple(RuleMeta(f"KMI00{i}", f"rule-{i}", Level.WARNING, "high", ("correctness",),
                       "Short.", "Full.", "## What it finds\nthings\n") for i in range(1, 8))


def make_tree(root: Path, files: int) -> list[str]:
    paths = []
    for i in range(files):
        path = root / "mm" / f"file{i:04d}.c"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"\tpage = pfn_to_page(pfn + {n}); /* line {n} */\n"
                                for n in range(LINES)))
        paths.append(str(path))
    return paths


def make_result(root: Path, paths: list[str], count: int, workload: str) -> RunResult:
    findings = []
    for n in range(count):
        file = paths[n % len(paths)]
        line = 1 + (n // len(paths)) % (LINES - 3)
        loc = Location(file, line, 2, line, 30)
        findings.append(Finding.make(
            RULES[n % len(RULES)].id, (Level.WARNING, Level.NOTE, Level.ERROR)[n % 3],
            "{fn}() reads the struct page of [pfn](1) number {n}", loc, f"walker{n % 97}",
            related=((Related(1, Location(file, line + 1, 3), "pfn comes from here"),)
                     if workload != "bare" else ()),
            trace=(Step(Location(file, line + 1, 3), "pfn_to_page(pfn) converts the pfn", 0,
                        f"walker{n % 97}"),
                   Step(Location(file, line + 2, 4), "pfn_valid() only", 1, "helper"),
                   Step(loc, "page used", 1, "helper")) if workload == "traced" else (),
            fn="page_zone", n=str(n)))
    invocation = Invocation("kmeminit check", ("kmeminit", "check"), str(root),
                            "2025-01-01T00:00:00Z", "2025-01-01T00:00:01Z", True, str(root))
    return RunResult(RULES, tuple(findings), (), invocation, {"functions": "97"})


def sarif_text(result: RunResult) -> str:
    return build_sarif(triage(result)).text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=int, default=25_000)
    ap.add_argument("--files", type=int, default=250)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kmeminit-bench-") as tmp:
        root = Path(tmp)
        paths = make_tree(root, args.files)
        for name in ("bare", "related", "traced"):
            result = make_result(root, paths, args.results, name)
            times, cpu, size = [], [], 0
            for _ in range(args.repeat):
                clock, cpu_clock = time.perf_counter(), time.process_time()
                size = len(sarif_text(result).encode("utf-8"))
                times.append(time.perf_counter() - clock)
                cpu.append(time.process_time() - cpu_clock)
            print(f"{name:8} {args.results} results  best {min(times):.2f} s  "
                  f"(cpu {min(cpu):.2f} s; runs: {', '.join(f'{t:.2f}' for t in times)})  "
                  f"{size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
