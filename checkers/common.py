"""Helpers shared by the built-in rules: engines built once per run from the config,
entry points, and witness → trace conversion."""

from __future__ import annotations

import networkx as nx

from kmeminit.analyzer.config import Config
from kmeminit.analyzer.dataflow.ordering import OrderingEngine, WitnessStep
from kmeminit.analyzer.dataflow.origins import OriginEngine, OriginSpec
from kmeminit.analyzer.model import Event, EventKind, Function
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.reserved import ReservedAnalysis, ReservedSpec
from kmeminit.analyzer.results import Step


def ordering_engine(program: Program, config: Config) -> OrderingEngine:
    return program.memo(("ordering",), lambda: OrderingEngine(
        program, config.name_sets("events"), config.get("event_stores", default={}) or {}))


def origin_engine(program: Program, config: Config,
                  pointer: str = "struct vmem_altmap *") -> OriginEngine:
    def build() -> OriginEngine:
        section = config.get("origins", pointer, default={}) or {}
        helpers = section.get("embedded_helpers", {}) or {}
        return OriginEngine(program, OriginSpec(
            pointer, config.names(section.get("allocators", []) or []),
            tuple(sorted(helpers.items()))))
    return program.memo(("origins", pointer), build)


def entry_points(program: Program, config: Config) -> dict[str, set[str]]:
    """Entry kind (boot, hotplug, device, freeing) → USRs of defined functions."""
    return {kind: {u for u in program.usrs_named(names) if u in program.functions}
            for kind, names in config.name_sets("entries").items()}


def witness_trace(steps: list[WitnessStep], what: dict[str, str] | None = None
                  ) -> tuple[Step, ...]:
    """A witness as a finding trace: calls read "calls f()", labelled steps use `what`
    (label → phrase) and name the call that carries the label."""
    out = []
    for s in steps:
        if s.label == "call":
            text = f"calls {s.callee}()"
        else:
            phrase = (what or {}).get(s.label, s.label)
            text = f"{phrase}: {s.callee}()" if s.callee else phrase
        if s.conditions:
            text += f" (when {' && '.join(s.conditions)})"
        out.append(Step(s.location, text, s.depth, s.function))
    return tuple(out)


def loop_blocks(fn: Function) -> set[int]:
    """Blocks on a CFG cycle (loop bodies and conditions)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(b.id for b in fn.blocks)
    graph.add_edges_from((b.id, e.target) for b in fn.blocks for e in b.succs)
    return {n for scc in nx.strongly_connected_components(graph)
            if len(scc) > 1 or any(graph.has_edge(n, n) for n in scc) for n in scc}


def pfn_conversions(fn: Function, config: Config) -> list[tuple[int, Event]]:
    """(block, event) of every pfn → struct page conversion (pfn_to_page and friends,
    whether a macro or a call in this kernel) in the function."""
    names = config.names(config.get("pfn", "converters", default=[]) or [])
    out = []
    for block in fn.blocks:
        for event in block.events:
            if event.kind is EventKind.MACRO and fn.macros[event.index].name in names or \
                    event.kind is EventKind.CALL and fn.calls[event.index].callee in names:
                out.append((block.id, event))
    return out


def is_pfn_walker(fn: Function, config: Config) -> bool:
    """A pfn walker turns pfns into struct pages inside a loop (zone / node / section
    spans, /proc/kpageflags-style readers)."""
    conversions = pfn_conversions(fn, config)
    if not conversions:
        return False
    loops = loop_blocks(fn)
    return any(block in loops for block, _ in conversions)


def settings(config: Config, rule_id: str) -> dict:
    """The `rules.<ID>` mapping of the config (empty when absent)."""
    return dict(config.get("rules", rule_id, default={}) or {})


def boot_only(fn: Function) -> bool:
    """`__init` code runs once at boot, before memory hotplug or device memory exist."""
    return any(marker in ("__init", ".init.text") for marker in fn.sections)


def candidate_entries(program: Program, config: Config, kinds: list[str]) -> list[str]:
    """Configured entry points of these kinds, then every other function nothing in the
    analysed code calls (driver callbacks, syscalls, exported API), minus boot-only code.
    Deterministic order: configured entries first, each group by name."""
    configured = set()
    for kind in kinds:
        configured |= entry_points(program, config).get(kind, set())
    graph = program.graph
    roots = {u for u, fn in program.functions.items()
             if fn.blocks and not fn.from_header and graph.in_degree(u) == 0}
    def key(usr: str) -> tuple[str, str]:
        return program.functions[usr].name, usr

    ordered = sorted(configured, key=key) + sorted(roots - configured, key=key)
    return [u for u in ordered if not boot_only(program.functions[u])]


def reserved_analysis(program: Program, config: Config) -> ReservedAnalysis:
    """Who sets, clears and reads PG_reserved (KMI006, KMI007, the reserved report)."""
    return program.memo(("reserved",), lambda: ReservedAnalysis(
        program, ReservedSpec.from_sets(config.name_sets("reserved")),
        entry_points(program, config), lambda fn: is_pfn_walker(fn, config)))


def only_reached_from(program: Program, seeds: set[str]) -> set[str]:
    """The seeds plus every defined function whose callers (all of them, through direct and
    resolved ops-table calls) are in the set: a greatest fixpoint.  A function nothing
    calls is only in it when it is a seed."""
    graph = program.graph
    inside = set(seeds) | {u for u, fn in program.functions.items()
                           if fn.blocks and graph.in_degree(u) > 0}
    changed = True
    while changed:
        changed = False
        for usr in list(inside - seeds):
            if any(caller not in inside for caller in graph.predecessors(usr)):
                inside.discard(usr)
                changed = True
    return inside


def boot_only_functions(program: Program) -> set[str]:
    """`__init` functions and everything only they call: code that runs at boot, before
    memory hotplug or device memory exist."""
    return program.memo(("boot-only",), lambda: only_reached_from(
        program, {u for u, fn in program.functions.items() if boot_only(fn)}))


def hotplug_owned_functions(program: Program, config: Config) -> set[str]:
    """Hotplug and device-memory entry points and everything only they call: code that
    manages its own ranges, serialised with their memmap initialisation."""
    def build() -> set[str]:
        entries = entry_points(program, config)
        return only_reached_from(program, entries.get("hotplug", set())
                                 | entries.get("device", set()))
    return program.memo(("hotplug-owned",), build)


def witnesses(program: Program, config: Config, query, kinds: list[str]):
    """(entry, witness steps) for every candidate entry of these kinds from which the
    ordering query holds, in candidate_entries' deterministic order."""
    engine = ordering_engine(program, config)
    for entry in candidate_entries(program, config, kinds):
        if engine.holds(entry, query):
            yield entry, engine.witness(entry, query)
