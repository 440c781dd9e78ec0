"""Opt-in: the prefilter's demand kept or updated from an edit's changed calls
(analyzer/calltrace.py) on the real 6.12 tree (KMEMINIT_KERNEL_TREE).  bench/carried.py
edits the lexical scans of files under mm/ at random (calls added and removed on the
demand's paths, helpers added, definitions dropped) and computes the demand again after
every edit the trace keeps or updates: it must be the same.  About a minute on 2 cores."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel

CARRIED = Path(__file__).resolve().parent.parent / "bench" / "carried.py"
SUMMARY = re.compile(r"carried (\d+) \((\d+) by the calls' trace\), updated from the trace "
                     r"(\d+), computed again (\d+), carried or updated but different (\d+)")


def test_random_call_edits_keep_or_update_the_demand_exactly(kernel_tree: Path,
                                                              kernel_store: Path,
                                                              tmp_path: Path) -> None:
    scans = tmp_path / "scans.db"  # the session's store, whose scans it may extend
    shutil.copy(kernel_store, scans)
    if Path(f"{kernel_store}-wal").exists():
        shutil.copy(f"{kernel_store}-wal", f"{scans}-wal")
    followed = 0
    for seed in (1, 2, 3):
        proc = subprocess.run([sys.executable, str(CARRIED), "--compdb",
                               str(kernel_tree / "compile_commands.json"), "--scans",
                               str(scans), "--trials", "40", "--under", "/mm/", "--seed",
                               str(seed)], capture_output=True, text=True, timeout=1200)
        found = SUMMARY.search(proc.stdout)
        assert proc.returncode == 0 and found, proc.stdout[-3000:] + proc.stderr[-2000:]
        assert found[5] == "0"
        followed += int(found[2]) + int(found[3])  # kept by the trace, or updated
    assert followed > 0  # the trace was asked, not only the edits that reach nothing
