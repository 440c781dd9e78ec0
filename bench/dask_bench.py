#!/usr/bin/env python3
"""`--executor dask` against local worker processes, on the same compile database.

Usage: bench/dask_bench.py --compdb compile_commands.json [-j 2] [--keep DIR] [PATH ...]

Starts a dask.distributed LocalCluster of -j worker processes (one thread each) in this
process, then runs, each on an empty store:
  dask     kmeminit check -p COMPDB --executor dask --scheduler <the cluster>
  local    kmeminit check -p COMPDB -j N
and prints the wall time of each, whether the findings (fingerprints, messages, code flows)
are identical, and what a task sends back: the pickled facts of one TU (its functions and
the header functions it reaches, as a cold task extracts them), per TU, from the store.
Needs `pip install 'kmeminit[dask]'`.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KMEMINIT = [sys.executable, "-m", "kmeminit.analyzer.cli"]
REPO = Path(__file__).resolve().parent.parent


def check(args: list[str], out: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([*KMEMINIT, "check", *args, "--format", "json", "-o", str(out),
                           "--fail-on", "none", "--no-progress"], cwd=REPO,
                          capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1):
        sys.exit(f"bench: kmeminit check failed:\n{proc.stderr[-3000:]}")
    summary = [x for x in proc.stderr.splitlines() if " TUs: " in x]
    return time.perf_counter() - start, summary[-1] if summary else ""


def findings(path: Path) -> dict[str, tuple[str, str]]:
    return {f["fingerprint"]: (f["message"], json.dumps(f["trace"]))
            for f in json.loads(path.read_text())["findings"]}


def transfer_sizes(store_path: Path) -> list[int]:
    """Bytes of the pickled TUFacts a cold task returns, per stored TU."""
    from kmeminit.analyzer.model import TUFacts
    from kmeminit.analyzer.store import FactStore

    store = FactStore(store_path)
    sizes = []
    for tu in store.iter_tus():
        headers = store.header_functions_reached([tu])
        sent = TUFacts(tu.file, tu.functions + tuple(headers), tu.fp_stores, tu.includes,
                       tu.notifications, tu.parse_seconds)
        sizes.append(len(pickle.dumps(sent, protocol=pickle.HIGHEST_PROTOCOL)))
    store.close()
    return sizes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compdb", type=Path, required=True)
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--keep", type=Path, metavar="DIR")
    ap.add_argument("paths", nargs="*")
    args = ap.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    from distributed import LocalCluster

    with tempfile.TemporaryDirectory(prefix="kmeminit-dask-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        common = ["-p", str(args.compdb.resolve()), *args.paths]
        with LocalCluster(n_workers=args.jobs, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster:
            dask_s, dask_line = check([*common, "--executor", "dask", "--scheduler",
                                       cluster.scheduler_address, "--store",
                                       str(work / "dask.db"), "-j", str(args.jobs)],
                                      work / "dask.json")
        local_s, local_line = check([*common, "--store", str(work / "local.db"), "-j",
                                     str(args.jobs)], work / "local.json")
        a, b = findings(work / "dask.json"), findings(work / "local.json")
        print(f"dask   ({args.jobs} worker processes) {dask_s:7.1f} s  {dask_line}")
        print(f"local  (-j{args.jobs})                 {local_s:7.1f} s  {local_line}")
        print(f"dask / local {dask_s / local_s:.2f}; findings {len(a)} and {len(b)}, "
              f"identical fingerprints: {set(a) == set(b)}, messages and code flows: "
              f"{a == b}")
        sizes = transfer_sizes(work / "dask.db")
        if sizes:
            print(f"facts per task (pickled, {len(sizes)} TUs): median "
                  f"{statistics.median(sizes) / 1024:.0f} KiB, mean "
                  f"{statistics.mean(sizes) / 1024:.0f} KiB, max {max(sizes) / 1024:.0f} KiB, "
                  f"total {sum(sizes) / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
