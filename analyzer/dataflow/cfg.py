"""Queries over one function's CFG (intraprocedural): where events are, what reaches what,
which blocks loop, and which branch conditions guard a block."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator, Mapping

from kmeminit.analyzer.model import ENTRY_BLOCK, Edge, Event, EventKind, Function

_OPERAND = re.compile(r"[\w.>-]+(\(.*\))?")


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


def dominates(fn: Function, guards: list[tuple[int, int]], targets: list[tuple[int, int]]
              ) -> bool:
    """Every CFG path from the entry to every target event executes one of the guard
    events first (the guards, as a set, dominate the targets)."""
    if not guards or not targets:
        return False
    first_guard: dict[int, int] = {}
    for block, pos in guards:
        first_guard[block] = min(pos, first_guard.get(block, pos))
    succs = {b.id: [e.target for e in b.succs] for b in fn.blocks}
    wanted: dict[int, int] = {}
    for block, pos in targets:
        wanted[block] = min(pos, wanted.get(block, pos))
    seen: set[int] = set()
    stack = [ENTRY_BLOCK]
    while stack:
        block = stack.pop()
        if block in seen:
            continue
        seen.add(block)
        guard = first_guard.get(block)
        if block in wanted and (guard is None or guard > wanted[block]):
            return False  # a target reached with no guard before it
        if guard is None:
            stack.extend(succs.get(block, []))
    return True


def call_precedes(fn: Function, first: str, second: str) -> bool:
    """Some path calls `first` and later `second` (by callee name)."""
    return any(reaches(fn, a, b)
               for i in calls_named(fn, first) for a in event_sites(fn, EventKind.CALL, i)
               for j in calls_named(fn, second) for b in event_sites(fn, EventKind.CALL, j))


def event_blocks(fn: Function, event: Event) -> list[tuple[int, int]]:
    """(block id, position) of every occurrence of `event`."""
    return [(b.id, i) for b in fn.blocks for i, e in enumerate(b.events) if e == event]


def event_pos(fn: Function, block: int, event: Event) -> int:
    """Position of `event` in `block` (0 when the block does not hold it)."""
    for b in fn.blocks:
        if b.id == block:
            return b.events.index(event)
    return 0


def events_from(fn: Function, block: int, pos: int) -> list[Event]:
    """Events that may execute after (block, pos): the rest of the block and everything
    reachable from its successors (loops included)."""
    blocks = {b.id: b for b in fn.blocks}
    out = list(blocks[block].events[pos:])
    seen: set[int] = set()
    work = [e.target for e in blocks[block].succs]
    while work:
        bid = work.pop()
        if bid in seen or bid not in blocks:
            continue
        seen.add(bid)
        out.extend(blocks[bid].events)
        work.extend(e.target for e in blocks[bid].succs)
    return out


def loop_blocks(fn: Function) -> set[int]:
    """Blocks on a CFG cycle (loop bodies and conditions)."""
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(b.id for b in fn.blocks)
    graph.add_edges_from((b.id, e.target) for b in fn.blocks for e in b.succs)
    return {n for scc in nx.strongly_connected_components(graph)
            if len(scc) > 1 or any(graph.has_edge(n, n) for n in scc) for n in scc}


# -- guarding conditions -----------------------------------------------------------------


def render_condition(edge: Edge) -> str:
    """The condition an edge takes, as C: a false branch reads `!(cond)` (or the flipped
    comparison), a `switch` case `cond == CASE`."""
    cond = (edge.cond or "").strip()
    if edge.branch in (None, "true"):
        return cond
    if edge.branch == "false":
        if cond.startswith("!") and _single_operand(cond[1:].strip()):
            return cond[1:].strip()
        flipped = _flip_comparison(cond)
        if flipped:
            return flipped
        return f"!({cond})"
    if edge.branch == "default":
        return f"{cond}: default"
    return f"{cond} == {edge.branch.removeprefix('case ').strip()}"


def balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _single_operand(text: str) -> bool:
    """An identifier, field or call whose parentheses close at the end: `pfn_valid(x)`."""
    if not _OPERAND.fullmatch(text) or not balanced(text):
        return False
    if "(" not in text:
        return True
    depth = 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and ch == ")":
            return i == len(text) - 1
    return False


def _flip_comparison(cond: str) -> str | None:
    """`a != b` for a false `a == b` (and back), when the condition is one comparison."""
    if any(op in cond.replace("->", ".") for op in ("&&", "||", "?", "<", ">", "(")):
        return None
    for op, flip in (("==", "!="), ("!=", "==")):
        if cond.count(op) == 1 and cond.count("=") == 2:
            left, right = cond.split(op)
            return f"{left.strip()} {flip} {right.strip()}"
    return None


# guarding_conditions' answers for the functions asked last: call chains from many entry
# points share their steps.  Keyed by the function object's id, which the entry keeps
# alive (so the id cannot be another function's).
_GUARDS: dict[int, tuple[Function, dict[int, tuple[str, ...]]]] = {}
_GUARDS_KEPT = 512


def guarding_conditions(fn: Function, block: int) -> tuple[str, ...]:
    """Conditions of the edges every CFG path from entry to `block` takes (edge
    dominators), nearest to the entry first (a macro repeating its condition counts
    once)."""
    entry = _GUARDS.get(id(fn))
    if entry is None or entry[0] is not fn:
        if len(_GUARDS) >= _GUARDS_KEPT:
            _GUARDS.clear()
        entry = _GUARDS[id(fn)] = (fn, {})
    found = entry[1].get(block)
    if found is None:
        found = entry[1][block] = _guarding_conditions(fn, block)
    return found


def _guarding_conditions(fn: Function, block: int) -> tuple[str, ...]:
    succs = {b.id: b.succs for b in fn.blocks}
    dist = _distances(succs, None)
    if block not in dist:
        return ()
    out: list[str] = []
    candidates = [(dist[b.id], b.id, i, e) for b in fn.blocks if b.id in dist
                  for i, e in enumerate(b.succs) if e.cond is not None]
    for _, src, i, edge in sorted(candidates, key=lambda c: (c[0], c[1], c[2])):
        if block not in _distances(succs, (src, i)):
            text = render_condition(edge)
            # A fragment of a macro's expansion (the tail of a for_each_*() iterator) is
            # not a condition anyone can read: left out.
            if text and balanced(text) and text not in out:
                out.append(text)
    return tuple(out)


def _distances(succs: Mapping[int, tuple[Edge, ...]], removed: tuple[int, int] | None
               ) -> dict[int, int]:
    dist = {ENTRY_BLOCK: 0}
    queue = deque([ENTRY_BLOCK])
    while queue:
        b = queue.popleft()
        for i, e in enumerate(succs.get(b, ())):
            if (b, i) != removed and e.target not in dist:
                dist[e.target] = dist[b] + 1
                queue.append(e.target)
    return dist
