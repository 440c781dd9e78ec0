"""Event ordering on paths, interprocedurally, with witnesses.

Events are labels (INIT, VALID, ONLINE, UNLOCK, ...) attached to function and macro names.
A query is a sequence of steps A1 … An with, for each state i (after A1 … Ai), a set of
kill labels: "from entry E, is there a path on which A1 happens, later A2, …, with no kill
in between?".  The query is an automaton over the labels met along a path; every function
gets a summary (entry state → states possible at its exit, or acceptance inside it),
computed bottom-up over the call graph with strongly connected components iterated to a
fixpoint.  Paths are CFG paths, so A on one branch and B on the other is not an ordering.

The witness for an accepted query is the ordered list of steps through the call chain,
with call depth and the branch conditions taken on the way.  A call event runs its callee
and the callbacks it hands over (`Program.site_targets`): a callback is entered from the
iterator's call site in the function that handed it over, so everything that function did
before the iteration precedes it.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kmeminit.analyzer.model import EXIT_BLOCK, Event, EventKind, Function, Location, ValueKind
from kmeminit.analyzer.program import Program

_NONE: frozenset[str] = frozenset()
# The label of a call whose callee a partial view cannot see (Program.unknown_call): it may
# carry any label, so it ends a path wherever a kill is possible; it never advances one.
UNKNOWN = "<unknown callee>"


@dataclass(frozen=True)
class Query:
    """steps[i]: labels that advance state i to i+1.  kills[i]: labels that end a path
    while in state i (kills[0] forbids a label before the first step)."""

    steps: tuple[frozenset[str], ...]
    kills: tuple[frozenset[str], ...] = ()

    @classmethod
    def sequence(cls, *steps: str | Iterable[str],
                 kills: Mapping[int, Iterable[str]] | None = None) -> Query:
        norm = tuple(frozenset([s]) if isinstance(s, str) else frozenset(s) for s in steps)
        kill = tuple(frozenset((kills or {}).get(i, ())) for i in range(len(norm)))
        return cls(norm, kill)

    @property
    def accept(self) -> int:
        return len(self.steps)

    def advance(self, state: int, labels: frozenset[str]) -> frozenset[int]:
        if state == self.accept:
            return frozenset([state])
        out = set()
        if not labels & self._kills(state):
            out.add(state)
        if labels & self.steps[state]:
            out.add(state + 1)
        if UNKNOWN in labels:  # what the callee does after its own label is unknown
            out = {s for s in out if s == self.accept or not self._kills(s)}
        return frozenset(out)

    def _kills(self, state: int) -> frozenset[str]:
        return self.kills[state] if self.kills and state < len(self.kills) else _NONE


@dataclass(frozen=True)
class WitnessStep:
    function: str  # function name
    usr: str
    location: Location
    label: str  # the event label reached, or "call" for a step into a callee
    callee: str | None
    depth: int
    conditions: tuple[str, ...] = ()  # branch conditions taken since the previous step
    via: str | None = None  # a callback step: the iterator the caller handed it to


@dataclass
class _Node:
    block: int
    pos: int
    state: int


Summary = dict[int, frozenset[int]]  # entry state → exit states (accept means reached)


@dataclass
class OrderingEngine:
    """Label every CFG event of the program, then answer sequence queries."""

    program: Program
    labels: Mapping[str, Iterable[str]]  # label → function / macro names
    # label → constants whose store is the event (`ms->section_mem_map |= SECTION_IS_ONLINE`;
    # a store of the complement, `&= ~SECTION_IS_ONLINE`, is not)
    stores: Mapping[str, Iterable[str]] = field(default_factory=dict)
    _by_name: dict[str, frozenset[str]] = field(default_factory=dict)
    _summaries: dict[Query, dict[str, Summary]] = field(default_factory=dict)
    # (usr, entry state, exit state) → when the fixpoint first derived it: a witness only
    # uses callee facts derived earlier, so recursion cannot make it circular
    _born: dict[Query, dict[tuple[str, int, int], int]] = field(default_factory=dict)
    _relevant_sets: dict[Query, set[str]] = field(default_factory=dict)
    _label_cache: dict[tuple[str, EventKind, int], frozenset[str]] = field(
        default_factory=dict)
    _fn_labels: dict[str, frozenset[str]] = field(default_factory=dict)  # by USR

    def __post_init__(self) -> None:
        by_name: dict[str, set[str]] = {}
        for label, names in self.labels.items():
            for name in names:
                by_name.setdefault(name, set()).add(label)
        self._by_name = {k: frozenset(v) for k, v in by_name.items()}
        by_token: dict[str, set[str]] = {}
        for label, tokens in self.stores.items():
            for token in tokens:
                by_token.setdefault(token, set()).add(label)
        self._store_patterns = [(re.compile(rf"(?<![~\w]){re.escape(t)}\b"), frozenset(ls))
                                for t, ls in sorted(by_token.items())]
        self._store_tokens = tuple(sorted(by_token))

    # -- labelling -------------------------------------------------------------------

    def labels_at(self, fn: Function, event: Event) -> frozenset[str]:
        # keyed by the event's fields: a dataclass's hash is a Python call, and every
        # event of the program is labelled
        key = (fn.usr, event.kind, event.index)
        found = self._label_cache.get(key)
        if found is None:
            found = self._label_cache[key] = self._labels(fn, event)
        return found

    def _labels(self, fn: Function, event: Event) -> frozenset[str]:
        if event.kind is EventKind.CALL:
            site = fn.calls[event.index]
            callbacks = {self.program.name_of(c.target) for c in self.program.callbacks(site)}
            unknown = frozenset({UNKNOWN}) if self.program.unknown_call(site) else _NONE
            if not site.indirect and not callbacks:
                return self._by_name.get(site.callee, _NONE) | unknown
            names = {site.callee} if not site.indirect else \
                {self.program.name_of(t) for t in self.program.call_targets(site)}
            return unknown.union(*(self._by_name.get(n, _NONE) for n in names | callbacks))
        if event.kind is EventKind.MACRO:
            return self._by_name.get(fn.macros[event.index].name, _NONE)
        if event.kind is EventKind.ASSIGN and self._store_patterns:
            assign = fn.assigns[event.index]
            if assign.target.kind is not ValueKind.FIELD:  # a flag tested into a local
                return _NONE
            text = assign.value.text
            found = [labels for pattern, labels in self._store_patterns if pattern.search(text)]
            return frozenset().union(*found) if found else _NONE
        return _NONE

    def location_of(self, fn: Function, event: Event) -> Location:
        if event.kind is EventKind.CALL:
            return fn.calls[event.index].location
        if event.kind is EventKind.MACRO:
            return fn.macros[event.index].location
        if event.kind is EventKind.ASSIGN:
            return fn.assigns[event.index].location
        return fn.returns[event.index].location

    def _callee_targets(self, fn: Function, event: Event, relevant: set[str]) -> list[str]:
        """Callees whose summary matters: the others let every state through unchanged."""
        if event.kind is not EventKind.CALL:
            return []
        return [t for t in self.program.site_targets(fn.calls[event.index]) if t in relevant]

    def _relevant(self, query: Query) -> set[str]:
        """Defined functions that contain, or call something containing, a label of the
        query.  Summaries are computed for these only."""
        alphabet = frozenset().union(*query.steps, *query.kills)
        if any(query.kills):
            alphabet |= {UNKNOWN}
        labelled = {usr for usr, fn in self.program.functions.items()
                    if fn.blocks and self._labels_in(fn) & alphabet}
        pred = self.program.pred
        # every ancestor of a labelled function: one backward walk from all of them
        relevant = set(labelled)
        todo = list(labelled)
        while todo:
            for caller in pred[todo.pop()]:
                if caller not in relevant:
                    relevant.add(caller)
                    todo.append(caller)
        return {u for u in relevant if u in self.program.functions
                and self.program.functions[u].blocks}

    def _labels_in(self, fn: Function) -> frozenset[str]:
        """Every label of every event of a function (the queries share it)."""
        found = self._fn_labels.get(fn.usr)
        if found is None:
            found = self._fn_labels[fn.usr] = frozenset().union(
                *(self.labels_at(fn, ev) for b in fn.blocks for ev in b.events)) \
                if self._may_label(fn) else _NONE
        return found

    def _may_label(self, fn: Function) -> bool:
        """Could an event of `fn` have a label (`_labels`)?  False is exact; most functions
        of a kernel call, expand and store nothing labelled, and are not labelled event by
        event (every event of the program was: 150,000 on a whole-kernel family)."""
        program, by_name = self.program, self._by_name
        if program.partial:  # a call may be unknown there
            return True
        if any(site.indirect or site.callee in by_name or program.callbacks(site)
               for site in fn.calls):
            return True
        if any(macro.name in by_name for macro in fn.macros):
            return True
        tokens = self._store_tokens  # each store pattern's constant, spelled out
        return bool(tokens) and any(
            assign.target.kind is ValueKind.FIELD and any(t in assign.value.text for t in tokens)
            for assign in fn.assigns)

    # -- summaries -------------------------------------------------------------------

    def summaries(self, query: Query) -> dict[str, Summary]:
        if query not in self._summaries:
            self._summaries[query] = self._compute(query)
        return self._summaries[query]

    def _compute(self, query: Query) -> dict[str, Summary]:
        import networkx as nx

        relevant = self._relevant(query)
        self._relevant_sets[query] = relevant
        sub = self.program.graph.subgraph(relevant)
        summaries: dict[str, Summary] = {u: {} for u in relevant}
        born = self._born[query] = {}
        tick = 0
        condensed = nx.condensation(sub)
        for scc in reversed(list(nx.topological_sort(condensed))):
            members = sorted(condensed.nodes[scc]["members"])
            changed = True
            while changed:  # monotone: summaries only grow
                changed = False
                for usr in members:
                    new = self._summarise(self.program.functions[usr], query, summaries)
                    tick += 1
                    if new != summaries[usr]:
                        for start, exits in new.items():
                            for end in exits:
                                born.setdefault((usr, start, end), tick)
                        summaries[usr] = new
                        changed = True
        return summaries

    def _summarise(self, fn: Function, query: Query, summaries: dict[str, Summary]) -> Summary:
        """Block-level fixpoint on sets of states, one run per entry state.  (The witness
        search walks (block, position, state) nodes instead, to keep parents.)"""
        relevant = self._relevant_sets[query]
        accept = query.accept
        steps = [[(self.labels_at(fn, ev), self._callee_targets(fn, ev, relevant))
                  for ev in block.events] for block in fn.blocks]
        succs = [[e.target for e in block.succs] for block in fn.blocks]
        out: Summary = {}
        for start in range(accept):
            entry_states: dict[int, set[int]] = {0: {start}}
            accepted = False
            work = [0]
            while work:
                block = work.pop()
                states = set(entry_states[block])
                for labels, targets in steps[block]:
                    nxt: set[int] = set()
                    for state in states:
                        for mid in query.advance(state, labels):
                            if not targets or mid == accept:
                                nxt.add(mid)
                            else:
                                for t in targets:
                                    nxt |= summaries.get(t, {}).get(mid, frozenset())
                    states = nxt
                    if accept in states:
                        accepted = True
                        states.discard(accept)
                for succ in succs[block]:
                    known = entry_states.setdefault(succ, set())
                    if not states <= known:
                        known |= states
                        work.append(succ)
            exits = set(entry_states.get(EXIT_BLOCK, ()))
            if accepted:
                exits.add(accept)
            out[start] = frozenset(exits)
        return out

    def _transitions(self, fn: Function, node: _Node, query: Query,
                     summaries: dict[str, Summary], before: int | None = None):
        """(next node, how) pairs.  how = (kind, detail, state before, state after the
        event's own labels, state after the callee, callee) for witness reconstruction.
        With `before`, only callee summary facts derived before that tick are used."""
        born = self._born.get(query, {})
        block = fn.blocks[node.block]
        if node.pos < len(block.events):
            event = block.events[node.pos]
            # Advancing first: a witness then names the outermost labelled call.
            for mid in sorted(query.advance(node.state, self.labels_at(fn, event)),
                              reverse=True):
                targets = self._callee_targets(fn, event, self._relevant_sets[query])
                if not targets or mid == query.accept:
                    yield _Node(node.block, node.pos + 1, mid), (
                        "event", event, node.state, mid, mid, None)
                    continue
                for target in targets:
                    for after in summaries.get(target, {}).get(mid, frozenset()):
                        if before is not None and born.get((target, mid, after), 0) >= before:
                            continue
                        yield _Node(node.block, node.pos + 1, after), (
                            "call", event, node.state, mid, after, target)
            return
        for edge in block.succs:
            yield _Node(edge.target, 0, node.state), ("edge", edge, 0, 0, 0, None)

    def _explore(self, fn: Function, start: int, query: Query, summaries: dict[str, Summary],
                 goal=None, parents: dict | None = None, before: int | None = None):
        """BFS over (block, position, state), yielding nodes as reached; `parents` (if
        given) receives each node's predecessor and transition."""
        first = _Node(0, 0, start)
        key = (first.block, first.pos, first.state)
        parents = {} if parents is None else parents
        parents[key] = None
        queue = deque([first])
        while queue:
            node = queue.popleft()
            yield node
            if goal is not None and goal(node):
                return
            if node.state == query.accept:
                continue  # acceptance is absorbing; no need to walk on
            for nxt, how in self._transitions(fn, node, query, summaries, before):
                k = (nxt.block, nxt.pos, nxt.state)
                if k not in parents:
                    parents[k] = ((node.block, node.pos, node.state), how)
                    queue.append(nxt)

    # -- queries ---------------------------------------------------------------------

    def holds(self, entry: str, query: Query) -> bool:
        summary = self.summaries(query).get(entry, {})
        return query.accept in summary.get(0, frozenset())

    def witness(self, entry: str, query: Query, max_depth: int = 32) -> list[WitnessStep]:
        """The steps of one accepted path from `entry`, or [] when the query fails."""
        if not self.holds(entry, query):
            return []
        return self._witness(entry, 0, query.accept, query, 0, max_depth, set())

    def _witness(self, usr: str, start: int, end: int, query: Query, depth: int,
                 max_depth: int, active: set[tuple[str, int, int]]) -> list[WitnessStep]:
        fn = self.program.functions[usr]
        summaries = self.summaries(query)
        accept = query.accept

        def goal(node: _Node) -> bool:
            return node.state == accept if end == accept else (
                node.block == EXIT_BLOCK and node.state == end)

        found = None
        parents: dict = {}
        before = self._born[query].get((usr, start, end))
        for node in self._explore(fn, start, query, summaries, goal, parents, before):
            if goal(node):
                found = node
                break
        if found is None:
            return []
        path = []
        key = (found.block, found.pos, found.state)
        while parents[key] is not None:
            prev, how = parents[key]
            path.append(how)
            key = prev
        path.reverse()
        return self._steps(fn, path, query, depth, max_depth, active | {(usr, start, end)})

    def _steps(self, fn: Function, path: list[tuple], query: Query, depth: int, max_depth: int,
               active: set[tuple[str, int, int]]) -> list[WitnessStep]:
        steps: list[WitnessStep] = []
        conds: list[str] = []
        for kind, detail, before, mid, after, target in path:
            if kind == "edge":
                if detail.cond and detail.cond.strip():
                    cond = (detail.cond if detail.branch in (None, "true")
                            else f"{detail.cond} [{detail.branch}]")
                    if not conds or conds[-1] != cond:  # macros repeat their condition
                        conds.append(cond)
                continue
            location = self.location_of(fn, detail)
            callee = fn.calls[detail.index].callee if detail.kind is EventKind.CALL else None
            if mid != before:
                label = sorted(self.labels_at(fn, detail) & query.steps[before])[0]
                steps.append(WitnessStep(fn.name, fn.usr, location, label, callee, depth,
                                         tuple(conds)))
                conds = []
            if kind == "call" and after != mid:
                site = fn.calls[detail.index]
                via = None if target in self.program.call_targets(site) else next(
                    (c.via for c in self.program.callbacks(site) if c.target == target), None)
                steps.append(WitnessStep(fn.name, fn.usr, location, "call",
                                         self.program.functions[target].name, depth,
                                         tuple(conds), via))
                conds = []
                key = (target, mid, after)
                if depth < max_depth and key not in active:
                    steps.extend(self._witness(target, mid, after, query, depth + 1,
                                               max_depth, active))
        return steps
