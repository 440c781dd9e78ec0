"""Queries over one function's CFG (intraprocedural)."""

from __future__ import annotations

from collections.abc import Iterator

from kmeminit.analyzer.model import Event, EventKind, Function


def event_sites(fn: Function, kind: EventKind, index: int) -> Iterator[tuple[int, int]]:
    """(block id, position in block) of every occurrence of event (kind, index)."""
    wanted = Event(kind, index)
    for block in fn.blocks:
        for pos, event in enumerate(block.events):
            if event == wanted:
                yield block.id, pos


def calls_named(fn: Function, name: str) -> list[int]:
    return [c.index for c in fn.calls if c.callee == name]


def reaches(fn: Function, first: tuple[int, int], second: tuple[int, int],
            avoid: frozenset[tuple[int, int]] | set[tuple[int, int]] = frozenset()) -> bool:
    """True when some CFG path executes the event at `first` and later the one at `second`
    without executing any event in `avoid` in between (e.g. a reassignment)."""
    (b1, p1), (b2, p2) = first, second

    def clear(block: int, lo: float, hi: float) -> bool:
        return not any(b == block and lo < p < hi for b, p in avoid)

    if b1 == b2 and p1 < p2 and clear(b1, p1, p2):
        return True
    if not clear(b1, p1, float("inf")):
        return False
    succs = {b.id: [e.target for e in b.succs] for b in fn.blocks}
    seen: set[int] = set()
    stack = list(succs.get(b1, []))
    while stack:
        block = stack.pop()
        if block == b2 and clear(block, -1, p2):
            return True
        if block in seen:
            continue
        seen.add(block)
        if clear(block, -1, float("inf")):
            stack.extend(succs.get(block, []))
    return False


def call_precedes(fn: Function, first: str, second: str) -> bool:
    """Some path calls `first` and later `second` (by callee name)."""
    return any(reaches(fn, a, b)
               for i in calls_named(fn, first) for a in event_sites(fn, EventKind.CALL, i)
               for j in calls_named(fn, second) for b in event_sites(fn, EventKind.CALL, j))
