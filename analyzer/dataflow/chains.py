"""Call chains: reachability, shortest chains with the conditions guarding each call, and
how many distinct chains lead from one function to another (each recursion counted once).
Results are cached per source: a report asks the same entry points many questions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kmeminit.analyzer.dataflow.cfg import event_blocks, guarding_conditions
from kmeminit.analyzer.dataflow.scc import components
from kmeminit.analyzer.model import Event, EventKind, Location
from kmeminit.analyzer.program import Program


@dataclass(frozen=True)
class ChainStep:
    """A call on a chain (caller, the call's location, callee) or, last, the site.  `via`
    names the iterator when the callee is a callback the caller hands to it."""

    usr: str
    function: str
    location: Location
    callee: str
    conditions: tuple[str, ...] = ()
    via: str | None = None


@dataclass
class CallChains:
    program: Program
    _desc: dict[str, set[str]] = field(default_factory=dict)
    _anc: dict[str, set[str]] = field(default_factory=dict)
    # per source: each reached function's predecessor on the breadth-first tree
    _before: dict[str, dict[str, str | None]] = field(default_factory=dict)

    def descendants(self, usr: str) -> set[str]:
        """`usr` and every function it reaches."""
        if usr not in self._desc:
            self._desc[usr] = _reach(self.program.succ, usr)
        return self._desc[usr]

    def ancestors(self, usr: str) -> set[str]:
        """`usr` and every function that reaches it."""
        if usr not in self._anc:
            self._anc[usr] = _reach(self.program.pred, usr)
        return self._anc[usr]

    def shortest(self, source: str, target: str) -> list[str] | None:
        """A shortest chain of function USRs source → target, or None: the one networkx's
        single_source_shortest_path gives (breadth first, level by level, each function
        reached first from the earliest caller in the graph's adjacency order), from a
        tree of predecessors rather than a path list per function."""
        before = self._before.get(source)
        if before is None:
            before = self._before[source] = _bfs_tree(self.program.succ, source)
        if target not in before:
            return None
        path = []
        node: str | None = target
        while node is not None:
            path.append(node)
            node = before[node]
        return path[::-1]

    def count(self, source: str, target: str) -> int:
        """Function chains source → target, each recursion (SCC) collapsed."""
        nodes = self.descendants(source) & self.ancestors(target)
        if not nodes:
            return 0
        succ = self.program.succ
        comps, comp_of = components(nodes, succ)
        dst = comp_of[target]
        counts = [0] * len(comps)
        counts[dst] = 1
        for i, members in enumerate(comps):  # callees first: each count is complete
            if i != dst:
                reached = {comp_of[s] for m in members for s in succ[m] if s in comp_of}
                reached.discard(i)
                counts[i] = sum(counts[c] for c in reached)
        return counts[comp_of[source]]

    def calls(self, path: list[str]) -> tuple[ChainStep, ...]:
        """Call steps along `path`, each call site chosen with the fewest guarding
        conditions."""
        steps = []
        graph = self.program.graph
        for caller, callee in zip(path, path[1:], strict=False):
            fn = self.program.functions[caller]
            best = None
            for call in graph.edges[caller, callee]["sites"]:
                for bid, _ in event_blocks(fn, Event(EventKind.CALL, call.index)):
                    conds = guarding_conditions(fn, bid)
                    if best is None or len(conds) < len(best[1]):
                        best = (call, conds)
            if best is None:
                call = graph.edges[caller, callee]["sites"][0]
                best = (call, ())
            via = None if callee in self.program.call_targets(best[0]) else next(
                (c.via for c in self.program.callbacks(best[0]) if c.target == callee), None)
            steps.append(ChainStep(caller, fn.name, best[0].location,
                                   self.program.name_of(callee), best[1], via))
        return tuple(steps)


def _reach(adjacency: Mapping[str, Iterable[str]], start: str) -> set[str]:
    """`start` and every node reachable from it along `adjacency` (a graph's succ or
    pred): the sets networkx's descendants / ancestors give, without their generic BFS."""
    seen = {start}
    todo = [start]
    while todo:
        for nxt in adjacency[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _bfs_tree(succ: Mapping[str, Iterable[str]], source: str) -> dict[str, str | None]:
    """Each node reachable from `source` → its predecessor on networkx's breadth-first
    shortest paths (None for the source)."""
    before: dict[str, str | None] = {source: None}
    level = [source]
    while level:
        nxt = []
        for node in level:
            for child in succ[node]:
                if child not in before:
                    before[child] = node
                    nxt.append(child)
        level = nxt
    return before
