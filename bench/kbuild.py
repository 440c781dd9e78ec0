#!/usr/bin/env python3
"""The kbuild flow against sparse, and the whole-tree prefilter against parsing everything.

Usage: bench/kbuild.py --tree KTREE [--dir mm/|vmlinux] [-j 2] [--skip-kbuild] [--skip-prefilter]
                       [--compdb BIGGER/compile_commands.json] [--keep DIR] [--edit FILE]...
                       [--compare CHECK.json] [--only-edits]

kbuild (on --dir, objects already built, so make only runs the checker; it edits --edit and
restores it, so give it a tree of your own):
  make alone       `make -jN C=2 CHECK=true DIR`: kbuild's own cost
  sparse           `make -jN C=2 CHECK=sparse DIR`
  kmeminit cold    `make -jN C=2 CHECK=kmeminit-cc DIR` on an empty store   (ratio to sparse)
  report           `kmeminit report`: parses the recorded TUs the rules need, runs them
  warm             make again, nothing changed                              (ratio to sparse)
  per TU           (run - make alone) x N / TUs, sparse and kmeminit warm
  one edited file  a comment appended to --edit, then a one-line code change of it
                   (CODE_EDITS), a function appended (a lexical change: the prefilter's
                   demand is carried when it reaches nothing the demand asked), then a
                   call added on the demand's own paths (CALL_EDITS: the demand is
                   updated from the call, or computed again), then a call removed on
                   them (REMOVED_CALLS: the demand is computed again): make C=2 of its
                   object, then report; the rules taken from the store, and whether the demand
                   was carried, updated or computed again, are named (--edit may be
                   repeated)
  identical        fingerprints of report == those of --compare (a check of the same tree)
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
import sqlite3
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


# one-line code changes (bench/diff.py's) for --edit: they change the TU's facts
CODE_EDITS = {
    "mm/memremap.c": (b"\tmem_hotplug_done();\n\tif (error)\n\t\tgoto err_add_memory;",
                      b"\tif (error) {\n\t\tmem_hotplug_done();\n\t\tgoto err_add_memory;\n\t}"),
    "mm/page_owner.c": (b"page = pfn_to_online_page(pfn);",
                        b"page = pfn_valid(pfn) ? pfn_to_page(pfn) : NULL;"),
    # a TU only the walkers' rule (KMI003) needs: the other rules are taken from the store
    "arch/x86/mm/pat/memtype.c": (b"\t\tset_page_memtype(page, _PAGE_CACHE_MODE_WB);\n\t}\n"
                                  b"\treturn 0;\n}\n\nstatic u64 sanitize_phys",
                                  b"\t\tset_page_memtype(page, _PAGE_CACHE_MODE_WC);\n\t}\n"
                                  b"\treturn 0;\n}\n\nstatic u64 sanitize_phys"),
}
# a function appended: a lexical change, which the prefilter's demand is carried over
NEW_FUNCTION = b"\nstatic int __maybe_unused kmeminit_bench_probe(int x)\n{\n\treturn x + 1;\n}\n"
# a call added on the demand's own paths (pagemap_range() lies on the chains from the
# hotplug entry points): the prefilter cannot carry its demand over it, and updates it
# from the added call (analyzer/calltrace.py), or computes it again
CALL_EDITS = {
    "mm/memremap.c": (b"\tint error, is_ram;\n\n\tif (WARN_ONCE(pgmap_altmap(pgmap)",
                      b"\tint error, is_ram;\n\n\tlru_add_drain_all();\n"
                      b"\tif (WARN_ONCE(pgmap_altmap(pgmap)"),
}
# a call removed on those paths: the demand is updated from the removed call when nothing
# else may still make it (one definition of each, no call through a field or variable),
# the walks it set levels in walked again (analyzer/calltrace.py); otherwise computed
# again.  In a run of every edit this one follows the added call's restore, so the store's
# trace differs from it by two removed calls
REMOVED_CALLS = {
    "mm/memremap.c": (b"\t\terror = kasan_add_zero_shadow(__va(range->start), "
                      b"range_len(range));", b"\t\terror = 0;"),
}


def kbuild(tree: Path, directory: str, jobs: int, tmp: Path, edit: list[str],
           compare: Path | None) -> None:
    """make C=2 with sparse, then with kmeminit-cc cold and warm, each report, one edited
    file; the per-TU overheads from make's own cost (CHECK=true, a checker that does
    nothing); the report's findings against `check`'s."""
    cc = shutil.which("kmeminit-cc", path=str(BIN)) or "kmeminit-cc"
    make = ["make", "-s", f"-j{jobs}", "C=2"]
    store = tmp / "kbuild.db"
    env = dict(os.environ, KMEMINIT_STORE=str(store))
    report_cmd = [*KMEMINIT, "report", "--store", str(store), "--format", "json", "-o",
                  str(tmp / "report.json"), "--fail-on", "none", "--no-progress", "-j",
                  str(jobs)]
    base, _ = timed([*make, "CHECK=true", directory], tree)
    print(f"make alone      {base:7.1f} s  (CHECK=true: kbuild's own cost of C=2)")
    sparse, proc = timed([*make, "CHECK=sparse", directory], tree)
    checked = proc.stderr.count("\n")
    print(f"sparse          {sparse:7.1f} s  (exit {proc.returncode}, {checked} lines)")
    cold, proc = timed([*make, f"CHECK={cc}", directory], tree, env)
    con = sqlite3.connect(store)
    recorded = con.execute("SELECT count(*) FROM lex_tus").fetchone()[0]
    parsed_cc = con.execute("SELECT count(*) FROM tus").fetchone()[0]
    print(f"kmeminit cold   {cold:7.1f} s  {cold / sparse:5.2f} x sparse  (exit "
          f"{proc.returncode}; {recorded} TUs seen, {parsed_cc} parsed, "
          f"{proc.stderr.count('[KMI')} TU-local finding lines)")
    rep, proc = timed(report_cmd, REPO)
    lines = proc.stderr.strip().splitlines()
    print(f"report          {rep:7.1f} s  {parsed(proc.stderr)} TUs parsed; "
          f"{lines[-1] if lines else ''}")
    print(f"cold + report   {cold + rep:7.1f} s  {(cold + rep) / sparse:5.2f} x sparse  "
          f"(target <= 2.0)")
    warm, proc = timed([*make, f"CHECK={cc}", directory], tree, env)
    print(f"kmeminit warm   {warm:7.1f} s  {warm / sparse:5.2f} x sparse  (target <= 1.2)")
    n = recorded or 1
    print(f"per TU, over make alone: sparse {(sparse - base) * jobs / n * 1000:6.1f} ms, "
          f"kmeminit warm {(warm - base) * jobs / n * 1000:6.1f} ms "
          f"({parsed_cc} cached, {recorded - parsed_cc} skipped; bench/startup.py --tree "
          f"splits the two)")
    rep2, proc = timed(report_cmd, REPO)
    print(f"report (warm)   {rep2:7.1f} s  {parsed(proc.stderr)} TUs parsed")
    if compare is not None:
        a, b = fingerprints(tmp / "report.json"), fingerprints(compare)
        print(f"report vs {compare.name}: {len(a)} and {len(b)} findings, identical: "
              f"{a == b} (only report {len(a - b)}, only {compare.name} {len(b - a)})")
    for one in edit:
        edited(tree, one, make, cc, env, con, report_cmd)


def edited(tree: Path, edit: str, make: list[str], cc: str, env: dict[str, str],
           con: sqlite3.Connection, report_cmd: list[str]) -> None:
    """One edited file on a warm store: a comment appended, then a one-line code change;
    each `make C=2` of its object and `kmeminit report`, against its parse + 3 s."""
    path = tree / edit
    original = path.read_bytes()
    edits = [("a comment", original + b"\n/* kmeminit bench edit */\n")]
    for what, table in (("code", CODE_EDITS), ("a call", CALL_EDITS),
                        ("a removal", REMOVED_CALLS)):
        if edit in table and table[edit][0] not in original:
            # a tree left edited by an earlier run, or another kernel version
            print(f"one edit ({what:<8}) {edit}: skipped: the text it replaces is not there")
    if edit in CODE_EDITS and CODE_EDITS[edit][0] in original:
        edits.append(("code", original.replace(*CODE_EDITS[edit], 1)))
    edits.append(("function", original + NEW_FUNCTION))
    if edit in CALL_EDITS and CALL_EDITS[edit][0] in original:
        edits.append(("a call", original.replace(*CALL_EDITS[edit], 1)))
    if edit in REMOVED_CALLS and REMOVED_CALLS[edit][0] in original:
        edits.append(("a removal", original.replace(*REMOVED_CALLS[edit], 1)))
    try:
        for what, text in edits:
            path.write_bytes(text)
            obj = edit[:-2] + ".o"
            one, proc = timed([*make, f"CHECK={cc}", obj], tree, env)
            parse = con.execute("SELECT seconds FROM tus WHERE file=?",
                                (os.path.realpath(path),)).fetchone()
            newest = "SELECT max(stored_at) FROM memos WHERE kind='demand'"
            before = con.execute(newest).fetchone()[0]
            rep3, proc = timed(report_cmd, REPO)
            stored_again = con.execute(newest).fetchone()[0] != before
            partly = re.search(r"rules: (\d+ of \d+) from the store .*; \d+ ran over "
                               r"(\d+ of \d+) TUs", proc.stderr)
            reused = ("reused" if "the stored result" in proc.stderr else
                      f"rules {partly[1]} from the store, the others over {partly[2]} TUs"
                      if partly else "every rule run")
            units = re.search(r"rules: KMI003 (\d+ of \d+) walkers from the store .*, "
                              r"\d+ over (\d+ of the \d+) TUs", proc.stderr)
            if units:  # KMI003 kept walker by walker (analyzer/memo.py Units)
                reused += f"; KMI003 over {units[2]} of its family (walkers {units[1]} kept)"
            if what != "a comment":
                reused += ("; the demand carried" if "as before:" in proc.stderr else
                           "; the demand updated from the changed calls"
                           if "updated from the calls" in proc.stderr else
                           "; the demand computed again" if stored_again else
                           "; the demand as stored (the scans unchanged)")
            parse_s = parse[0] if parse else 0.0
            print(f"one edit ({what:9}) {edit}: {one + rep3:5.1f} s  make C=2 {obj} "
                  f"{one:.1f} s (gcc included) + report {rep3:.1f} s ({reused}); its "
                  f"parse {parse_s:.1f} s, target <= {parse_s + 3:.1f} s")
    finally:
        path.write_bytes(original)
        timed([*make, f"CHECK={cc}", edit[:-2] + ".o"], tree, env)  # the store as it was


def prefilter(compdb: Path, jobs: int, tmp: Path, modes: list[str]) -> None:
    """Cold: TUs parsed, wall time, peak RSS.  Global phase: the same check again on its
    warm store with --recompute (nothing parsed: the prefilter, loading the program, every
    rule, the output), wall and peak RSS; then once more as a user's rerun (the stored
    results reused).  Then the two results compared: fingerprints, messages, code flows."""
    results = {}
    for name, flag in (("all", "--no-prefilter"), ("prefilter", "--prefilter")):
        out = tmp / f"{name}.json"
        if name not in modes:
            results[name] = by_fingerprint(out)  # kept from an earlier run (--keep)
            print(f"{name:10} from {out}: {len(results[name])} findings")
            continue
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
        # --recompute: the prefilter and every rule run, not their stored results
        secs, proc, rss = measured([*cmd, "--recompute"], REPO)
        print(f"{'':10} global phase (warm rerun, {parsed(proc.stderr)} parsed) {secs:7.1f} s  "
              f"peak {rss:6.0f} MiB")
        secs, proc, rss = measured(cmd, REPO)
        print(f"{'':10} the same, results reused from the store {secs:7.1f} s  "
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
    ap.add_argument("--dir", default="mm/", help="make target (vmlinux for the whole tree)")
    ap.add_argument("--edit", action="append",
                    help="a file edited (a comment appended, a line of code changed, a "
                         "function appended, then restored); repeatable (default: "
                         "mm/memremap.c)")
    ap.add_argument("--compare", type=Path,
                    help="a `check --format json` output of the same tree: report must "
                         "give the same fingerprints")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-kbuild", action="store_true")
    ap.add_argument("--only-edits", action="store_true",
                    help="only the one-edited-file rows, on the store a full run kept in "
                         "--keep DIR")
    ap.add_argument("--skip-prefilter", action="store_true")
    ap.add_argument("--compdb", type=Path,
                    help="compile database for the prefilter runs (default: the tree's)")
    ap.add_argument("--modes", nargs="+", default=["all", "prefilter"],
                    choices=["all", "prefilter"],
                    help="prefilter comparison runs to make (the other one's output is read "
                         "from --keep DIR)")
    ap.add_argument("--keep", type=Path, metavar="DIR",
                    help="keep the stores and outputs in DIR (default: a temporary directory)")
    args = ap.parse_args()
    args.edit = args.edit or ["mm/memremap.c"]
    # as installed: kmeminit-cc starts once per TU, and compiling its modules every time
    # (PYTHONDONTWRITEBYTECODE) would cost more than the rest of its start
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="kmeminit-bench-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.only_edits:
            store = work / "kbuild.db"
            if not store.is_file():
                sys.exit(f"bench: {store}: no store of an earlier run (--keep DIR)")
            cc = shutil.which("kmeminit-cc", path=str(BIN)) or "kmeminit-cc"
            report_cmd = [*KMEMINIT, "report", "--store", str(store), "--format", "json", "-o",
                          str(work / "report.json"), "--fail-on", "none", "--no-progress",
                          "-j", str(args.jobs)]
            secs, _ = timed(report_cmd, REPO)  # what the last build's report leaves
            print(f"report (warm-up) {secs:6.1f} s")
            for edit in args.edit:
                edited(args.tree.resolve(), edit, ["make", "-s", f"-j{args.jobs}", "C=2"], cc,
                       dict(os.environ, KMEMINIT_STORE=str(store)), sqlite3.connect(store),
                       report_cmd)
            return 0
        if not args.skip_kbuild:
            kbuild(args.tree.resolve(), args.dir, args.jobs, work, args.edit, args.compare)
        if not args.skip_prefilter:
            prefilter((args.compdb or args.tree).resolve(), args.jobs, work, args.modes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
