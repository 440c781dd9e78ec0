"""Opt-in: the kbuild flow on the real 6.12 tree (KMEMINIT_KERNEL_TREE; about 3 minutes on
2 cores).  `make -j2 C=2 CHECK=kmeminit-cc mm/` completes, and `kmeminit report` gives the
findings (by fingerprint) `kmeminit check -p TREE mm/` gives."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel

KMEMINIT = [sys.executable, "-m", "kmeminit.analyzer.cli"]
REPO = Path(__file__).resolve().parent.parent


def _prints(path: Path) -> set[str]:
    return {f["fingerprint"] for f in json.loads(path.read_text())["findings"]}


def test_make_c2_mm_then_report_equals_check(kernel_tree: Path, tmp_path: Path) -> None:
    cc = shutil.which("kmeminit-cc", path=str(Path(sys.executable).parent))
    assert cc, "kmeminit-cc is not installed next to this python"
    env = dict(os.environ, KMEMINIT_STORE=str(tmp_path / "kbuild.db"))
    env.pop("KMEMINIT_FAULT", None)
    make = subprocess.run(["make", "-s", "-j2", "C=2", f"CHECK={cc}", "mm/"], cwd=kernel_tree,
                          env=env, capture_output=True, text=True, timeout=1800)
    assert make.returncode == 0, make.stderr[-3000:]
    assert "Traceback" not in make.stderr
    report, check = tmp_path / "report.json", tmp_path / "check.json"
    proc = subprocess.run([*KMEMINIT, "report", "--store", str(tmp_path / "kbuild.db"),
                           "--format", "json", "-o", str(report), "--fail-on", "none"],
                          cwd=kernel_tree, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = subprocess.run([*KMEMINIT, "check", "-p", str(kernel_tree), "mm/", "--store",
                           str(tmp_path / "check.db"), "--format", "json", "-o", str(check),
                           "--fail-on", "none", "--no-progress", "-j2"], cwd=REPO,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _prints(report) and _prints(report) == _prints(check)
