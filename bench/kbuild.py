#!/usr/bin/env python3
"""The kbuild flow against sparse, and the whole-tree prefilter against parsing everything.

Usage: bench/kbuild.py --tree KTREE [--dir mm/] [-j 2] [--skip-kbuild] [--skip-prefilter]
                       [--compdb BIGGER/compile_commands.json]

kbuild (on --dir, objects already built, so make only runs the checker):
  sparse           `make -jN C=2 CHECK=sparse DIR`
  kmeminit cold    `make -jN C=2 CHECK=kmeminit-cc DIR` on an empty store   (ratio to sparse)
  kmeminit warm    the same again, nothing changed                          (ratio to sparse)
  report           `kmeminit report` over that store
  identical        fingerprints of report == `kmeminit check -p KTREE DIR` (its own store)
prefilter (every TU of the compile database, empty stores):
  all              `kmeminit check -p KTREE --no-prefilter`: TUs parsed, wall time
  prefilter        `kmeminit check -p KTREE --prefilter`: TUs parsed, wall time
  identical        the two finding sets, by fingerprint
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
KMEMINIT = [sys.executable, "-m", "kmeminit.analyzer.cli"]


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None
          ) -> tuple[float, subprocess.CompletedProcess[str]]:
    secs, proc, _ = measured(cmd, cwd, env)
    return secs, proc


def measured(cmd: list[str], cwd: Path, env: dict[str, str] | None = None
             ) -> tuple[float, subprocess.CompletedProcess[str], float]:
    """Wall seconds, the process, and the peak RSS in MiB of it and its worker processes
    (wait4's rusage covers the children it waited for)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        secs = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        proc = subprocess.CompletedProcess(cmd, child.returncode, out.read(), err.read())
    return secs, proc, usage.ru_maxrss / 1024


def by_fingerprint(path: Path) -> dict[str, dict]:
    return {f["fingerprint"]: f for f in json.loads(path.read_text())["findings"]}


def fingerprints(path: Path) -> set[str]:
    return set(by_fingerprint(path))


def parsed(stderr: str) -> int:
    return sum(int(m) for m in re.findall(r"TUs: (\d+) parsed", stderr))


def kbuild(tree: Path, directory: str, jobs: int, tmp: Path) -> None:
    cc = shutil.which("kmeminit-cc", path=str(BIN)) or "kmeminit-cc"
    make = ["make", "-s", f"-j{jobs}", "C=2"]
    sparse, proc = timed([*make, "CHECK=sparse", directory], tree)
    print(f"sparse          {sparse:7.1f} s  (exit {proc.returncode})")
    env = dict(os.environ, KMEMINIT_STORE=str(tmp / "kbuild.db"))
    cold, proc = timed([*make, f"CHECK={cc}", directory], tree, env)
    print(f"kmeminit cold   {cold:7.1f} s  {cold / sparse:5.2f} x sparse  (exit "
          f"{proc.returncode}, {proc.stderr.count('[KMI')} TU-local finding lines)")
    warm, proc = timed([*make, f"CHECK={cc}", directory], tree, env)
    print(f"kmeminit warm   {warm:7.1f} s  {warm / sparse:5.2f} x sparse")
    out = tmp / "report.json"
    rep, proc = timed([*KMEMINIT, "report", "--store", str(tmp / "kbuild.db"), "--format",
                       "json", "-o", str(out), "--fail-on", "none", "--source-root",
                       str(tree)], REPO)
    print(f"report          {rep:7.1f} s  {proc.stderr.strip().splitlines()[-1]}")
    check_out = tmp / "check.json"
    chk, proc = timed([*KMEMINIT, "check", "-p", str(tree), directory, "--store",
                       str(tmp / "check.db"), "--format", "json", "-o", str(check_out),
                       "--fail-on", "none", "--no-progress", "-j", str(jobs)], REPO)
    a, b = fingerprints(out), fingerprints(check_out)
    print(f"check (cold)    {chk:7.1f} s  findings report {len(a)}, check {len(b)}, "
          f"identical: {a == b} (only report {len(a - b)}, only check {len(b - a)})")


def prefilter(compdb: Path, jobs: int, tmp: Path) -> None:
    """Cold: TUs parsed, wall time, peak RSS.  Global phase: the same check again on its
    warm store (nothing parsed: loading the program, every rule, the output), wall and
    peak RSS.  Then the two results compared: fingerprints, messages, code flows."""
    results = {}
    for name, flag in (("all", "--no-prefilter"), ("prefilter", "--prefilter")):
        out = tmp / f"{name}.json"
        cmd = [*KMEMINIT, "check", "-p", str(compdb), flag, "--store",
               str(tmp / f"{name}.db"), "--format", "json", "-o", str(out),
               "--fail-on", "none", "--no-progress", "-j", str(jobs)]
        secs, proc, rss = measured(cmd, REPO)
        results[name] = by_fingerprint(out)
        rounds = [line for line in proc.stderr.splitlines() if "prefilter" in line]
        total = re.search(r"kmeminit: (\d+) TUs:", proc.stderr)
        print(f"{name:10} {parsed(proc.stderr):5d} of {total[1] if total else '?'} TUs "
              f"parsed  {secs:7.1f} s  peak {rss:6.0f} MiB  {len(results[name])} findings")
        for line in rounds:
            print(f"           {line}")
        secs, proc, rss = measured(cmd, REPO)
        print(f"{'':10} global phase (warm rerun, {parsed(proc.stderr)} parsed) {secs:7.1f} s  "
              f"peak {rss:6.0f} MiB")
    full, pre = results["all"], results["prefilter"]
    a, b = set(full), set(pre)
    print(f"identical: {a == b} (only all {len(a - b)}, only prefilter {len(b - a)})")
    both = sorted(a & b)
    messages = sum(full[k]["message"] != pre[k]["message"] for k in both)
    traces = sum(full[k]["trace"] != pre[k]["trace"] for k in both)
    print(f"of the {len(both)} shared findings: {messages} messages and {traces} traces differ")
    for k in both:
        if full[k]["message"] != pre[k]["message"]:
            print(f"  all:       {full[k]['message']}\n  prefilter: {pre[k]['message']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, required=True)
    ap.add_argument("--dir", default="mm/")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-kbuild", action="store_true")
    ap.add_argument("--skip-prefilter", action="store_true")
    ap.add_argument("--compdb", type=Path,
                    help="compile database for the prefilter runs (default: the tree's)")
    ap.add_argument("--keep", type=Path, metavar="DIR",
                    help="keep the stores and outputs in DIR (default: a temporary directory)")
    args = ap.parse_args()
    # as installed: kmeminit-cc starts once per TU, and compiling its modules every time
    # (PYTHONDONTWRITEBYTECODE) would cost more than the rest of its start
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="kmeminit-bench-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if not args.skip_kbuild:
            kbuild(args.tree.resolve(), args.dir, args.jobs, work)
        if not args.skip_prefilter:
            prefilter((args.compdb or args.tree).resolve(), args.jobs, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
