"""Entry points and who owns a function: the configured entries by kind (boot, hotplug,
device, freeing), uncalled functions (driver callbacks, syscalls, exported API), boot-only
code (`__init` and what only it calls) and hotplug-owned code (what only hotplug and
device-memory entries call)."""

from __future__ import annotations

from functools import cached_property

from kmeminit.analyzer.config import Config
from kmeminit.analyzer.model import Function
from kmeminit.analyzer.program import Program


def boot_only(fn: Function) -> bool:
    """`__init` code runs once at boot, before memory hotplug or device memory exist."""
    return any(marker in ("__init", ".init.text") for marker in fn.sections)


def only_reached_from(program: Program, seeds: set[str]) -> set[str]:
    """The seeds plus every defined function whose callers (all of them, through direct and
    resolved ops-table calls) are in the set: a greatest fixpoint.  A function nothing
    calls is only in it when it is a seed.  In a partial view, a function whose callers
    may lie outside it counts as having such unseen callers inside the set: it is in the
    set unless a caller the view does see is not (so the view never decides "not only
    reached from the seeds" where the whole program could decide otherwise)."""
    graph = program.graph
    inside = set(seeds) | {u for u, fn in program.functions.items()
                           if fn.blocks and graph.in_degree(u) > 0}
    inside |= program.outside_callers()
    changed = True
    while changed:
        changed = False
        for usr in list(inside - seeds):
            if any(caller not in inside for caller in graph.predecessors(usr)):
                inside.discard(usr)
                changed = True
    return inside


class EntryPoints:
    """Entry points of one program under one config."""

    def __init__(self, program: Program, config: Config) -> None:
        self.program = program
        self.config = config

    @cached_property
    def by_kind(self) -> dict[str, set[str]]:
        """Entry kind (boot, hotplug, device, freeing) → USRs of defined functions."""
        program = self.program
        return {kind: {u for u in program.usrs_named(names) if u in program.functions}
                for kind, names in self.config.name_sets("entries").items()}

    def of_kinds(self, kinds: list[str]) -> set[str]:
        return set().union(*(self.by_kind.get(kind, set()) for kind in kinds))

    def candidates(self, kinds: list[str]) -> list[str]:
        """Configured entry points of these kinds, then every other function nothing in
        the analysed code calls (driver callbacks, syscalls, exported API), minus boot-only
        code.  Deterministic order: configured entries first, each group by name."""
        program = self.program
        configured = self.of_kinds(kinds)
        graph = program.graph
        # in a partial view, a function called from outside it is not uncalled
        roots = {u for u, fn in program.functions.items()
                 if fn.blocks and not fn.from_header and graph.in_degree(u) == 0} \
            - program.outside_callers()

        def key(usr: str) -> tuple[str, str]:
            return program.functions[usr].name, usr

        ordered = sorted(configured, key=key) + sorted(roots - configured, key=key)
        return [u for u in ordered if not boot_only(program.functions[u])]

    @cached_property
    def boot_only(self) -> set[str]:
        """`__init` functions and everything only they call: code that runs at boot, before
        memory hotplug or device memory exist."""
        program = self.program
        return only_reached_from(program, {u for u, fn in program.functions.items()
                                           if boot_only(fn)})

    @cached_property
    def hotplug_owned(self) -> set[str]:
        """Hotplug and device-memory entry points and everything only they call: code that
        manages its own ranges, serialised with their memmap initialisation."""
        return only_reached_from(self.program, self.of_kinds(["hotplug", "device"]))
