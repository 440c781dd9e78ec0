"""Flag transitions: which transition of a flag (set, clear, ...) can be the last one when a
function returns, interprocedurally.

The sites are given as (function USR, event) → operation.  Every function that holds a
site, or calls one that does, gets a summary: the set of operations that can be the last
one when it returns, plus KEEP when some path makes none.  Summaries are computed bottom-up
over the call graph, strongly connected components iterated to a fixpoint.  `run_to_exit`
answers "continuing from here in these states, what can the last transition be at the
exit?", the query behind a chain's net effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kmeminit.analyzer.model import ENTRY_BLOCK, EXIT_BLOCK, Event, EventKind, Function
from kmeminit.analyzer.program import Program

KEEP = "keep"  # no transition on the path


@dataclass
class TransitionEngine:
    program: Program
    ops: Mapping[tuple[str, Event], str]  # (usr, event) → operation at that site
    _summaries: dict[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._summaries = self._summarise()

    def _summarise(self) -> dict[str, frozenset[str]]:
        import networkx as nx

        graph = self.program.graph
        touched = {usr for usr, _ in self.ops}
        relevant = set(touched)
        for usr in touched:
            relevant |= nx.ancestors(graph, usr)
        relevant = {u for u in relevant if u in self.program.functions
                    and self.program.functions[u].blocks}
        summaries: dict[str, frozenset[str]] = {u: frozenset() for u in relevant}
        condensed = nx.condensation(graph.subgraph(relevant))
        for scc in reversed(list(nx.topological_sort(condensed))):
            members = sorted(condensed.nodes[scc]["members"])
            changed = True
            while changed:
                changed = False
                for usr in members:
                    fn = self.program.functions[usr]
                    new = self.run_to_exit(fn, ENTRY_BLOCK, 0, frozenset({KEEP}), summaries)
                    if new != summaries[usr]:
                        summaries[usr] = new
                        changed = True
        return summaries

    @property
    def summaries(self) -> Mapping[str, frozenset[str]]:
        return self._summaries

    def summary(self, usr: str) -> frozenset[str]:
        """Last transition possible when `usr` returns: KEEP (none) or an operation."""
        return self._summaries.get(usr, frozenset({KEEP}))

    def _step(self, fn: Function, event: Event, states: frozenset[str],
              summaries: Mapping[str, frozenset[str]]) -> frozenset[str]:
        op = self.ops.get((fn.usr, event))
        if op is not None:
            return frozenset({op})
        if event.kind is not EventKind.CALL:
            return states
        targets = [t for t in self.program.site_targets(fn.calls[event.index])
                   if t in summaries]
        if not targets:
            return states
        out: set[str] = set()
        for t in targets:
            summary = summaries[t]
            out |= summary - {KEEP}
            if KEEP in summary or not summary:
                out |= states
        return frozenset(out)

    def run_to_exit(self, fn: Function, block: int, pos: int, states: frozenset[str],
                    summaries: Mapping[str, frozenset[str]] | None = None) -> frozenset[str]:
        """States at the exit of `fn` when it continues from (block, pos) in `states`."""
        summaries = self._summaries if summaries is None else summaries
        blocks = {b.id: b for b in fn.blocks}
        if block not in blocks:
            return frozenset()
        at: dict[int, set[str]] = {}

        def flow(bid: int, start: int, incoming: frozenset[str]) -> frozenset[str]:
            cur = incoming
            for event in blocks[bid].events[start:]:
                cur = self._step(fn, event, cur, summaries)
            return cur

        first = flow(block, pos, states)
        exits: set[str] = set(first) if block == EXIT_BLOCK else set()
        work = [(e.target, first) for e in blocks[block].succs]
        while work:
            bid, incoming = work.pop()
            known = at.setdefault(bid, set())
            if incoming <= known:
                continue
            known |= incoming
            out = flow(bid, 0, frozenset(known))
            if bid == EXIT_BLOCK:
                exits |= out
            work.extend((e.target, out) for e in blocks[bid].succs)
        return frozenset(exits)
