"""Who sets, clears and reads PG_reserved, on which paths, under which conditions.

A pure analysis of the program model, shared by KMI006 (transitions), KMI007 (readers) and
`kmeminit reserved` (the report):

- *sites*: direct set/clear calls (SetPageReserved & co., whether a call or a macro in this
  kernel), bit operations whose first argument is the PG_reserved bit, and calls to
  configured wrappers that have no definition in the analysed code;
- *readers*: PageReserved() / folio_test_reserved() tests and test_bit on the bit;
- for an entry point and a site: the shortest call chain, the number of distinct chains
  (function chains, recursion collapsed), the guarding conditions along the shortest chain
  and the net effect (what the last transition can be once the site ran);
- per function a summary of the last transition it can make (wrappers are found this way);
- `what_if_drop`: the readers that run after a site on the same entry paths, plus the
  readers inside pfn walkers (they can observe any page at any time).

Guarding conditions are edge dominators: the conditional CFG edges every path from the
function's entry to the site must take (control dependence on the enclosing branches).
A condition on only some of the paths (an `if` whose both arms lead on) is not one.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import networkx as nx

from kmeminit.analyzer.model import (
    ENTRY_BLOCK,
    EXIT_BLOCK,
    Edge,
    Event,
    EventKind,
    Function,
    Location,
)
from kmeminit.analyzer.program import Program

SET, CLEAR, KEEP = "set", "clear", "keep"
_NO_ENTRY = "none"
_OPERAND = re.compile(r"[\w.>-]+(\(.*\))?")


@dataclass(frozen=True)
class ReservedSpec:
    """Kernel knowledge from the `reserved` config section (aliases already expanded)."""

    set: frozenset[str] = frozenset()
    clear: frozenset[str] = frozenset()
    bit_set: frozenset[str] = frozenset()
    bit_clear: frozenset[str] = frozenset()
    bit_test: frozenset[str] = frozenset()
    bits: frozenset[str] = frozenset()
    readers: frozenset[str] = frozenset()
    wrappers_set: frozenset[str] = frozenset()
    wrappers_clear: frozenset[str] = frozenset()

    @classmethod
    def from_sets(cls, sets: Mapping[str, frozenset[str]]) -> ReservedSpec:
        return cls(**{f: frozenset(sets.get(f, ())) for f in cls.__dataclass_fields__})

    @cached_property
    def accessors(self) -> frozenset[str]:
        """The generated flag accessors themselves: their bodies are not sites."""
        return self.set | self.clear | self.readers

    @cached_property
    def _bit(self) -> re.Pattern[str]:
        names = "|".join(re.escape(b) for b in sorted(self.bits)) or r"(?!)"
        return re.compile(rf"^\s*\(?\s*({names})\b")

    def is_bit(self, text: str) -> bool:
        return bool(self._bit.match(text))


@dataclass(frozen=True)
class Site:
    """One direct PG_reserved transition.  `via` is call, macro, bitop or wrapper."""

    usr: str
    function: str
    op: str  # set | clear
    callee: str
    location: Location
    event: Event
    block: int
    via: str
    text: str = ""

    @property
    def atomic(self) -> bool:
        return not self.callee.startswith("__")


@dataclass(frozen=True)
class Reader:
    usr: str
    function: str
    callee: str
    location: Location
    event: Event
    block: int
    in_walker: bool


@dataclass(frozen=True)
class ChainStep:
    """A call on the chain (caller, the call's location, callee) or, last, the site."""

    usr: str
    function: str
    location: Location
    callee: str
    conditions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reach:
    """A site as reached from one entry point (entry "none": from no entry)."""

    kind: str
    entry: str  # entry function name, or "none"
    entry_usr: str | None
    site: Site
    chain: tuple[ChainStep, ...]
    chains: int
    effect: str  # left reserved | cleared | either

    @property
    def conditions(self) -> tuple[str, ...]:
        return tuple(c for step in self.chain for c in step.conditions)


def effect_name(states: Iterable[str]) -> str:
    ops = set(states) - {KEEP}
    if ops == {SET}:
        return "left reserved"
    if ops == {CLEAR}:
        return "cleared"
    return "either" if ops else "unchanged"


def render_condition(edge: Edge) -> str:
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


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _single_operand(text: str) -> bool:
    """An identifier, field or call whose parentheses close at the end: `pfn_valid(x)`."""
    if not _OPERAND.fullmatch(text) or not _balanced(text):
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


def guarding_conditions(fn: Function, block: int) -> tuple[str, ...]:
    """Conditions of the edges every CFG path from entry to `block` takes, nearest to the
    entry first (a macro repeating its condition counts once)."""
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
            if text and _balanced(text) and text not in out:
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


@dataclass
class ReservedAnalysis:
    program: Program
    spec: ReservedSpec
    entries: Mapping[str, set[str]]  # kind → entry USRs
    is_walker: Callable[[Function], bool]
    sites: list[Site] = field(default_factory=list)
    readers: list[Reader] = field(default_factory=list)
    _summaries: dict[str, frozenset[str]] = field(default_factory=dict)
    _desc: dict[str, set[str]] = field(default_factory=dict)
    _anc: dict[str, set[str]] = field(default_factory=dict)
    _paths: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        used = self._used_functions()
        for usr in sorted(used):
            fn = self.program.functions[usr]
            if fn.name in self.spec.accessors:
                continue
            self._collect(fn)
        self.sites.sort(key=lambda x: (x.location, x.usr))
        self.readers.sort(key=lambda x: (x.location, x.usr))
        self._summaries = self._summarise()

    # -- finding sites and readers ---------------------------------------------------

    def _used_functions(self) -> set[str]:
        """Main-file functions, and header inlines that some main-file function calls:
        a header's uncalled inlines are declarations the TU merely saw."""
        graph = self.program.graph
        main = [u for u, fn in self.program.functions.items() if not fn.from_header]
        used = set(main)
        queue = deque(main)
        while queue:
            for succ in graph.successors(queue.popleft()):
                if succ not in used and succ in self.program.functions:
                    used.add(succ)
                    queue.append(succ)
        return used

    def _classify(self, fn: Function, event: Event) -> tuple[str, str, str] | None:
        """(kind, op or "read", name) of a set/clear/read event, else None."""
        spec = self.spec
        if event.kind is EventKind.CALL:
            site = fn.calls[event.index]
            name = site.callee
            first = site.args[0].text if site.args else ""
            if site.indirect:
                return None
            if name in spec.set or name in spec.clear:
                return "call", SET if name in spec.set else CLEAR, name
            if name in spec.readers:
                return "call", "read", name
            if site.callee_usr not in self.program.functions and (
                    name in spec.wrappers_set or name in spec.wrappers_clear):
                return "wrapper", SET if name in spec.wrappers_set else CLEAR, name
        elif event.kind is EventKind.MACRO:
            use = fn.macros[event.index]
            name = use.name
            first = use.args[0] if use.args else ""
            if name in spec.set or name in spec.clear:
                return "macro", SET if name in spec.set else CLEAR, name
            if name in spec.readers:
                return "macro", "read", name
        else:
            return None
        if spec.is_bit(first):
            if name in spec.bit_set:
                return "bitop", SET, name
            if name in spec.bit_clear:
                return "bitop", CLEAR, name
            if name in spec.bit_test:
                return "bitop", "read", name
        return None

    def _collect(self, fn: Function) -> None:
        walker: bool | None = None
        for block in fn.blocks:
            for event in block.events:
                hit = self._classify(fn, event)
                if hit is None:
                    continue
                via, op, name = hit
                loc, text = _where(fn, event)
                if op == "read":
                    if walker is None:
                        walker = self.is_walker(fn)
                    self.readers.append(Reader(fn.usr, fn.name, name, loc, event, block.id,
                                               walker))
                else:
                    self.sites.append(Site(fn.usr, fn.name, op, name, loc, event, block.id,
                                           via, text))

    @cached_property
    def _ops_at(self) -> dict[tuple[str, Event], str]:
        return {(s.usr, s.event): s.op for s in self.sites}

    # -- per-function summaries: the last transition a call can make --------------------

    def _summarise(self) -> dict[str, frozenset[str]]:
        graph = self.program.graph
        touched = {s.usr for s in self.sites}
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

    def summary(self, usr: str) -> frozenset[str]:
        """Last transition possible when `usr` returns: keep (none), set, clear."""
        return self._summaries.get(usr, frozenset({KEEP}))

    def _step(self, fn: Function, event: Event, states: frozenset[str],
              summaries: Mapping[str, frozenset[str]]) -> frozenset[str]:
        op = self._ops_at.get((fn.usr, event))
        if op is not None:
            return frozenset({op})
        if event.kind is not EventKind.CALL:
            return states
        targets = [t for t in self.program.call_targets(fn.calls[event.index])
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

    # -- reachability from entry points -----------------------------------------------

    def entry_kinds(self) -> list[tuple[str, str]]:
        """(kind, usr) of every configured entry point, in a stable order."""
        return sorted((kind, u) for kind, usrs in self.entries.items() for u in usrs)

    def descendants(self, usr: str) -> set[str]:
        if usr not in self._desc:
            self._desc[usr] = nx.descendants(self.program.graph, usr) | {usr}
        return self._desc[usr]

    def ancestors(self, usr: str) -> set[str]:
        if usr not in self._anc:
            self._anc[usr] = nx.ancestors(self.program.graph, usr) | {usr}
        return self._anc[usr]

    def _shortest(self, entry: str, target: str) -> list[str] | None:
        if entry not in self._paths:
            self._paths[entry] = nx.single_source_shortest_path(self.program.graph, entry)
        return self._paths[entry].get(target)

    def count_chains(self, entry: str, target: str) -> int:
        """Function chains entry → target in the slice, each recursion (SCC) collapsed."""
        nodes = self.descendants(entry) & self.ancestors(target)
        if not nodes:
            return 0
        condensed = nx.condensation(self.program.graph.subgraph(nodes))
        mapping = condensed.graph["mapping"]
        src, dst = mapping[entry], mapping[target]
        counts = {dst: 1}
        for scc in reversed(list(nx.topological_sort(condensed))):
            if scc != dst:
                counts[scc] = sum(counts.get(s, 0) for s in condensed.successors(scc))
        return counts.get(src, 0)

    def chain_steps(self, path: list[str], site: Site) -> tuple[ChainStep, ...]:
        """Call steps along `path` (function USRs), then the site itself."""
        fn = self.program.functions[site.usr]
        return self._calls(path) + (ChainStep(site.usr, site.function, site.location,
                                              site.callee,
                                              guarding_conditions(fn, site.block)),)

    def _calls(self, path: list[str]) -> tuple[ChainStep, ...]:
        """Call steps along `path`, each call site chosen with the fewest guarding
        conditions."""
        steps = []
        graph = self.program.graph
        for caller, callee in zip(path, path[1:], strict=False):
            fn = self.program.functions[caller]
            best = None
            for call in graph.edges[caller, callee]["sites"]:
                for bid, _ in _event_blocks(fn, Event(EventKind.CALL, call.index)):
                    conds = guarding_conditions(fn, bid)
                    if best is None or len(conds) < len(best[1]):
                        best = (call, conds)
            if best is None:
                call = graph.edges[caller, callee]["sites"][0]
                best = (call, ())
            steps.append(ChainStep(caller, fn.name, best[0].location,
                                   self.program.name_of(callee), best[1]))
        return tuple(steps)

    def chain_effect(self, chain: tuple[ChainStep, ...], site: Site) -> str:
        """What the last transition can be once the site ran, continuing up the chain."""
        states = frozenset({site.op})
        fn = self.program.functions[site.usr]
        pos = _event_pos(fn, site.block, site.event)
        states = self.run_to_exit(fn, site.block, pos + 1, states)
        for step in reversed(chain[:-1]):
            caller = self.program.functions[step.usr]
            call = next((c for c in caller.calls if c.location == step.location), None)
            if call is None:
                continue
            event = Event(EventKind.CALL, call.index)
            for bid, p in _event_blocks(caller, event):
                states = self.run_to_exit(caller, bid, p + 1, states)
                break
        return effect_name(states)

    @cached_property
    def reaches(self) -> list[Reach]:
        """Every (entry, site) pair, and each site no entry reaches once (entry "none")."""
        out: list[Reach] = []
        for site in self.sites:
            found = False
            for kind, entry in self.entry_kinds():
                path = self._shortest(entry, site.usr)
                if path is None:
                    continue
                found = True
                chain = self.chain_steps(path, site)
                out.append(Reach(kind, self.program.name_of(entry), entry, site, chain,
                                 self.count_chains(entry, site.usr),
                                 self.chain_effect(chain, site)))
            if not found:
                chain = self.chain_steps([site.usr], site)
                out.append(Reach(_NO_ENTRY, _NO_ENTRY, None, site, chain, 0,
                                 self.chain_effect(chain, site)))
        return out

    def reader_entries(self, reader: Reader) -> list[tuple[str, str, str]]:
        """(kind, entry name, entry USR) of the entry points that reach the reader."""
        anc = self.ancestors(reader.usr)
        return sorted({(kind, self.program.name_of(u), u) for kind, u in self.entry_kinds()
                       if u in anc})

    def chain_to(self, entry: str, usr: str) -> tuple[ChainStep, ...]:
        """The calls of the shortest chain entry → usr (no final site step)."""
        path = self._shortest(entry, usr)
        return self._calls(path) if path else ()

    def entry_effect(self, entry: str) -> str:
        return effect_name(self.summary(entry))

    def wrappers(self) -> list[tuple[str, str, bool, bool]]:
        """(function, op, unconditional, direct) for the functions whose calls can make
        one kind of transition only, and either always make it (unconditional: every path
        to the exit ends in it) or hold or directly call a site (direct: the site is in
        its own body).  Deeper conditional callers are everything above the allocator."""
        direct = {s.usr for s in self.sites}
        graph = self.program.graph
        out = []
        for usr, summary in sorted(self._summaries.items()):
            ops = summary - {KEEP}
            near = usr in direct or any(t in direct for t in graph.successors(usr))
            if len(ops) == 1 and (KEEP not in summary or near):
                out.append((self.program.name_of(usr), next(iter(ops)), KEEP not in summary,
                            usr in direct))
        return sorted(out)

    # -- what if a set were dropped -------------------------------------------------

    def find_sites(self, where: str) -> list[Site]:
        """Sites at FILE:LINE (FILE may be a path suffix) or in a function of that name."""
        file, _, line = where.rpartition(":")
        if file and line.isdigit():
            return [s for s in self.sites if s.location.line == int(line)
                    and (s.location.file == file or s.location.file.endswith("/" + file))]
        return [s for s in self.sites if s.function == where]

    def what_if_drop(self, site: Site) -> list[tuple[Reader, str]]:
        """Readers that run after `site` on some entry path to it (reason "after"), plus
        readers inside pfn walkers (reason "walker")."""
        graph = self.program.graph
        after: set[str] = set()  # functions called after the site, transitively
        same_fn: set[tuple[str, Event]] = set()
        on_paths = set()
        for _, entry in self.entry_kinds():
            if site.usr in self.descendants(entry):
                on_paths |= self.descendants(entry) & self.ancestors(site.usr)
        on_paths.add(site.usr)
        for usr in on_paths:
            fn = self.program.functions.get(usr)
            if fn is None:
                continue
            starts = []
            if usr == site.usr:
                starts.append((site.block, _event_pos(fn, site.block, site.event) + 1))
            for call in fn.calls:
                if any(t in on_paths for t in self.program.call_targets(call)):
                    for bid, p in _event_blocks(fn, Event(EventKind.CALL, call.index)):
                        starts.append((bid, p + 1))
            for bid, pos in starts:
                for event in _events_from(fn, bid, pos):
                    same_fn.add((usr, event))
                    if event.kind is EventKind.CALL:
                        for t in self.program.call_targets(fn.calls[event.index]):
                            if t in graph:
                                after |= self.descendants(t)
        out = []
        for reader in self.readers:
            if reader.usr in after or (reader.usr, reader.event) in same_fn:
                out.append((reader, "after"))
            elif reader.in_walker:
                out.append((reader, "walker"))
        return out


def _where(fn: Function, event: Event) -> tuple[Location, str]:
    if event.kind is EventKind.CALL:
        call = fn.calls[event.index]
        return call.location, call.text
    use = fn.macros[event.index]
    return use.location, use.text


def _event_blocks(fn: Function, event: Event) -> list[tuple[int, int]]:
    return [(b.id, i) for b in fn.blocks for i, e in enumerate(b.events) if e == event]


def _event_pos(fn: Function, block: int, event: Event) -> int:
    for b in fn.blocks:
        if b.id == block:
            return b.events.index(event)
    return 0


def _events_from(fn: Function, block: int, pos: int) -> list[Event]:
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


# -- the plain report the formatters render ---------------------------------------------


def _loc(location: Location) -> dict[str, object]:
    return {"file": location.file, "line": location.line, "col": location.col}


def _site_id(site: Site) -> str:
    return f"{site.function}@{site.location.line}"


def report(analysis: ReservedAnalysis, drop: str | None = None) -> dict[str, object]:
    """Everything `kmeminit reserved` shows, as JSON-compatible data (absolute paths)."""
    program = analysis.program
    sites = [{"id": _site_id(s), "op": s.op, "callee": s.callee, "function": s.function,
              "via": s.via, "atomic": s.atomic, **_loc(s.location)} for s in analysis.sites]
    readers = []
    for r in analysis.readers:
        readers.append({"id": f"{r.function}@{r.location.line}", "callee": r.callee,
                        "function": r.function, "walker": r.in_walker,
                        "entries": [f"{name}" for _, name, _ in analysis.reader_entries(r)],
                        **_loc(r.location)})
    entries = []
    for kind, usr in analysis.entry_kinds():
        fn = program.functions[usr]
        reached = [x for x in analysis.reaches if x.entry_usr == usr]
        anc_readers = [f"{r.function}@{r.location.line}" for r in analysis.readers
                       if usr in {u for _, _, u in analysis.reader_entries(r)}]
        entries.append({
            "kind": kind, "name": fn.name, "file": fn.file, "line": fn.line,
            "effect": analysis.entry_effect(usr),
            "sites": [_reach(x) for x in reached], "readers": anc_readers})
    out: dict[str, object] = {
        "entries": entries,
        "unreached": [_reach(x) for x in analysis.reaches if x.entry_usr is None],
        "sites": sites, "readers": readers,
        "wrappers": [{"function": f, "op": op, "unconditional": unc, "direct": direct}
                     for f, op, unc, direct in analysis.wrappers()],
    }
    if drop is not None:
        found = analysis.find_sites(drop)
        out["what_if_drop"] = {
            "query": drop, "sites": [_site_id(s) for s in found],
            "readers": sorted({(f"{r.function}@{r.location.line}", why)
                               for s in found for r, why in analysis.what_if_drop(s)})}
    return out


def _reach(x: Reach) -> dict[str, object]:
    return {"site": _site_id(x.site), "op": x.site.op, "callee": x.site.callee,
            "function": x.site.function, **_loc(x.site.location), "chains": x.chains,
            "effect": x.effect, "conditions": list(x.conditions),
            "chain": [{"function": s.function, "callee": s.callee, "conditions":
                       list(s.conditions), **_loc(s.location)} for s in x.chain]}
