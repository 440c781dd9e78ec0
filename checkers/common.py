"""Helpers shared by the built-in rules: engines built once per run from the config,
entry points, and witness → trace conversion."""

from __future__ import annotations

import networkx as nx

from analyzer.config import Config
from analyzer.dataflow.ordering import OrderingEngine, WitnessStep
from analyzer.dataflow.origins import OriginEngine, OriginSpec
from analyzer.model import Event, EventKind, Function
from analyzer.program import Program
from analyzer.results import Step


def ordering_engine(program: Program, config: Config) -> OrderingEngine:
    return program.memo(("ordering",), lambda: OrderingEngine(
        program, config.name_sets("events")))


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
