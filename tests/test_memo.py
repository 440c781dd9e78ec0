"""Results taken from the store (analyzer/memo.py): a run whose inputs are those of an earlier
complete run reuses its result, and its output is what a run on an empty store gives, after
any sequence of edits."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLE
from test_cli import run

from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.memo import analyse
from kmeminit.analyzer.model import Level, to_json
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


def _sarif(tree: Path, store: Path, capsys: pytest.CaptureFixture[str], *extra: str
           ) -> tuple[dict, str]:
    """(the SARIF run, of its invocation only the notifications; stderr)."""
    out = store.with_suffix(".sarif")
    run("check", "-p", str(tree), "--store", str(store), "--no-progress", "-j", "1",
        "--fail-on", "none", "--prefilter", "--format", "sarif", "-o", str(out), *extra)
    sarif = json.loads(out.read_text())["runs"][0]
    sarif["invocations"] = [i.get("toolExecutionNotifications") for i in sarif["invocations"]]
    return sarif, capsys.readouterr().err


def _functions(tree: Path, store: Path, capsys: pytest.CaptureFixture[str], *extra: str
               ) -> str:
    """The text summary's function count."""
    out = store.with_suffix(".txt")
    run("check", "-p", str(tree), "--store", str(store), "--no-progress", "-j", "1",
        "--fail-on", "none", "--prefilter", "--format", "text", "-o", str(out), *extra)
    capsys.readouterr()
    found = re.search(r" in (\d+) functions", out.read_text())
    assert found is not None
    return found.group(1)


def test_an_edit_runs_again_only_the_rules_whose_tus_it_reaches(
        tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Behind the prefilter a rule is kept by the facts of its own family's TUs: in the
    example tree page_owner.c is a TU only the walkers need, so breaking its walker runs
    KMI003 again, over the TUs of the walkers that need it alone, and takes the other six
    rules and the other walkers' findings from the store; the output (findings in their
    order, function count, comments) is a run's on an empty store."""
    store = tmp_path / "warm.db"
    first, err = _sarif(tree, store, capsys)
    assert "from the store" not in err
    owner = tree / "mm" / "page_owner.c"
    text = owner.read_text()
    owner.write_text(text.replace(WALKER, BROKEN))
    broken, err = _sarif(tree, store, capsys)
    partly = re.search(r"kmeminit: rules: (\d+) of 7 from the store .*; (\d+) ran over "
                       r"(\d+) of (\d+) TUs", err)
    assert partly is not None, err
    # the walkers' family is every TU; the walkers whose own TUs include page_owner.c
    # need 4 of them (analyzer/memo.py Units), the others' findings come from the store
    assert tuple(map(int, partly.groups())) == (6, 1, 4, 13)
    units = re.search(r"KMI003 (\d+) of (\d+) walkers from the store .*, (\d+) over "
                      r"(\d+) of the (\d+) TUs", err)
    assert units is not None and int(units.group(1)) > 0 and \
        units.group(4, 5) == ("4", "13"), err
    cold, cold_err = _sarif(tree, tmp_path / "cold.db", capsys)
    assert broken == cold
    assert len(broken["results"]) == len(first["results"]) + 1
    assert _functions(tree, store, capsys) == _functions(tree, tmp_path / "cold.db", capsys)

    # an edit reaching every family runs every rule, over every TU (the walkers whose own
    # TUs do not include memremap.c keep their findings)
    memremap = tree / "mm" / "memremap.c"
    memremap.write_text(memremap.read_text() + "static void kmi_probe(void) { }\n")
    both, err = _sarif(tree, store, capsys)
    assert "of 7 from the store" not in err and REUSED not in err
    assert re.search(r"KMI003 [1-9]\d* of \d+ walkers from the store", err), err
    assert both == _sarif(tree, tmp_path / "cold2.db", capsys)[0]

    # undone: each rule's earlier result is still kept
    owner.write_text(text)
    memremap.write_text(memremap.read_text().replace("static void kmi_probe(void) { }\n", ""))
    restored, err = _sarif(tree, store, capsys)
    assert restored == first and REUSED in err


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
    from kmeminit.analyzer.blobs import pack

    for payload in (b"\x00not zlib", zlib.compress(b"{not json"), pack(b"{not json"),
                    b"\x28\xb5\x2f\xfd" + b"damaged frame",
                    zlib.compress(json.dumps({"findings": 3, "chosen": 3}).encode())):
        with sqlite3.connect(store) as db:
            db.execute("UPDATE memos SET payload=?", (payload,))
        again, reused = _check(tree, store, capsys, "--prefilter")
        assert not reused and again == first
    assert _check(tree, store, capsys, "--prefilter") == (first, True)


def test_rules_that_run_again_load_only_their_own_tus(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """In the prefilter's small tree the ordering events (hot.c, grower.c), the walker and
    PG_reserved each have TUs of their own: an edit of grower.c runs KMI001 and KMI002
    again over the events' TUs alone, and the run still reports every TU's functions and
    comments: one suppressing the walker's finding, one suppressing nothing."""
    from tests.test_prefilter import SOURCES, _tree

    sources = dict(SOURCES)
    sources["walker.c"] = sources["walker.c"].replace(
        "\t\t\tn += page_ok", "\t\t\t/* kmeminit: ignore KMI003 checked by the caller */\n"
        "\t\t\tn += page_ok")
    sources["pageok.c"] = sources["pageok.c"].replace(
        "\treturn page_count", "\t/* kmeminit: ignore KMI006 nothing here */\n\treturn page_count")
    entries = _tree(tmp_path, sources)
    src = tmp_path / "src"
    store = tmp_path / "warm.db"
    first, err = _sarif(tmp_path, store, capsys, "--source-root", str(src))
    grower = src / "grower.c"
    grower.write_text(grower.read_text().replace("return grow(0);", "return grow(1) + 1;"))
    edited, err = _sarif(tmp_path, store, capsys, "--source-root", str(src))
    partly = re.search(r"kmeminit: rules: (\d+) of 7 from the store .*; (\d+) ran over "
                       r"(\d+) of (\d+) TUs", err)
    assert partly is not None, err
    kept, ran, over, total = map(int, partly.groups())
    assert (kept, ran) == (5, 2) and over < total == len(entries) - 1  # not other.c
    assert [r["suppressions"][0]["kind"] for r in edited["results"]] == ["inSource"]
    assert "suppresses nothing" in json.dumps(edited)
    cold = tmp_path / "cold.db"
    assert edited == _sarif(tmp_path, cold, capsys, "--source-root", str(src))[0]
    assert _functions(tmp_path, store, capsys, "--source-root", str(src)) == \
        _functions(tmp_path, cold, capsys, "--source-root", str(src))


@pytest.mark.parametrize("worker", ["works", "dies", "cannot start"])
def test_rule_families_in_worker_processes_give_one_process_output(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        worker: str) -> None:
    """With -j 2 the rules are spread over worker processes by their families' TUs, each
    group over its own program (analyzer/families.py); the output is -j 1's.  A worker
    that dies, or cannot be started, costs only time: its groups run in the parent."""
    import os

    from kmeminit.analyzer import families
    from tests.test_prefilter import SOURCES, _tree

    _tree(tmp_path, SOURCES)
    src = tmp_path / "src"
    spread: list[int] = []
    real_spread = families.spread
    monkeypatch.setattr(families, "spread",
                        lambda g, n, cost=None: spread.append(n) or real_spread(g, n, cost))
    if worker == "dies":
        monkeypatch.setattr(families, "_worker", lambda *a: os._exit(3))
    if worker == "cannot start":  # the rule workers only: parsing keeps its own pool
        import multiprocessing
        from types import SimpleNamespace

        def refuse() -> None:
            raise OSError(11, "Resource temporarily unavailable")

        real = multiprocessing.get_context("fork")
        context = SimpleNamespace(Pipe=real.Pipe,
                                  Process=lambda **_: SimpleNamespace(start=refuse))
        monkeypatch.setattr(families, "multiprocessing",
                            SimpleNamespace(get_context=lambda _: context))
    one, _ = _sarif(tmp_path, tmp_path / "one.db", capsys, "--source-root", str(src))
    assert not spread  # -j 1: one program
    two, _ = _sarif(tmp_path, tmp_path / "two.db", capsys, "--source-root", str(src),
                    "-j", "2")
    assert spread == [2]
    assert two == one and one["results"]



@pytest.mark.parametrize("child", ["works", "dies", "cannot start", "no room"])
def test_rules_over_one_program_in_forked_children_give_one_process_output(
        tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, child: str) -> None:
    """Without the prefilter, -j 2 spreads the rule families of the one program over this
    process and a child forked from it (families.run_shared); the output is -j 1's.  A
    child that dies or cannot be started costs only time (its rules run here), and none
    is forked when the process and a copy would exceed `rule_workers.memory_mib`."""
    import os

    from kmeminit.analyzer import families

    forked: list[int] = []
    real_process = families.multiprocessing.get_context("fork").Process

    class Counted:
        def __init__(self, **kwargs: Any) -> None:
            self.inner = real_process(**kwargs)

        def start(self) -> None:
            if child == "cannot start":
                raise OSError(11, "Resource temporarily unavailable")
            forked.append(1)
            self.inner.start()

        def join(self) -> None:
            self.inner.join()

    from types import SimpleNamespace

    real = families.multiprocessing.get_context("fork")
    monkeypatch.setattr(families, "multiprocessing", SimpleNamespace(
        get_context=lambda _: SimpleNamespace(Pipe=real.Pipe, Process=Counted)))
    if child == "dies":
        monkeypatch.setattr(families, "_shared_worker", lambda *a: os._exit(3))
    extra = []
    if child == "no room":  # a budget this process alone exceeds
        (tmp_path / "small.yaml").write_text("rule_workers:\n  memory_mib: 16\n")
        extra = ["--config", str(tmp_path / "small.yaml")]

    def findings(jobs: str) -> list:
        out = tmp_path / f"j{jobs}.json"
        run("check", "-p", str(tree), "--store", str(tmp_path / f"j{jobs}.db"),
            "--no-progress", "-j", jobs, "--no-prefilter", "--fail-on", "none", "--format",
            "json", "-o", str(out), *extra)
        capsys.readouterr()
        data = json.loads(out.read_text())
        return [data["findings"], data["notifications"]]

    one = findings("1")
    assert not forked
    two = findings("2")
    assert forked == ([] if child in ("cannot start", "no room") else [1])
    assert two == one and one[0]
    if child == "works":  # each rule's seconds kept for the next spread
        measured = FactStore(tmp_path / "j2.db").memo("rule-costs", "shared")
        assert set(measured) == {f"KMI00{i}" for i in range(1, 8)}


def test_run_shared_gives_each_rule_what_run_rules_gives_it(tree: Path) -> None:
    """Families spread over up to three processes, with a rule that crashes and one that
    yields what is not its finding: each rule's findings and notifications are those of
    run_rules over it alone, whichever process ran it; under debug nothing is forked and
    the exception reaches the caller."""
    from kmeminit.analyzer.families import run_shared
    from kmeminit.analyzer.rules import build_rules, run_rules

    config = load_config()
    run("index", "-p", str(tree), "--store", str(tree / "s.db"), "--no-progress")
    program = Program.from_store(FactStore(tree / "s.db")).apply_config(config)
    checkers, _ = build_rules(None, config)

    class Crashing:
        id, name, demand = "KMI901", "crashing", ("events",)

        def check(self, program: Any, config: Any) -> Any:
            raise RuntimeError("no")

    class Garbage:
        id, name, demand = "KMI902", "garbage", None

        def check(self, program: Any, config: Any) -> Any:
            yield "not a finding"

    everything = [*checkers, Crashing(), Garbage()]
    alone = {c.id: run_rules([c], program, config) for c in everything}
    assert alone["KMI901"][1] and alone["KMI902"][1] and any(f for f, _ in alone.values())
    for jobs in (1, 2, 3):
        results, seconds = run_shared(program, config, everything, jobs,
                                      {"KMI004": 5.0, "KMI001": 0.1})
        assert set(seconds) == set(alone)
        assert {k: (to_json(f), to_json(n)) for k, (f, n) in results.items()} == \
            {k: (to_json(f), to_json(n)) for k, (f, n) in alone.items()}
    with pytest.raises(RuntimeError):
        run_shared(program, config, everything, 2, debug=True)


def test_spread_by_measured_cost_makes_the_slowest_bin_as_fast_as_it_can_be() -> None:
    """Counting TUs puts the two dear rules together; the measured costs part them, and
    every assignment is tried: no bin is dearer than the best split's."""
    from types import SimpleNamespace

    from kmeminit.analyzer.families import spread

    def rule(rid: str) -> Any:
        return SimpleNamespace(id=rid)

    groups = [(["a", "b", "c", "d"], [rule("W")]), (["a", "b", "e"], [rule("R")]),
              (["c", "e"], [rule("O")]), (["a"], [rule("E")])]
    seconds = {"W": 0.2, "R": 1.0, "O": 0.9, "E": 0.1}

    def cost(bin_: list[Any]) -> float:
        files = set().union(*(set(f) for f, _ in bin_))
        return 0.1 * len(files) + sum(seconds[c.id] for _, cs in bin_ for c in cs)

    by_count = spread(groups, 2)
    by_cost = spread(groups, 2, cost)
    assert sorted(len(b) for b in by_count) == [2, 2]
    assert max(map(cost, by_cost)) < max(map(cost, by_count))
    assert {frozenset(c.id for _, cs in b for c in cs) for b in by_cost} == \
        {frozenset({"W", "O"}), frozenset({"R", "E"})}  # 1.6 s at most, against 2.3
    best = min(max(cost([g for g, i in zip(groups, pick, strict=True) if i == k])
                   for k in (0, 1)
                   if any(i == k for i in pick))
               for pick in itertools.product((0, 1), repeat=len(groups)))
    assert max(map(cost, by_cost)) == pytest.approx(best)
    # many groups: each, dearest first, to the bin it makes cheapest
    many = [([str(i)], [rule(f"R{i}")]) for i in range(20)]
    seconds.update({f"R{i}": float(i % 7) for i in range(20)})
    bins = spread(many, 3, cost)
    assert sorted(c.id for b in bins for _, cs in b for c in cs) == \
        sorted(f"R{i}" for i in range(20))
    assert max(map(cost, bins)) - min(map(cost, bins)) <= 7.0


def test_rule_costs_are_measured_and_spread_the_next_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A -j 2 run keeps what each rule and each program cost (memo `rule-costs`); the next
    run that spreads rules estimates its bins with it, and its output stays the same."""
    from kmeminit.analyzer import families
    from kmeminit.analyzer.store import FactStore
    from tests.test_prefilter import SOURCES, _tree

    _tree(tmp_path, SOURCES)
    src = tmp_path / "src"
    estimators: list[Any] = []
    real_spread = families.spread
    monkeypatch.setattr(families, "spread", lambda g, n, cost=None: estimators.append(cost)
                        or real_spread(g, n, cost))
    store = tmp_path / "costs.db"
    first, _ = _sarif(tmp_path, store, capsys, "--source-root", str(src), "-j", "2")
    assert estimators == [None]  # nothing measured yet: by TU count
    measured = FactStore(store).memo("rule-costs", "seconds")
    assert measured["per_function"] > 0 and measured["headers"] >= 0
    assert set(measured["rules"]) == {"KMI001", "KMI002", "KMI003", "KMI004", "KMI005",
                                      "KMI006", "KMI007"}
    again, _ = _sarif(tmp_path, store, capsys, "--source-root", str(src), "-j", "2",
                      "--recompute")
    assert len(estimators) == 2 and estimators[1] is not None
    from types import SimpleNamespace

    dear = max(measured["rules"], key=measured["rules"].get)
    one = estimators[1]([(["x.c"], [SimpleNamespace(id=dear)])])
    assert one >= measured["rules"][dear] > 0
    assert again == first
