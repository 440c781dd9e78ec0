#!/usr/bin/env python3
"""Speed and memory of `kmeminit index` against `clang -fsyntax-only` on the same TUs.

Usage: bench/bench.py --tree KTREE [--paths mm/] [--clang clang-19] [--repeat 2] [--heavy-only]

Prints one table of ratios measured in this run:
  floor            summed per-TU `clang -fsyntax-only` seconds (serial, best of --repeat),
                   same arguments
  cold -j1         `kmeminit index -j1` on an empty store        target <= 1.3 x floor
  heavy -j1        the same on the 12 heavy hotplug TUs alone    target <= 1.3 x their floor
  cold -j2         `kmeminit index -j2` on an empty store        target <= 0.7 x floor
  warm             rerun, nothing changed                        target <= 3 s
  one .c changed   rerun after editing one .c file               target <= its parse + 2 s
  peak RSS         largest process of the runs above             target <= 1.5 GiB
The edited file is restored byte for byte afterwards.  --heavy-only measures the floor
and the cold -j1 index of the heavy TUs alone (one row, nothing edited).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kmeminit.analyzer.compdb import open_compdb  # noqa: E402
from kmeminit.analyzer.config import load_config  # noqa: E402


def child_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def clang_floor(clang: str, entries: list, repeat: int,
                cpu: dict[str, float] | None = None) -> tuple[float, dict[str, float]]:
    """Summed best wall time per TU; `cpu` receives each TU's best CPU time."""
    per_tu: dict[str, float] = {}
    for entry in entries:
        runs, cpus = [], []
        for _ in range(repeat):
            start, start_cpu = time.perf_counter(), child_cpu()
            subprocess.run([clang, "-fsyntax-only", *entry.clang_args, entry.file],
                           cwd=entry.directory, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
            runs.append(time.perf_counter() - start)
            cpus.append(child_cpu() - start_cpu)
        per_tu[entry.file] = min(runs)
        if cpu is not None:
            cpu[entry.file] = min(cpus)
    return sum(per_tu.values()), per_tu


# The hotplug TUs whose extraction costs most (mm/ of 6.12, this config)
HEAVY = ["mm/memremap.c", "mm/memory_hotplug.c", "mm/mm_init.c", "mm/page_alloc.c",
         "mm/sparse.c", "mm/sparse-vmemmap.c", "mm/hmm.c", "mm/migrate_device.c",
         "mm/memory-failure.c", "mm/page_owner.c", "mm/memory.c", "mm/hugetlb.c"]


def kmeminit_index(tree: Path, paths: list[str], store: Path, jobs: int) -> float:
    cmd = [sys.executable, "-m", "kmeminit.analyzer.cli", "index", "-p", str(tree),
           "--store", str(store), "-j", str(jobs), "--no-progress", *paths]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    summary = [line for line in proc.stderr.splitlines() if line.startswith("kmeminit:")]
    print(f"  $ kmeminit index -j{jobs}: {elapsed:.1f} s  {summary[-1] if summary else ''}",
          file=sys.stderr)
    if proc.returncode not in (0, 2):
        sys.exit(f"bench: kmeminit index failed:\n{proc.stderr[-2000:]}")
    return elapsed


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def heavy_only(tree: Path, heavy: list[str], heavy_floor: float, floor_cpu: float) -> int:
    """The heavy row alone, plus the same ratio in CPU seconds (parent and worker against
    clang's own), which other jobs on the machine disturb less than wall time."""
    with tempfile.TemporaryDirectory(prefix="kmeminit-bench-") as tmp:
        start_cpu = child_cpu()
        heavy_cold = kmeminit_index(tree, heavy, Path(tmp, "heavy.db"), 1)
        index_cpu = child_cpu() - start_cpu
    ratio = heavy_cold / heavy_floor if heavy_floor else 0.0
    print(f"\nkmeminit bench — {len(heavy)} heavy TUs, floor {heavy_floor:.1f} s, "
          f"{floor_cpu:.1f} s CPU ({os.cpu_count()} CPUs)")
    name = f"cold index -j1 / floor, {len(heavy)} heavy TUs"
    print(f"  {name:48} {ratio:8.2f}   target {'<= 1.30':12} "
          f"{'ok' if heavy_floor and ratio <= 1.3 else 'MISSED'}")
    cpu_name = f"  the same in CPU seconds ({index_cpu:.1f} s)"
    print(f"  {cpu_name:48} {index_cpu / floor_cpu if floor_cpu else 0.0:8.2f}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, required=True)
    ap.add_argument("--paths", nargs="*", default=["mm/"])
    ap.add_argument("--clang", default=shutil.which("clang-19") or shutil.which("clang")
                    or "clang")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--touch", default="mm/memremap.c", help="file edited for the warm test")
    ap.add_argument("--heavy-only", action="store_true",
                    help="only the heavy TUs' cold -j1 index against their floor")
    args = ap.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    config = load_config()
    paths = HEAVY if args.heavy_only else args.paths
    db = open_compdb(args.tree, config, paths)
    root, selected = db.source_root, db.entries
    print(f"bench: {len(selected)} TUs under {' '.join(paths)} in {root}", file=sys.stderr)

    floor_cpu: dict[str, float] = {}
    floor, per_tu = clang_floor(args.clang, selected, args.repeat, floor_cpu)
    print(f"  floor ({args.clang} -fsyntax-only, serial sum): {floor:.1f} s", file=sys.stderr)
    heavy = [f for f in HEAVY if str(Path(root, f).resolve()) in per_tu]
    heavy_floor = sum(per_tu[str(Path(root, f).resolve())] for f in heavy)
    if args.heavy_only:
        return heavy_only(args.tree, heavy, heavy_floor,
                          sum(floor_cpu[str(Path(root, f).resolve())] for f in heavy))
    with tempfile.TemporaryDirectory(prefix="kmeminit-bench-") as tmp:
        heavy_cold = kmeminit_index(args.tree, heavy, Path(tmp, "heavy.db"), 1)
        cold1 = kmeminit_index(args.tree, args.paths, Path(tmp, "j1.db"), 1)
        cold2 = kmeminit_index(args.tree, args.paths, Path(tmp, "j2.db"), 2)
        warm = kmeminit_index(args.tree, args.paths, Path(tmp, "j2.db"), 2)
        touched = Path(root, args.touch)
        original = touched.read_bytes()
        try:
            touched.write_bytes(original + b"\n/* kmeminit bench edit */\n")
            one = kmeminit_index(args.tree, args.paths, Path(tmp, "j2.db"), 2)
        finally:
            touched.write_bytes(original)
        one_parse = per_tu.get(str(touched.resolve()), 0.0)
    rss = peak_rss_mib()
    rows = [
        (f"cold index -j1 / floor, {len(heavy)} heavy TUs ({heavy_floor:.1f} s)",
         heavy_cold / heavy_floor if heavy_floor else 0.0, "<= 1.30"),
        ("cold index -j1 / floor", cold1 / floor, "<= 1.30"),
        ("cold index -j2 / floor", cold2 / floor, "<= 0.70"),
        ("warm rerun (s)", warm, "<= 3.0"),
        (f"one .c edited (s) vs its parse + 2 ({one_parse + 2:.1f})", one, "<= parse+2"),
        ("peak RSS (MiB)", rss, "<= 1536"),
    ]
    ok = [heavy_floor and heavy_cold / heavy_floor <= 1.3, cold1 / floor <= 1.3,
          cold2 / floor <= 0.7, warm <= 3.0, one <= one_parse + 2, rss <= 1536]
    print(f"\nkmeminit bench — {len(selected)} TUs, floor {floor:.1f} s "
          f"({os.cpu_count()} CPUs)")
    for (name, value, target), good in zip(rows, ok, strict=True):
        print(f"  {name:48} {value:8.2f}   target {target:12} {'ok' if good else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
