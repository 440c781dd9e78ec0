"""Kernel facts: what the rules and the inventory commands know about the kernel, built
once per run from the config as typed services over the program model.

    facts = kernel_facts(program, config)
    facts.entries     entry points, caller states (resolved / outside / root), boot-only
                      and hotplug-owned functions (entries.py)
    facts.events      the memmap event-ordering engine and witnesses (events.py)
    facts.pfn         pfn conversions, guards, origins, page-state reads, walkers, caller
                      guarantees (pfn.py)
    facts.altmap      the altmap / dev_pagemap relation and its origin engine (altmap.py)
    facts.origins(T)  the origin engine of another pointer type
    facts.reserved    the PG_reserved inventory (reserved.py)

Generic engines live in analyzer/dataflow/; this package only says what their labels,
seeds and queries mean in the kernel.  Nothing here imports rule code.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING

from kmeminit.analyzer.config import Config
from kmeminit.analyzer.program import Program

if TYPE_CHECKING:
    from kmeminit.analyzer.dataflow.origins import OriginEngine
    from kmeminit.analyzer.kernel.altmap import AltmapSpec
    from kmeminit.analyzer.kernel.entries import EntryPoints
    from kmeminit.analyzer.kernel.events import MemmapEvents
    from kmeminit.analyzer.kernel.pfn import PfnFacts
    from kmeminit.analyzer.kernel.reserved import ReservedAnalysis


class KernelFacts:
    """The kernel services of one program under one config; each is built on first use."""

    def __init__(self, program: Program, config: Config) -> None:
        self.program = program
        self.config = config
        self._origins: dict[str, OriginEngine] = {}

    @cached_property
    def entries(self) -> EntryPoints:
        from kmeminit.analyzer.kernel.entries import EntryPoints

        return EntryPoints(self.program, self.config)

    @cached_property
    def events(self) -> MemmapEvents:
        from kmeminit.analyzer.kernel.events import MemmapEvents

        return MemmapEvents(self.program, self.config, self.entries)

    @cached_property
    def pfn(self) -> PfnFacts:
        from kmeminit.analyzer.kernel.pfn import PfnFacts

        return PfnFacts(self.program, self.config, self.entries)

    @cached_property
    def altmap(self) -> AltmapSpec:
        from kmeminit.analyzer.kernel.altmap import AltmapSpec

        return AltmapSpec.from_config(self.config)

    def origins(self, pointer: str) -> OriginEngine:
        """The origin engine of a pointer type (`struct vmem_altmap *`)."""
        if pointer not in self._origins:
            from kmeminit.analyzer.kernel.altmap import origin_engine

            self._origins[pointer] = origin_engine(self.program, self.config, pointer)
        return self._origins[pointer]

    @cached_property
    def reserved(self) -> ReservedAnalysis:
        from kmeminit.analyzer.kernel.reserved import ReservedAnalysis, ReservedSpec

        return ReservedAnalysis(self.program,
                                ReservedSpec.from_sets(self.config.name_sets("reserved")),
                                self.entries.by_kind, self.pfn.is_walker)

    def event_kinds(self, usrs: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """What each function does itself, for call-graph pictures: the memmap event
        labels of its own calls and stores (VALID, ONLINE, INIT, INIT_RANGE, LOCK, UNLOCK)
        and its PG_reserved sites and reads (reserved-set, reserved-clear, reserved-read)."""
        wanted = set(usrs)
        kinds: dict[str, set[str]] = {u: set() for u in wanted}
        engine = self.events.engine
        for usr in wanted:
            fn = self.program.functions.get(usr)
            for block in fn.blocks if fn else ():
                for event in block.events:
                    kinds[usr] |= engine.labels_at(fn, event)
        for site in self.reserved.sites:
            if site.usr in wanted:
                kinds[site.usr].add(f"reserved-{site.op}")
        for reader in self.reserved.readers:
            if reader.usr in wanted:
                kinds[reader.usr].add("reserved-read")
        return {u: tuple(sorted(k)) for u, k in kinds.items() if k}


def kernel_facts(program: Program, config: Config) -> KernelFacts:
    """The program's kernel facts, shared by every rule of a run (the program forgets them
    when another config is applied)."""
    return program.memo(("kernel-facts", id(config)), lambda: KernelFacts(program, config))

