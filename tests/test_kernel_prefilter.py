"""Opt-in: the whole-tree prefilter on the real 6.12 compile database (KMEMINIT_KERNEL_TREE;
1-2 minutes on 2 cores with the session store warm).  With and without the prefilter,
`kmeminit check -p TREE` gives the same findings, messages and code flows, and the
prefilter analyses fewer TUs than the database has."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel

KMEMINIT = [sys.executable, "-m", "kmeminit.analyzer.cli"]


def test_prefilter_gives_the_findings_of_the_whole_database(kernel_tree: Path,
                                                            kernel_store: Path,
                                                            tmp_path: Path) -> None:
    results = {}
    logs = {}
    for flag in ("--no-prefilter", "--prefilter"):
        out = tmp_path / f"{flag}.json"
        proc = subprocess.run([*KMEMINIT, "check", "-p", str(kernel_tree), flag, "--store",
                               str(kernel_store), "--format", "json", "-o", str(out),
                               "--fail-on", "none", "--no-progress", "-j", "2"],
                              capture_output=True, text=True, timeout=1800)
        assert proc.returncode == 0, proc.stderr[-3000:]
        logs[flag] = proc.stderr
        results[flag] = {f["fingerprint"]: (f["message"], f["trace"])
                         for f in json.loads(out.read_text())["findings"]}
    assert results["--prefilter"] == results["--no-prefilter"]
    assert results["--prefilter"]
    summary = re.search(r"prefilter: (\d+) of (\d+) TUs mention .*?; (\d+) TUs analysed",
                        logs["--prefilter"])
    assert summary, logs["--prefilter"][-2000:]
    initial, total, kept = map(int, summary.groups())
    assert initial <= kept < total
    assert "fixpoint" in logs["--prefilter"]
