"""The calls' trace of the prefilter's demand (analyzer/calltrace.py): whenever it says a
change of calls keeps what the demand read of its walks, reading them again over the
changed index gives the same, and it does say so for changes that leave the walks alone."""

from __future__ import annotations

import random
from typing import Any

from kmeminit.analyzer.calltrace import CallTrace, StoredTrace
from kmeminit.analyzer.lexindex import LexFile, LexFunction, LexIndex

SLACK = 1


def _index(calls: dict[str, set[str]]) -> LexIndex:
    fns = tuple(LexFunction(k, "a.c", 0, False, False, False, frozenset(), frozenset(c),
                            frozenset(), frozenset()) for k, c in sorted(calls.items()))
    lex = LexIndex()
    lex.add_scan("a.c", LexFile("a.c", fns, frozenset(), ()))
    lex.max_levels = 64
    return lex


def _read(lex: LexIndex, entries: list[str], holders: list[str]) -> Any:
    """What prefilter.lexical_demand reads of walks, in each of the ways it reads them."""
    down = {e: lex.levels([e], paths=False, use=f"entry:{e}") for e in entries}
    up = {h: lex.levels([h], up=True, paths=False, use=f"holder:{h}") for h in holders}
    chains = {(e, h): frozenset(k for k in down[e] if k in up[h] and
                                down[e][k][0] + up[h][k][0] <= down[e][h][0] + SLACK)
              for e in entries for h in holders if h in down[e]}
    ordered = lex.levels(holders, up=True)
    sets = (frozenset(lex.up(entries[:1])), frozenset(lex.down(holders[:1])))
    near = {k: lex.nearest_callee(k, ordered) for k in sorted(lex.defs)}
    root = lex.path_to_root(holders[-1], lambda k: k == entries[-1])
    limited = frozenset(lex.levels(entries[-1:], up=True, limit=2, paths=False))
    callers = lex.callers_of(entries[0])
    return chains, ordered, sets, near, root, limited, callers, lex.deepest, lex.bounded


def _graph(rng: random.Random) -> dict[str, set[str]]:
    keys = [f"f{i}" for i in range(rng.randrange(6, 16))]
    density = rng.choice([0.08, 0.15, 0.3])
    return {k: {c for c in keys if c != k and rng.random() < density} for k in keys}


def test_a_kept_change_reads_the_same_and_both_answers_occur() -> None:
    rng = random.Random(7)
    kept = changed = 0
    for _ in range(3000):
        calls = _graph(rng)
        keys = sorted(calls)
        entries, holders = rng.sample(keys, 2), rng.sample(keys, 3)
        lex = _index(calls)
        lex.trace = CallTrace()
        before = _read(lex, entries, holders)
        trace = StoredTrace(lex.trace.encode())
        pairs = [(a, b) for a in keys for b in keys if a != b]
        added = {p for p in rng.sample(pairs, rng.randrange(1, 3)) if p[1] not in calls[p[0]]}
        present = [(a, b) for a in keys for b in calls[a]]
        removed = set(rng.sample(present, min(len(present), rng.randrange(0, 2))))
        if not trace.keeps(added, removed, SLACK):
            changed += 1
            continue
        kept += 1
        after = {k: set(c) for k, c in calls.items()}
        for a, b in added:
            after[a].add(b)
        for a, b in removed:
            after[a].discard(b)
        assert _read(_index(after), entries, holders) == before, (calls, added, removed)
    assert kept > 150 and changed > 150, (kept, changed)


def test_the_trace_survives_its_encoding() -> None:
    lex = _index({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a"}})
    lex.trace = CallTrace()
    lex.levels(["a"], paths=False, use="entry:a")
    lex.levels(["c"], up=True, paths=False, use="holder:c")
    stored = StoredTrace(lex.trace.encode())
    assert stored.keys == ["a", "b", "c", "d"]
    assert [stored.level(stored.walks[0], k) for k in "abcd"] == [0, 1, 2, None]
    assert [stored.level(stored.walks[1], k) for k in "abcd"] == [2, 1, 0, 3]
    assert stored.keeps({("a", "c")}, set(), SLACK) is False  # a shorter chain a → c
    # d's chain to the holder shortens: the holder walk, the deepest, may be shallower
    assert stored.keeps({("d", "b")}, set(), SLACK) is False
    assert stored.keeps({("d", "e")}, set(), SLACK) is True  # no walk steps from d to e
    assert stored.keeps({("e", "d")}, set(), SLACK) is False  # the holder walk gains e
    assert stored.keeps(set(), {("d", "a")}, SLACK) is False  # the holder walk's step


def test_a_sorted_walk_keeps_its_predecessors() -> None:
    """Along callers from h: b and c at level 1, y (calling c) at level 2 after c.  A call
    y → b leaves every level as it is, but b comes before c: y's predecessor would be b."""
    calls = {"b": {"h"}, "c": {"h"}, "y": {"c"}, "h": set()}
    for paths in (True, False):
        lex = _index(calls)
        lex.trace = CallTrace()
        before = lex.levels(["h"], up=True, paths=paths, use="levels")
        assert before["y"] == (2, "c")
        stored = StoredTrace(lex.trace.encode())
        assert stored.keeps({("y", "b")}, set(), SLACK) is not paths
    after = _index(calls | {"y": {"b", "c"}}).levels(["h"], up=True)
    assert after["y"] == (2, "b")


def test_a_call_through_a_variable_the_walks_resolved_is_a_change() -> None:
    """`cb = target;` at file scope: whoever calls cb calls target.  The walk along
    target's callers met cb's callers; a new call of cb gives target one more."""
    fns = tuple(LexFunction(name, "v.c", 0, False, False, False, frozenset(), frozenset(c),
                            frozenset(), frozenset())
                for name, c in (("target", set()), ("user", {"cb"}), ("other", set())))
    lex = LexIndex()
    lex.add_scan("v.c", LexFile("v.c", fns, frozenset(), (), (("cb", "target"),),
                                frozenset({"cb"})))
    lex.trace = CallTrace()
    assert set(lex.levels(["target"], up=True, paths=False, use="set")) == {"target", "user"}
    stored = StoredTrace(lex.trace.encode())
    assert stored.keeps({("other", "cb")}, set(), SLACK) is False
    assert stored.keeps({("other", "user")}, set(), SLACK) is False  # a new caller
    assert stored.keeps({("user", "other")}, set(), SLACK) is True
