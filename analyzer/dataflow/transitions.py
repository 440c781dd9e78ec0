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

from collections import ChainMap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kmeminit.analyzer.dataflow.scc import components
from kmeminit.analyzer.model import ENTRY_BLOCK, EXIT_BLOCK, Event, EventKind, Function
from kmeminit.analyzer.program import Program

KEEP = "keep"  # no transition on the path
_KEEP = frozenset({KEEP})
_NONE: frozenset[str] = frozenset()
# a planned event: (position in its block, the site's operation or None, the summarised
# functions the call runs); a block: its planned events and its successors
Step = tuple[int, "str | None", tuple[str, ...]]
Block = tuple[tuple[Step, ...], tuple[int, ...]]


@dataclass
class TransitionEngine:
    program: Program
    ops: Mapping[tuple[str, Event], str]  # (usr, event) → operation at that site
    _summaries: dict[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # usr → event → operation, so a function without a site looks nothing up
        self._ops: dict[str, dict[Event, str]] = {}
        for (usr, event), op in self.ops.items():
            self._ops.setdefault(usr, {})[event] = op
        self._plans: dict[str, dict[int, Block]] = {}
        self._relevant = self._ancestors()
        self._summaries = {}  # final, filled in callees first as they are asked for

    def _ancestors(self) -> frozenset[str]:
        """The defined functions that hold a site or call one, transitively: the ones
        with a summary."""
        pred = self.program.pred
        touched = {usr for usr, _ in self.ops}
        relevant = set(touched)
        queue = [u for u in touched if u in pred]
        while queue:  # every caller, transitively: the ancestors of all sites in one walk
            for caller in pred[queue.pop()]:
                if caller not in relevant:
                    relevant.add(caller)
                    queue.append(caller)
        return frozenset(u for u in relevant if u in self.program.functions
                         and self.program.functions[u].blocks)

    def _summarise(self, usrs: Iterable[str]) -> None:
        """The summaries of these functions and of every function with a summary they
        reach, unless known: strongly connected components callees first, each iterated
        until its summaries stop changing.  A component's summaries depend on its own
        members (in sorted order) and on the final summaries of what it calls alone, so
        computing them as they are asked for gives what computing all of them does (a
        chain's effect asks for a few hundred of a whole kernel's 6,000)."""
        succ, relevant, summaries = self.program.succ, self._relevant, self._summaries
        todo: set[str] = set()
        stack = [u for u in usrs if u in relevant and u not in summaries]
        while stack:
            usr = stack.pop()
            if usr not in todo:
                todo.add(usr)
                stack += [v for v in succ[usr]
                          if v in relevant and v not in summaries and v not in todo]
        if not todo:
            return
        working: dict[str, frozenset[str]] = dict.fromkeys(todo, frozenset())
        known = ChainMap(working, summaries)  # the summaries being computed first
        for component in components(todo, succ)[0]:  # callees first
            members = sorted(component)
            changed = True
            while changed:
                changed = False
                for usr in members:
                    fn = self.program.functions[usr]
                    new = self.run_to_exit(fn, ENTRY_BLOCK, 0, frozenset({KEEP}), known)
                    if new != working[usr]:
                        working[usr] = new
                        changed = True
        summaries.update(working)  # all at once: a failure leaves none half done

    @property
    def summaries(self) -> Mapping[str, frozenset[str]]:
        """Every function's summary (those of the functions that hold or reach a site)."""
        self._summarise(sorted(self._relevant))
        return self._summaries

    def summary(self, usr: str) -> frozenset[str]:
        """Last transition possible when `usr` returns: KEEP (none) or an operation."""
        if usr not in self._relevant:
            return frozenset({KEEP})
        self._summarise([usr])
        return self._summaries[usr]

    def _plan(self, fn: Function) -> dict[int, Block]:
        """Each block of `fn`: the events that can change the states, as (position,
        operation of a site, or the summarised functions a call runs), and its successors.
        An event outside these leaves the states as they are: the walk skips it."""
        plan = self._plans.get(fn.usr)
        if plan is not None:
            return plan
        ops = self._ops.get(fn.usr, {})
        relevant = self._relevant
        plan = {}
        for block in fn.blocks:
            steps: list[Step] = []
            for pos, event in enumerate(block.events):
                op = ops.get(event) if ops else None
                if op is not None:
                    steps.append((pos, op, ()))
                elif event.kind is EventKind.CALL:
                    targets = tuple(t for t in self.program.site_targets(fn.calls[event.index])
                                    if t in relevant)
                    if targets:
                        steps.append((pos, None, targets))
            plan[block.id] = (tuple(steps), tuple(e.target for e in block.succs))
        self._plans[fn.usr] = plan
        return plan

    def run_to_exit(self, fn: Function, block: int, pos: int, states: frozenset[str],
                    summaries: Mapping[str, frozenset[str]] | None = None) -> frozenset[str]:
        """States at the exit of `fn` when it continues from (block, pos) in `states`."""
        plan = self._plan(fn)
        if summaries is None:
            self._summarise({t for steps, _ in plan.values() for _, _, targets in steps
                             for t in targets})
            summaries = self._summaries
        if block not in plan:
            return frozenset()
        at: dict[int, set[str]] = {}

        def flow(bid: int, start: int, incoming: frozenset[str]) -> frozenset[str]:
            cur = incoming
            for at_pos, op, targets in plan[bid][0]:
                if at_pos < start:
                    continue
                if op is not None:
                    cur = frozenset({op})
                    continue
                out: set[str] = set()
                for t in targets:  # what each callee can leave, or the states it keeps
                    summary = summaries.get(t, _NONE)
                    out |= summary - _KEEP
                    if KEEP in summary or not summary:
                        out |= cur
                cur = frozenset(out)
            return cur

        first = flow(block, pos, states)
        exits: set[str] = set(first) if block == EXIT_BLOCK else set()
        work = [(succ, first) for succ in plan[block][1]]
        while work:
            bid, incoming = work.pop()
            known = at.setdefault(bid, set())
            if incoming <= known:
                continue
            known |= incoming
            out = flow(bid, 0, frozenset(known))
            if bid == EXIT_BLOCK:
                exits |= out
            work += [(succ, out) for succ in plan[bid][1]]
        return frozenset(exits)
