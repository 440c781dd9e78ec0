"""Entry points, who calls a function, and who owns it.

Every defined function of the program is in exactly one of three caller states:

- *resolved*: it has callers in the call graph (direct calls, resolved ops-table calls,
  callback edges from the functions that hand it to an iterator) and nothing else can call
  it: `callers(usr)` are all of its callers;
- *outside* (`outside`): it may be called from code the analysis does not see or cannot
  resolve, in an unknown context — its address reaches a generic dispatch table (file,
  sysfs, proc operations), a registration, or a field nothing analysed calls through
  (`Program.escaping`).  It may have resolved callers too; they are not all of them;
- *root* (`roots`): nothing calls it and its address is never taken — exported API,
  syscalls' definitions, or code whose callers were not analysed.

So a function whose address is taken is never uncalled.  In a partial view (one TU under
kbuild: `Program.partial`), a fourth state: *unseen* (`unseen`), a function whose callers
may lie in TUs the view does not hold (external linkage, or an address taken anywhere but
into a configured dispatch table, which stays unresolved in every view alike).  For an
unseen function the view decides nothing the whole program could decide otherwise: it is
not a root, it may be boot-only or hotplug-owned, and its callers may guarantee a range.

The rules use the states this way: KMI001/KMI002 start paths at configured entries and
roots (`candidates`); at an outside function (`dispatched`) only a path whose first step
makes its own range valid, since the unknown dispatcher may have initialised any other
range before the call; KMI003 trusts caller guarantees only when `all_callers_known`;
boot-only and hotplug-owned code is what only resolved calls from those entries reach.

Also: configured entries by kind (boot, hotplug, device, freeing), boot-only code
(`__init` and what only it calls) and hotplug-owned code (what only hotplug and
device-memory entries call).
"""

from __future__ import annotations

from functools import cached_property

from kmeminit.analyzer.config import Config
from kmeminit.analyzer.model import Function
from kmeminit.analyzer.program import Program


def boot_only(fn: Function) -> bool:
    """`__init` code runs once at boot, before memory hotplug or device memory exist."""
    return any(marker in ("__init", ".init.text") for marker in fn.sections)


def only_reached_from(program: Program, seeds: set[str],
                      outside: frozenset[str] | set[str] = frozenset(),
                      unseen: frozenset[str] | set[str] = frozenset()) -> set[str]:
    """The seeds plus every defined function whose callers (all of them, through direct,
    resolved ops-table and callback calls) are in the set: a greatest fixpoint.  A function
    nothing calls, or one in `outside` (callable from an unknown context), is only in it
    when it is a seed.  One in `unseen` counts as having its unseen callers in the set: it
    leaves it only when a caller the view does see is not in it."""
    pred, succ = program.pred, program.succ
    inside = set(seeds) | {u for u, fn in program.functions.items()
                           if fn.blocks and pred[u] and u not in outside}
    inside |= set(unseen) - set(outside)
    # a worklist: a function leaves when a caller is out, and its callees are looked at
    # again (the greatest fixpoint, whatever the order)
    todo = [u for u in inside - seeds if any(c not in inside for c in pred[u])]
    while todo:
        usr = todo.pop()
        if usr not in inside:
            continue
        inside.discard(usr)
        todo.extend(v for v in succ[usr] if v in inside and v not in seeds)
    return inside


class EntryPoints:
    """Entry points and caller states of one program under one config (see the module
    doc)."""

    def __init__(self, program: Program, config: Config) -> None:
        self.program = program
        self.config = config

    # -- caller states ------------------------------------------------------------------

    @cached_property
    def outside(self) -> frozenset[str]:
        """Defined functions that may be called from an unknown context (their address
        escapes to code the analysis cannot follow).  In a partial view, only escapes into
        a configured dispatch table count: whether a field is called through, or a call
        keeps its argument, depends on TUs the view does not hold (those are `unseen`)."""
        program = self.program
        if program.partial:
            return frozenset(s.target_usr for s in program.fp_stores
                             if s.record in program.dispatch and s.target_usr
                             in program.functions)
        return frozenset(u for u in program.escaping if u in program.functions)

    @cached_property
    def unseen(self) -> frozenset[str]:
        """In a partial view, defined functions whose callers may lie outside it (see the
        module doc); empty for a whole program."""
        program = self.program
        if not program.partial:
            return frozenset()
        escaping = {u for u in program.escaping if u in program.functions}
        return frozenset((escaping | program.outside_callers()) - self.outside)

    @cached_property
    def roots(self) -> frozenset[str]:
        """Defined functions, not header inlines, that nothing calls and whose address is
        never taken where it could be called from an unknown context."""
        program = self.program
        graph = program.graph
        return frozenset(u for u, fn in program.functions.items()
                         if fn.blocks and not fn.from_header and graph.in_degree(u) == 0
                         and u not in self.outside and u not in self.unseen)

    def callers(self, usr: str) -> set[str]:
        """The resolved callers of a function (all of them unless it is `outside`)."""
        graph = self.program.graph
        return set(graph.predecessors(usr)) if usr in graph else set()

    def all_callers_known(self, usr: str) -> bool:
        """It has callers and they are all resolved: a guarantee every caller gives holds
        on every call."""
        return usr not in self.outside and usr not in self.unseen and bool(self.callers(usr))

    def uncalled(self, usr: str) -> bool:
        """Nothing analysed calls it and nothing can call it through a pointer."""
        return usr in self.roots

    # -- configured entries and ownership -------------------------------------------------

    @cached_property
    def by_kind(self) -> dict[str, set[str]]:
        """Entry kind (boot, hotplug, device, freeing) → USRs of defined functions."""
        program = self.program
        return {kind: {u for u in program.usrs_named(names) if u in program.functions}
                for kind, names in self.config.name_sets("entries").items()}

    def of_kinds(self, kinds: list[str]) -> set[str]:
        return set().union(*(self.by_kind.get(kind, set()) for kind in kinds))

    def candidates(self, kinds: list[str]) -> list[str]:
        """Configured entry points of these kinds, then every root (driver entry points,
        syscalls, exported API), minus boot-only code.  Functions called from an unknown
        context are not candidates: what runs before them is their dispatcher's business.
        Deterministic order: configured entries first, each group by name."""
        program = self.program
        configured = self.of_kinds(kinds)

        def key(usr: str) -> tuple[str, str]:
            return program.functions[usr].name, usr

        ordered = sorted(configured, key=key) + sorted(self.roots - configured, key=key)
        return [u for u in ordered if not boot_only(program.functions[u])]

    def dispatched(self, exclude: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """Functions called from an unknown context (`outside`), minus boot-only code,
        header inlines and `exclude`, by name.  A query may start there only when its
        first step creates the range it is about (a range added on the path cannot have
        been initialised by the dispatcher)."""
        program = self.program

        def key(usr: str) -> tuple[str, str]:
            return program.functions[usr].name, usr

        return sorted((u for u in self.outside - set(exclude) - self.unseen
                       if program.functions[u].blocks and not program.functions[u].from_header
                       and not boot_only(program.functions[u])), key=key)

    @cached_property
    def boot_only(self) -> set[str]:
        """`__init` functions and everything only they call: code that runs at boot, before
        memory hotplug or device memory exist."""
        program = self.program
        return only_reached_from(program, {u for u, fn in program.functions.items()
                                           if boot_only(fn)}, self.outside, self.unseen)

    @cached_property
    def hotplug_owned(self) -> set[str]:
        """Hotplug and device-memory entry points and everything only they call: code that
        manages its own ranges, serialised with their memmap initialisation."""
        return only_reached_from(self.program, self.of_kinds(["hotplug", "device"]),
                                 self.outside, self.unseen)
