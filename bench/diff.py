#!/usr/bin/env python3
"""Pre-merge at the speed of one file: `kmeminit diff --base HEAD~1` after a small change.

Usage: bench/diff.py --repo CHECKOUT [--store STORE] [-j 2] [--prefilter]

CHECKOUT is a git checkout of a kernel slice with its compile_commands.json (it must be
clean: every edit is committed, measured and then reset away).  The store is warmed with
`kmeminit check` of the clean checkout first, which also keeps HEAD's findings for the
diffs (what a main-branch run leaves).  Then, for each edit below:
  commit the edit, `kmeminit diff --base HEAD~1` (timed), `kmeminit check` of the edited
  tree (the truth: its fingerprints minus the base's), `git reset --hard HEAD~1`, and
  `kmeminit check` again (untimed), so that each diff starts from the clean tree's store.
Each row: the diff's wall time (and CPU time, user + system, of it and its workers: a
proxy when others load the machine), the parse of the edited TU (from the store), the
target (diff <= parse + 5 s) and the goal (parse + 1 s), where the base's result came
from, and whether its new findings are exactly the truth's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KMEMINIT = [sys.executable, "-m", "kmeminit.analyzer.cli"]
REPO = Path(__file__).resolve().parent.parent

# (name, file, text on a line, its replacement): one-line changes of the 6.12 slice
EDITS = [
    ("walker: pfn_to_online_page -> pfn_valid + pfn_to_page", "mm/page_owner.c",
     "page = pfn_to_online_page(pfn);", "page = pfn_valid(pfn) ? pfn_to_page(pfn) : NULL;"),
    ("/proc reader: the same in kpagecount", "fs/proc/page.c",
     "page = pfn_to_online_page(pfn);", "page = pfn_valid(pfn) ? pfn_to_page(pfn) : NULL;"),
    ("PG_reserved site under a new condition", "mm/mm_init.c",
     "\t__SetPageReserved(page);\n\n\t/*\n\t * ZONE_DEVICE",
     "\tif (pfn_valid(page_to_pfn(page)))\n\t\t__SetPageReserved(page);\n\n\t/*\n\t * ZONE_DEVICE"),
    ("hotplug lock released later", "mm/memremap.c",
     "\tmem_hotplug_done();\n\tif (error)\n\t\tgoto err_add_memory;",
     "\tif (error) {\n\t\tmem_hotplug_done();\n\t\tgoto err_add_memory;\n\t}"),
    ("a comment", "mm/memory_hotplug.c", "#include <linux/stddef.h>",
     "#include <linux/stddef.h>\n/* kmeminit bench */"),
]


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(cmd: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, proc


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=bench", "-c",
                           "user.email=bench@kmeminit", *args], capture_output=True,
                          text=True, check=True).stdout


def fingerprints(path: Path, state: str | None = None) -> set[str]:
    """The findings of a JSON output; with `state`, those of that baseline state."""
    return {f["fingerprint"] for f in json.loads(path.read_text())["findings"]
            if state is None or f.get("baseline_state") == state}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, required=True)
    ap.add_argument("--store", type=Path)
    ap.add_argument("-j", "--jobs", default="2")
    ap.add_argument("--prefilter", action="store_true",
                    help="analyse through the prefilter (the slice is below its "
                         "min_tus): the rules whose TUs an edit does not reach are "
                         "taken from the store")
    args = ap.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    repo = args.repo.resolve()
    if git(repo, "status", "--porcelain", "--untracked-files=no").strip():
        sys.exit(f"bench: {repo} has uncommitted changes")
    with tempfile.TemporaryDirectory(prefix="kmeminit-diff-") as tmp:
        store = args.store or Path(tmp) / "facts.db"
        common = ["-p", str(repo), "--store", str(store), "-j", args.jobs, "--no-progress",
                  "--fail-on", "none", "--format", "json"]
        if args.prefilter:
            common.append("--prefilter")
        base_out = Path(tmp) / "base.json"
        secs, proc = run([*KMEMINIT, "check", *common, "-o", str(base_out)], REPO)
        print(f"warm-up: check of the clean checkout {secs:.1f} s "
              f"({proc.stderr.strip().splitlines()[0]})")
        base = fingerprints(base_out)
        for name, file, old, new in EDITS:
            path = repo / file
            text = path.read_text()
            if old not in text:
                print(f"{name}: skipped ({file} has no {old!r})")
                continue
            path.write_text(text.replace(old, new, 1))
            git(repo, "commit", "-q", "-a", "-m", f"bench: {name}")
            try:
                out = Path(tmp) / "diff.json"
                used = cpu()
                secs, proc = run([*KMEMINIT, "diff", *common, "--base", "HEAD~1", "-o",
                                  str(out)], REPO)
                used = cpu() - used
                line = next((x for x in proc.stderr.splitlines() if "kmeminit: diff" in x),
                            proc.stderr.strip()[-300:])
                new_prints = fingerprints(out, "new")
                truth_out = Path(tmp) / "truth.json"
                run([*KMEMINIT, "check", *common, "--recompute", "-o", str(truth_out)], REPO)
                truth = fingerprints(truth_out) - base
                parse = sqlite3.connect(store).execute(
                    "SELECT seconds FROM tus WHERE file=?",
                    (os.path.realpath(path),)).fetchone()
                parse_s = parse[0] if parse else 0.0
                how = re.search(r"working tree: (.*?);", line)
                rules = next((x[len("kmeminit: rules: "):] for x in proc.stderr.splitlines()
                              if x.startswith("kmeminit: rules: ")), "every rule run")
                print(f"{name}\n  diff {secs:5.1f} s ({used:4.1f} s CPU)   parse of {file} "
                      f"{parse_s:4.1f} s   "
                      f"target <= {parse_s + 5:4.1f} s  "
                      f"{'ok' if secs <= parse_s + 5 else 'MISSED'}, goal <= "
                      f"{parse_s + 1:4.1f} s {'ok' if secs <= parse_s + 1 else 'missed'}   "
                      f"new {len(new_prints)}, truth {len(truth)}, identical: "
                      f"{new_prints == truth}\n  base: {how[1] if how else line}; head's "
                      f"rules: {rules}")
            finally:
                git(repo, "reset", "-q", "--hard", "HEAD~1")
                # the store as the main-branch run left it: the truth's check recorded
                # the edited TU, which the next diff would otherwise parse again too
                run([*KMEMINIT, "check", *common, "-o", str(Path(tmp) / "rewarm.json")],
                    REPO)
    return 0


if __name__ == "__main__":
    sys.exit(main())
