"""Memmap events on paths: the ordering engine labelled from the config's `events` and
`event_stores` (VALID, ONLINE, INIT, INIT_RANGE, LOCK, UNLOCK), witnesses from entry points,
and witnesses as finding traces."""

from __future__ import annotations

from collections.abc import Iterator

from kmeminit.analyzer.config import Config
from kmeminit.analyzer.dataflow.cfg import event_sites, reaches
from kmeminit.analyzer.dataflow.ordering import OrderingEngine, Query, WitnessStep
from kmeminit.analyzer.kernel.entries import EntryPoints
from kmeminit.analyzer.model import EventKind, Location
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.results import Step


class MemmapEvents:
    """The ordering engine over the config's event labels, and queries from entries."""

    def __init__(self, program: Program, config: Config, entries: EntryPoints) -> None:
        self.program = program
        self.labels = config.name_sets("events")
        self.engine = OrderingEngine(program, self.labels,
                                     config.get("event_stores", default={}) or {})
        self.entries = entries

    def witnesses(self, query: Query, kinds: list[str], dispatched: Query | None = None
                  ) -> Iterator[tuple[str, list[WitnessStep]]]:
        """(entry, witness steps) for every candidate entry of these kinds from which the
        query holds, in the candidates' deterministic order; then, with `dispatched` (a
        query whose first step makes the range valid), for every function called from an
        unknown context from which that query holds."""
        candidates = self.entries.candidates(kinds)
        for entry in candidates:
            if self.engine.holds(entry, query):
                yield entry, self.engine.witness(entry, query)
        if dispatched is None:
            return
        for entry in self.entries.dispatched(set(candidates)):
            if self.engine.holds(entry, dispatched):
                yield entry, self.engine.witness(entry, dispatched)

    def deferred(self, query: Query, dispatched: Query | None = None) -> list[str]:
        """In a partial view: the functions whose callers lie outside it from which the
        query (or `dispatched`) holds.  An entry point in another TU may reach them, so
        whether that is a finding is the whole program's verdict (`kmeminit report`)."""
        holds = self.engine.holds
        return [usr for usr in sorted(self.entries.unseen)
                if holds(usr, query) or dispatched is not None and holds(usr, dispatched)]

    def later_call(self, step: WitnessStep, label: str) -> tuple[Location, str] | None:
        """(location, callee) of the first call labelled `label` that some path of the
        step's function reaches after the step's own call."""
        fn = self.program.functions[step.usr]
        names = self.labels.get(label, frozenset())
        starts = [site for c in fn.calls if c.location == step.location
                  for site in event_sites(fn, EventKind.CALL, c.index)]
        for call in fn.calls:
            if call.callee in names and any(
                    reaches(fn, s, e) for s in starts
                    for e in event_sites(fn, EventKind.CALL, call.index)):
                return call.location, call.callee
        return None


def witness_trace(steps: list[WitnessStep], what: dict[str, str] | None = None
                  ) -> tuple[Step, ...]:
    """A witness as a finding trace: calls read "calls f()" (a callback "callback:
    walk_memory_blocks() calls back f()"), labelled steps use `what` (label → phrase) and
    name the call that carries the label."""
    out = []
    for s in steps:
        if s.label == "call" and s.via:
            text = f"callback: {s.via}() calls back {s.callee}()"
        elif s.label == "call":
            text = f"calls {s.callee}()"
        else:
            phrase = (what or {}).get(s.label, s.label)
            text = f"{phrase}: {s.callee}()" if s.callee else phrase
        if s.conditions:
            text += f" (when {' && '.join(s.conditions)})"
        out.append(Step(s.location, text, s.depth, s.function))
    return tuple(out)
