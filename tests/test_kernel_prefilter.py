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


def test_each_rule_over_its_familys_tus_finds_what_it_finds_over_all(
        kernel_tree: Path, kernel_store: Path) -> None:
    """What lets a run take a rule's result from the store while the TUs of its family are
    unchanged (analyzer/memo.py), on the real tree: each rule over the program of its
    families' TUs alone yields exactly its findings over every chosen TU."""
    import os

    from kmeminit.analyzer.compdb import open_compdb
    from kmeminit.analyzer.config import load_config
    from kmeminit.analyzer.index import index_entries
    from kmeminit.analyzer.model import to_json
    from kmeminit.analyzer.prefilter import prefilter_index
    from kmeminit.analyzer.program import Program
    from kmeminit.analyzer.rules import build_rules
    from kmeminit.analyzer.store import FactStore

    config = load_config()
    store = FactStore(kernel_store)
    kept, report = prefilter_index(
        open_compdb(kernel_tree, config).entries, store, config,
        lambda batch: index_entries(batch, store, config, jobs=os.cpu_count() or 1,
                                    timeout=300), log=lambda _: None)
    files = [e.file for e in kept]
    checkers, _ = build_rules(None, config)
    whole = Program.from_store(store, files).apply_config(config)
    expected = {c.id: to_json(list(c.check(whole, config))) for c in checkers}
    del whole
    sizes = {}
    for checker in checkers:
        scope = set().union(*(report.scopes[f] for f in checker.demand))
        sizes[checker.id] = len(scope)
        alone = Program.from_store(store, [f for f in files if f in scope])
        assert to_json(list(checker.check(alone.apply_config(config), config))) == \
            expected[checker.id], checker.id
    assert sum(map(len, expected.values())) > 0
    assert min(sizes.values()) < len(files), sizes


UNITS = Path(__file__).resolve().parent.parent / "bench" / "units.py"


def test_each_walker_over_its_own_demand_finds_what_the_family_finds(
        kernel_tree: Path, kernel_store: Path, tmp_path: Path) -> None:
    """The walkers' demand walker by walker (bench/units.py): KMI003 over each pfn walker's
    own TUs (its callers up to caller_levels, a chain to a root, the callees it hands its
    page to) finds in that walker what it finds over the whole family.  A page handed to
    a wrapper macro (`__free_page()`) reaches the function it wraps; before the demand
    followed it, one finding of the whole vmlinux held only because that function's TU
    was chosen for other reasons.  About ten seconds."""
    import shutil

    store = tmp_path / "units.db"  # the session's store, which the bench may extend
    shutil.copy(kernel_store, store)
    if Path(f"{kernel_store}-wal").exists():
        shutil.copy(f"{kernel_store}-wal", f"{store}-wal")
    proc = subprocess.run([sys.executable, str(UNITS), "--compdb",
                           str(kernel_tree / "compile_commands.json"), "--store", str(store)],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    found = re.search(r"(\d+) walkers by name.*?: (\d+) findings \(.*?\): (\d+) findings; "
                      r"identical", proc.stdout, re.S)
    assert found, proc.stdout
    assert int(found[1]) > 10 and found[2] == found[3] and int(found[2]) > 0
