"""The shortcuts of the whole-program phase (a report after one edit spends its time loading
programs and running the rules over them): each answers exactly as the plain computation it
stands for, on random programs and on the rule fixtures."""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import networkx as nx
import pytest
from helpers import build_program

from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.dataflow.ordering import OrderingEngine
from kmeminit.analyzer.dataflow.transitions import KEEP, TransitionEngine
from kmeminit.analyzer.kernel.entries import only_reached_from
from kmeminit.analyzer.kernel.reserved import ReservedAnalysis
from kmeminit.analyzer.model import (
    ENTRY_BLOCK,
    EXIT_BLOCK,
    Block,
    CallSite,
    Edge,
    Event,
    EventKind,
    Function,
    Location,
    to_json,
)
from kmeminit.analyzer.program import Program, _digraph
from kmeminit.analyzer.rules import build_rules, run_rules
from kmeminit.analyzer.store import FactStore

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_the_call_graph_is_laid_out_as_networkx_builds_it() -> None:
    rng = random.Random(3)
    for _ in range(200):
        names = [f"n{i}" for i in rng.sample(range(60), rng.randrange(1, 30))]
        nodes = {n: {"name": n, "line": rng.randrange(9)} for n in names}
        edges = {(rng.choice(names), rng.choice(names)): {"sites": [rng.random()]}
                 for _ in range(rng.randrange(0, 80))}
        plain = nx.DiGraph()
        plain.add_nodes_from(nodes.items())
        plain.add_edges_from((u, v, d) for (u, v), d in edges.items())
        laid = _digraph(nx, nodes, edges)
        assert list(laid.nodes(data=True)) == list(plain.nodes(data=True))
        assert list(laid.edges(data=True)) == list(plain.edges(data=True))
        for n in names:  # the adjacency order decides which equally short chain is shown
            assert list(laid.succ[n]) == list(plain.succ[n])
            assert list(laid.pred[n]) == list(plain.pred[n])
            assert list(laid.predecessors(n)) == list(plain.predecessors(n))
        assert nx.is_isomorphic(laid, plain)


def _passes(program: Any, seeds: set[str], outside: set[str], unseen: set[str]) -> set[str]:
    """only_reached_from as it was: whole passes until nothing leaves."""
    inside = set(seeds) | {u for u, fn in program.functions.items()
                           if fn.blocks and program.pred[u] and u not in outside}
    inside |= unseen - outside
    changed = True
    while changed:
        changed = False
        for usr in list(inside - seeds):
            if any(caller not in inside for caller in program.pred[usr]):
                inside.discard(usr)
                changed = True
    return inside


def test_only_reached_from_is_the_greatest_fixpoint_of_its_passes() -> None:
    rng = random.Random(5)
    for _ in range(1500):
        keys = [f"f{i}" for i in range(rng.randrange(1, 14))]
        density = rng.choice([0.05, 0.15, 0.3])
        succ = {k: {c: {} for c in keys if rng.random() < density} for k in keys}
        pred: dict[str, dict[str, Any]] = {k: {} for k in keys}
        for caller, callees in succ.items():
            for callee in callees:
                pred[callee][caller] = {}
        program = SimpleNamespace(
            functions={k: SimpleNamespace(blocks=(1,) if rng.random() < 0.9 else ())
                       for k in keys},
            succ=succ, pred=pred)
        seeds = {k for k in keys if rng.random() < 0.2}
        outside = {k for k in keys if rng.random() < 0.1}
        unseen = {k for k in keys if rng.random() < 0.1}
        assert only_reached_from(program, seeds, outside, unseen) == \
            _passes(program, seeds, outside, unseen)


# -- transition summaries, asked for one by one -----------------------------------------

SET, CLEAR = "set", "clear"


def _random_program(rng: random.Random) -> tuple[Program, dict[tuple[str, Event], str]]:
    """Functions calling each other (recursion included) and two flag operations, each
    with a random CFG: entry, exit and a few blocks, some with no way out."""
    n = rng.randrange(2, 9)
    names = [f"f{i}" for i in range(n)]
    functions, ops = [], {}
    for name in names:
        usr = f"c:@F@{name}"
        count = rng.randrange(2, 7)
        calls, events = [], {b: [] for b in range(count)}
        for j in range(rng.randrange(0, 6)):
            callee = rng.choice(names + ["set_flag", "clear_flag", "printk"])
            calls.append(CallSite(j, callee, f"c:@F@{callee}", Location("a.c", j + 1)))
            event = Event(EventKind.CALL, j)
            events[rng.randrange(count)].append(event)
            if callee in ("set_flag", "clear_flag"):
                ops[(usr, event)] = SET if callee == "set_flag" else CLEAR
        blocks = []
        for b in range(count):
            if b == EXIT_BLOCK:
                succs: list[int] = []
            else:
                succs = rng.sample(range(count), rng.randrange(0, min(3, count) + 1))
            blocks.append(Block(b, tuple(events[b]), tuple(Edge(t) for t in succs)))
        functions.append(Function(usr, name, "a.c", 1, 1, "external", calls=tuple(calls),
                                  blocks=tuple(blocks)))
    return Program.from_functions(functions), ops


def _all_at_once(engine: TransitionEngine, program: Program,
                 ops: dict[tuple[str, Event], str]) -> dict[str, frozenset[str]]:
    """Every summary as the engine computed them before it computed them when asked: the
    ancestors of the sites, networkx's components (another order than the engine's),
    callees first, each iterated until it stops changing."""
    graph = program.graph
    touched = {usr for usr, _ in ops}
    relevant = set(touched)
    for usr in touched:
        relevant |= nx.ancestors(graph, usr)
    relevant = {u for u in relevant if u in program.functions and program.functions[u].blocks}
    summaries: dict[str, frozenset[str]] = {u: frozenset() for u in relevant}
    condensed = nx.condensation(graph.subgraph(relevant))
    for scc in reversed(list(nx.topological_sort(condensed))):
        members = sorted(condensed.nodes[scc]["members"])
        changed = True
        while changed:
            changed = False
            for usr in members:
                new = engine.run_to_exit(program.functions[usr], ENTRY_BLOCK, 0,
                                         frozenset({KEEP}), summaries)
                if new != summaries[usr]:
                    summaries[usr] = new
                    changed = True
    return summaries


def test_transition_summaries_asked_one_by_one_are_those_computed_all_at_once() -> None:
    rng = random.Random(11)
    lazy = 0
    for _ in range(600):
        program, ops = _random_program(rng)
        truth = _all_at_once(TransitionEngine(program, ops), program, ops)
        assert dict(TransitionEngine(program, ops).summaries) == truth
        engine = TransitionEngine(program, ops)
        usrs = sorted(program.functions)
        rng.shuffle(usrs)
        for usr in usrs[:rng.randrange(1, len(usrs) + 1)]:
            assert engine.summary(usr) == truth.get(usr, frozenset({KEEP}))
        lazy += len(engine._summaries) < len(truth)
        # a walk from inside a function, first thing asked of a fresh engine
        engine = TransitionEngine(program, ops)
        fn = program.functions[rng.choice(sorted(program.functions))]
        block = rng.choice(fn.blocks)
        states = frozenset(rng.sample([KEEP, SET, CLEAR], rng.randrange(1, 4)))
        pos = rng.randrange(len(block.events) + 1)
        assert engine.run_to_exit(fn, block.id, pos, states) == \
            engine.run_to_exit(fn, block.id, pos, states, truth)
    assert lazy > 50  # some questions were answered without every summary


# -- the rules with and without the scans' shortcuts ------------------------------------


def _findings(program: Program) -> str:
    config = load_config()
    checkers, _ = build_rules(None, config)
    found, notes = run_rules(checkers, program, config)
    return json.dumps([to_json(f) for f in found] + [to_json(n) for n in notes],
                      sort_keys=True)


@pytest.mark.parametrize("rule", ["KMI001", "KMI002", "KMI006", "KMI007"])
def test_the_label_and_site_shortcuts_change_no_finding(
        rule: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = sorted((FIXTURES / rule).glob("*.c"))
    program = build_program(sources, tmp_path)
    shortcut = _findings(program)
    assert '"rule"' in shortcut  # the fixtures have findings to lose
    monkeypatch.setattr(OrderingEngine, "_may_label", lambda self, fn: True)
    monkeypatch.setattr(ReservedAnalysis, "_names_any", lambda self, fn: True)
    # a program of its own: the engines are kept with the program that built them
    fresh = Program.from_store(FactStore(tmp_path / "facts.db"), list(program.tus))
    assert _findings(fresh) == shortcut
