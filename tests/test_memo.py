"""Results taken from the store (analyzer/memo.py): a run whose inputs are those of an earlier
complete run reuses its result, and its output is what a run on an empty store gives, after
any sequence of edits."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import EXAMPLE
from test_cli import run

from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.memo import analyse
from kmeminit.analyzer.model import Level
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.store import FactStore

REUSED = "kmeminit: rules: the stored result of the same facts, config and rules"
WALKER = "\t\tstruct page *page = pfn_to_online_page(pfn);\n"
BROKEN = "\t\tstruct page *page = pfn_valid(pfn) ? pfn_to_page(pfn) : NULL;\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the example tree with its compile database."""
    src = tmp_path / "minikernel"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("compile_commands.json"))
    subprocess.run([sys.executable, str(src / "gen_compdb.py")], check=True,
                   capture_output=True)
    return src


def _check(tree: Path, store: Path, capsys: pytest.CaptureFixture[str], *extra: str
           ) -> tuple[list, bool]:
    """(the JSON findings without timing, whether the rules' result came from the store)."""
    out = store.with_suffix(".json")
    run("check", "-p", str(tree), "--store", str(store), "--no-progress", "-j", "1",
        "--fail-on", "none", "--format", "json", "-o", str(out), *extra)
    err = capsys.readouterr().err
    return json.loads(out.read_text())["findings"], REUSED in err


def test_a_run_with_the_inputs_of_an_earlier_one_equals_a_run_on_an_empty_store(
        tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "warm.db"
    first, reused = _check(tree, store, capsys)
    assert first and not reused
    again, reused = _check(tree, store, capsys)
    assert reused and again == first

    owner = tree / "mm" / "page_owner.c"
    text = owner.read_text()
    # a comment at the end: the TU is parsed again, its facts are the same
    owner.write_text(text + "/* an appended comment */\n")
    commented, reused = _check(tree, store, capsys)
    assert reused and commented == first

    # a real change: the walker loses its online check, and the result follows it
    assert WALKER in text
    owner.write_text(text.replace(WALKER, BROKEN))
    broken, reused = _check(tree, store, capsys)
    assert not reused
    assert broken == _check(tree, tmp_path / "cold.db", capsys)[0]
    assert len(broken) == len(first) + 1

    # and back: the earlier result is still kept
    owner.write_text(text)
    restored, reused = _check(tree, store, capsys)
    assert reused and restored == first


def test_config_rules_and_debug_decide_whether_a_result_is_reused(
        tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "warm.db"
    _check(tree, store, capsys)
    assert _check(tree, store, capsys, "--debug")[1] is False
    assert _check(tree, store, capsys, "--recompute")[1] is False
    assert _check(tree, store, capsys)[1] is True
    config = tmp_path / "more.yaml"
    config.write_text("pfn:\n  guards: [my_own_guard]\n")
    assert _check(tree, store, capsys, "--config", str(config))[1] is False
    assert _check(tree, store, capsys, "--rules", "KMI003")[1] is False
    assert _check(tree, store, capsys, "--rules", "KMI003")[1] is True


class _Crashing:
    id = "TEST900"
    level = Level.WARNING

    def check(self, program: Program, config: object) -> list:
        raise RuntimeError("broken rule")


def test_a_result_with_a_crashed_rule_is_never_kept(tmp_path: Path) -> None:
    store = FactStore(tmp_path / "facts.db")
    config = load_config(None)
    for _ in range(2):
        result = analyse(store, [], config, [_Crashing()], Program)
        assert not result.reused
        assert any("crashed" in n.message for n in result.notes)


def test_the_store_keeps_the_newest_few_results_of_each_kind(tmp_path: Path) -> None:
    store = FactStore(tmp_path / "facts.db")
    for n in range(FactStore.MEMOS_KEPT + 3):
        store.put_memo("analysis", f"k{n}", {"n": n})
        store.put_memo("demand", f"k{n}", {"n": n})
    kept = [n for n in range(FactStore.MEMOS_KEPT + 3) if store.memo("analysis", f"k{n}")]
    assert kept == list(range(3, FactStore.MEMOS_KEPT + 3))
    assert store.memo("demand", "k3") == {"n": 3}


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_diff_and_check_of_the_same_working_tree_share_the_result(
        tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tree), "-c", "user.name=t", "-c", "user.email=t@t",
                        *args], check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "base")
    owner = tree / "mm" / "page_owner.c"
    owner.write_text(owner.read_text().replace(WALKER, BROKEN))
    store = tmp_path / "warm.db"
    checked, reused = _check(tree, store, capsys)
    assert not reused
    out = tmp_path / "diff.json"
    run("diff", "--base", "HEAD", "-p", str(tree), "--store", str(store), "--no-progress",
        "-j", "1", "--fail-on", "none", "--format", "json", "-o", str(out))
    assert REUSED in capsys.readouterr().err
    diffed = json.loads(out.read_text())["findings"]
    assert [f["fingerprint"] for f in diffed] == [f["fingerprint"] for f in checked]
    assert [f["baseline_state"] for f in diffed].count("new") == 1


def test_a_damaged_stored_result_is_computed_again(
        tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3
    import zlib

    store = tmp_path / "warm.db"
    first, _ = _check(tree, store, capsys, "--prefilter")
    for payload in (b"\x00not zlib", zlib.compress(b"{not json"),
                    zlib.compress(json.dumps({"findings": 3, "chosen": 3}).encode())):
        with sqlite3.connect(store) as db:
            db.execute("UPDATE memos SET payload=?", (payload,))
        again, reused = _check(tree, store, capsys, "--prefilter")
        assert not reused and again == first
    assert _check(tree, store, capsys, "--prefilter") == (first, True)
