"""Who sets, clears and reads PG_reserved, on which paths, under which conditions.

Shared by KMI006 (transitions), KMI007 (readers) and `kmeminit reserved` (the report):

- *sites*: direct set/clear calls (SetPageReserved & co., whether a call or a macro in this
  kernel), bit operations whose first argument is the PG_reserved bit, and calls to
  configured wrappers that have no definition in the analysed code;
- *readers*: PageReserved() / folio_test_reserved() tests and test_bit on the bit;
- for an entry point and a site: the shortest call chain, the number of distinct chains
  (function chains, recursion collapsed), the guarding conditions along the shortest chain
  (analyzer.dataflow.cfg: edge dominators) and the net effect (what the last transition
  can be once the site ran: analyzer.dataflow.transitions);
- per function a summary of the last transition it can make (wrappers are found this way);
- `what_if_drop`: the readers that run after a site on the same entry paths, plus the
  readers inside pfn walkers (they can observe any page at any time).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from kmeminit.analyzer.dataflow.cfg import (
    event_blocks,
    event_pos,
    events_from,
    guarding_conditions,
)
from kmeminit.analyzer.dataflow.chains import CallChains, ChainStep
from kmeminit.analyzer.dataflow.transitions import KEEP, TransitionEngine
from kmeminit.analyzer.model import Event, EventKind, Function, Location
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.reports import (
    ChainRow,
    EntryRow,
    ReachRow,
    ReaderRow,
    ReservedReport,
    SiteRow,
    WhatIfDrop,
    WrapperRow,
)
from kmeminit.analyzer.results import Step

SET, CLEAR = "set", "clear"
_NO_ENTRY = "none"
_VERB = {SET: "sets", CLEAR: "clears"}


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

    @cached_property
    def names(self) -> frozenset[str]:
        """Every name a set, clear or read is spelled with: no other call or macro is
        one."""
        return (self.set | self.clear | self.readers | self.wrappers_set
                | self.wrappers_clear | self.bit_set | self.bit_clear | self.bit_test)


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


class ReservedAnalysis:
    """The PG_reserved inventory of one program: sites, readers, per-function transition
    summaries, chains from entry points."""

    def __init__(self, program: Program, spec: ReservedSpec,
                 entries: Mapping[str, set[str]], is_walker: Callable[[Function], bool]
                 ) -> None:
        self.program = program
        self.spec = spec
        self.entries = entries  # kind → entry USRs
        self.is_walker = is_walker
        self.sites: list[Site] = []
        self.readers: list[Reader] = []
        for usr in sorted(self._used_functions()):
            fn = program.functions[usr]
            if fn.name not in spec.accessors and self._names_any(fn):
                self._collect(fn)
        self.sites.sort(key=lambda x: (x.location, x.usr))
        self.readers.sort(key=lambda x: (x.location, x.usr))
        self.chains = CallChains(program)
        self.transitions = TransitionEngine(program, {(s.usr, s.event): s.op
                                                      for s in self.sites})

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

    def _names_any(self, fn: Function) -> bool:
        """Does `fn` call or expand anything the spec names?  Only those events can be a
        site or a read (`_classify`): most functions are not looked at event by event."""
        names = self.spec.names
        return any(not site.indirect and site.callee in names for site in fn.calls) or \
            any(use.name in names for use in fn.macros)

    def _classify(self, fn: Function, event: Event) -> tuple[str, str, str] | None:
        """(kind, op or "read", name) of a set/clear/read event, else None."""
        spec = self.spec
        if event.kind is EventKind.CALL:
            site = fn.calls[event.index]
            name = site.callee
            if site.indirect or name not in spec.names:
                return None
            first = site.args[0].text if site.args else ""
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
            if name not in spec.names:
                return None
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

    # -- reachability from entry points -----------------------------------------------

    def entry_kinds(self) -> list[tuple[str, str]]:
        """(kind, usr) of every configured entry point, in a stable order."""
        return sorted((kind, u) for kind, usrs in self.entries.items() for u in usrs)

    def chain_steps(self, path: list[str], site: Site) -> tuple[ChainStep, ...]:
        """Call steps along `path` (function USRs), then the site itself."""
        fn = self.program.functions[site.usr]
        return self.chains.calls(path) + (ChainStep(site.usr, site.function, site.location,
                                                    site.callee,
                                                    guarding_conditions(fn, site.block)),)

    def chain_effect(self, chain: tuple[ChainStep, ...], site: Site) -> str:
        """What the last transition can be once the site ran, continuing up the chain."""
        run = self.transitions.run_to_exit
        fn = self.program.functions[site.usr]
        pos = event_pos(fn, site.block, site.event)
        states = run(fn, site.block, pos + 1, frozenset({site.op}))
        for step in reversed(chain[:-1]):
            caller = self.program.functions[step.usr]
            call = next((c for c in caller.calls if c.location == step.location), None)
            if call is None:
                continue
            for bid, p in event_blocks(caller, Event(EventKind.CALL, call.index)):
                states = run(caller, bid, p + 1, states)
                break
        return effect_name(states)

    @cached_property
    def reaches(self) -> list[Reach]:
        """Every (entry, site) pair, and each site no entry reaches once (entry "none")."""
        out: list[Reach] = []
        for site in self.sites:
            found = False
            for kind, entry in self.entry_kinds():
                path = self.chains.shortest(entry, site.usr)
                if path is None:
                    continue
                found = True
                chain = self.chain_steps(path, site)
                out.append(Reach(kind, self.program.name_of(entry), entry, site, chain,
                                 self.chains.count(entry, site.usr),
                                 self.chain_effect(chain, site)))
            if not found:
                chain = self.chain_steps([site.usr], site)
                out.append(Reach(_NO_ENTRY, _NO_ENTRY, None, site, chain, 0,
                                 self.chain_effect(chain, site)))
        return out

    def reader_entries(self, reader: Reader) -> list[tuple[str, str, str]]:
        """(kind, entry name, entry USR) of the entry points that reach the reader."""
        anc = self.chains.ancestors(reader.usr)
        return sorted({(kind, self.program.name_of(u), u) for kind, u in self.entry_kinds()
                       if u in anc})

    def chain_to(self, entry: str, usr: str) -> tuple[ChainStep, ...]:
        """The calls of the shortest chain entry → usr (no final site step)."""
        path = self.chains.shortest(entry, usr)
        return self.chains.calls(path) if path else ()

    def entry_effect(self, entry: str) -> str:
        return effect_name(self.transitions.summary(entry))

    def wrappers(self) -> list[tuple[str, str, bool, bool]]:
        """(function, op, unconditional, direct) for the functions whose calls can make
        one kind of transition only, and either always make it (unconditional: every path
        to the exit ends in it) or hold or directly call a site (direct: the site is in
        its own body).  Deeper conditional callers are everything above the allocator."""
        direct = {s.usr for s in self.sites}
        graph = self.program.graph
        out = []
        for usr, summary in sorted(self.transitions.summaries.items()):
            ops = summary - {KEEP}
            near = usr in direct or any(t in direct for t in graph.successors(usr))
            if len(ops) == 1 and (KEEP not in summary or near):
                out.append((self.program.name_of(usr), next(iter(ops)), KEEP not in summary,
                            usr in direct))
        return sorted(out)

    # -- traces for findings ----------------------------------------------------------

    def reach_trace(self, reach: Reach) -> tuple[Step, ...]:
        """The shortest chain as trace steps, with each function's guarding conditions."""
        steps = []
        last = len(reach.chain) - 1
        for depth, step in enumerate(reach.chain):
            if depth == last:
                text = f"{step.callee}() {_VERB[reach.site.op]} PG_reserved"
            else:
                text = _call_text(step)
            if step.conditions:
                text += f" (when {' && '.join(step.conditions)})"
            steps.append(Step(step.location, text, depth, step.function))
        return tuple(steps)

    def reader_trace(self, reader: Reader, entry: str) -> tuple[Step, ...]:
        """The shortest chain from `entry` to the reader, then the read."""
        chain = self.chain_to(entry, reader.usr)
        return tuple(Step(s.location, _call_text(s), depth, s.function)
                     for depth, s in enumerate(chain)) + (
            Step(reader.location, f"{reader.callee}() reads PG_reserved", len(chain),
                 reader.function),)

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
            if site.usr in self.chains.descendants(entry):
                on_paths |= self.chains.descendants(entry) & self.chains.ancestors(site.usr)
        on_paths.add(site.usr)
        for usr in on_paths:
            fn = self.program.functions.get(usr)
            if fn is None:
                continue
            starts = []
            if usr == site.usr:
                starts.append((site.block, event_pos(fn, site.block, site.event) + 1))
            for call in fn.calls:
                if any(t in on_paths for t in self.program.site_targets(call)):
                    for bid, p in event_blocks(fn, Event(EventKind.CALL, call.index)):
                        starts.append((bid, p + 1))
            for bid, pos in starts:
                for event in events_from(fn, bid, pos):
                    same_fn.add((usr, event))
                    if event.kind is EventKind.CALL:
                        for t in self.program.site_targets(fn.calls[event.index]):
                            if t in graph:
                                after |= self.chains.descendants(t)
        out = []
        for reader in self.readers:
            if reader.usr in after or (reader.usr, reader.event) in same_fn:
                out.append((reader, "after"))
            elif reader.in_walker:
                out.append((reader, "walker"))
        return out

    # -- the report -----------------------------------------------------------------

    def report(self, drop: str | None = None) -> ReservedReport:
        """Everything `kmeminit reserved` shows, as typed data (absolute paths)."""
        program = self.program
        sites = tuple(SiteRow(_site_id(s), s.op, s.callee, s.function, s.via, s.atomic,
                              *_loc(s.location)) for s in self.sites)
        readers = tuple(ReaderRow(_reader_id(r), r.callee, r.function, r.in_walker,
                                  tuple(name for _, name, _ in self.reader_entries(r)),
                                  *_loc(r.location)) for r in self.readers)
        entries = []
        for kind, usr in self.entry_kinds():
            fn = program.functions[usr]
            reached = tuple(_reach(x) for x in self.reaches if x.entry_usr == usr)
            reachable = tuple(_reader_id(r) for r in self.readers
                              if usr in {u for _, _, u in self.reader_entries(r)})
            entries.append(EntryRow(kind, fn.name, fn.file, fn.line, self.entry_effect(usr),
                                    reached, reachable))
        dropped = None
        if drop is not None:
            found = self.find_sites(drop)
            dropped = WhatIfDrop(drop, tuple(_site_id(s) for s in found), tuple(sorted(
                {(_reader_id(r), why) for s in found for r, why in self.what_if_drop(s)})))
        return ReservedReport(
            tuple(entries), tuple(_reach(x) for x in self.reaches if x.entry_usr is None),
            sites, readers,
            tuple(WrapperRow(*w) for w in self.wrappers()), dropped)


def _where(fn: Function, event: Event) -> tuple[Location, str]:
    if event.kind is EventKind.CALL:
        call = fn.calls[event.index]
        return call.location, call.text
    use = fn.macros[event.index]
    return use.location, use.text


def _loc(location: Location) -> tuple[str, int, int]:
    return location.file, location.line, location.col


def _site_id(site: Site) -> str:
    return f"{site.function}@{site.location.line}"


def _reader_id(reader: Reader) -> str:
    return f"{reader.function}@{reader.location.line}"


def _reach(x: Reach) -> ReachRow:
    return ReachRow(_site_id(x.site), x.site.op, x.site.callee, x.site.function,
                    *_loc(x.site.location), x.chains, x.effect, x.conditions,
                    tuple(ChainRow(s.function, s.callee, s.conditions, *_loc(s.location))
                          for s in x.chain))


def _call_text(step: ChainStep) -> str:
    if step.via:
        return f"callback: {step.via}() calls back {step.callee}()"
    return f"calls {step.callee}()"
