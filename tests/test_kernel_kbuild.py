"""Opt-in: the kbuild flow on the real 6.12 tree (KMEMINIT_KERNEL_TREE; about 6 minutes on
2 cores).  One answer in every flow: `make -j2 C=2 CHECK=kmeminit-cc mm/` completes; what
it prints per TU is a subset of what `kmeminit report` gives over its store, which is a
subset of `kmeminit check -p TREE` over the whole database; and `check -p TREE mm/sparse.c
mm/memory_hotplug.c` is exactly the whole run's findings in those two files."""

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


def _findings(path: Path) -> dict[str, tuple[str, str, int]]:
    """fingerprint → (rule, path, line) of a JSON report."""
    return {f["fingerprint"]: (f["rule"], f["file"], f["line"])
            for f in json.loads(path.read_text())["findings"]}


def _printed(stderr: str) -> set[tuple[str, str, int]]:
    """(rule, path, line) of the gcc-style finding lines kmeminit-cc printed."""
    out = set()
    for line in stderr.splitlines():
        if line.startswith((" ", "kmeminit")) or not line.rstrip().endswith("]") \
                or "[KMI" not in line:
            continue
        where, level, _ = line.split(": ", 2)
        path, number, _ = where.rsplit(":", 2)
        out.add((line.rsplit("[", 1)[1].rstrip("]"), path, int(number)))
    return out


def _kmeminit(*args: str, cwd: Path) -> None:
    proc = subprocess.run([*KMEMINIT, *args, "--format", "json", "--fail-on", "none"],
                          cwd=cwd, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_kbuild_per_tu_within_report_within_check(kernel_tree: Path, tmp_path: Path) -> None:
    cc = shutil.which("kmeminit-cc", path=str(Path(sys.executable).parent))
    assert cc, "kmeminit-cc is not installed next to this python"
    env = dict(os.environ, KMEMINIT_STORE=str(tmp_path / "kbuild.db"))
    env.pop("KMEMINIT_FAULT", None)
    make = subprocess.run(["make", "-s", "-j2", "C=2", f"CHECK={cc}", "mm/"], cwd=kernel_tree,
                          env=env, capture_output=True, text=True, timeout=1800)
    assert make.returncode == 0, make.stderr[-3000:]
    assert "Traceback" not in make.stderr
    printed = _printed(make.stderr)
    report, check, two = tmp_path / "report.json", tmp_path / "check.json", tmp_path / "2.json"
    _kmeminit("report", "--store", str(tmp_path / "kbuild.db"), "-o", str(report),
              cwd=kernel_tree)
    store = ["--store", str(tmp_path / "check.db"), "--no-progress", "-j2"]
    _kmeminit("check", "-p", str(kernel_tree), *store, "-o", str(check), cwd=REPO)
    _kmeminit("check", "-p", str(kernel_tree), "mm/sparse.c", "mm/memory_hotplug.c", *store,
              "-o", str(two), cwd=REPO)
    reported, whole = _findings(report), _findings(check)
    assert printed <= set(reported.values()), sorted(printed - set(reported.values()))
    assert set(reported) <= set(whole), sorted(reported[f] for f in set(reported) - set(whole))
    files = ("mm/sparse.c", "mm/memory_hotplug.c")
    assert _findings(two) == {f: w for f, w in whole.items() if w[1] in files}
    in_mm = [w for w in whole.values() if w[1].startswith("mm/")]
    print(f"whole run: {len(whole)} findings, {len(in_mm)} in mm/; kmeminit report over the "
          f"mm/ kbuild store: {len(reported)}; printed per TU by kmeminit-cc: {len(printed)}")
