"""The merged program model: every function's facts and the cross-TU call graph.

Nodes are functions keyed by USR (so two static functions of one name in different files
stay distinct); a callee with no definition in the analysed set is an external node.
Configured kernel services (allocators, printk, notifier chains, …) are outside the call
graph: a call to one is not an edge and the service's own calls are not followed, so
"kmalloc() may reclaim, which may remove a memory block" does not make every allocation a
hotplug event.  A service's own body is still a function of the program (its walkers are
checked like any other code).  Calls through the generic dispatch tables of other
subsystems (config `dispatch`: file, inode and bus operations, notifiers, work items, …)
are left unresolved: a callback registered there is an entry of its own.  Each
edge carries its call sites.  Calls through a struct field resolve through the
function-pointer stores of all analysed TUs (`.page_free = f`, `ops->page_free = f`):
`pgmap->ops->page_free(page)` gets an edge to every page_free implementation.

A function handed to a call that calls it back is called by the function that hands it
over: `walk_memory_blocks(start, size, NULL, cb)` in f gives a *callback* edge f → cb,
carrying the walk_memory_blocks() call site, so what f did before the iteration precedes
cb on every path (context-precise: another caller of walk_memory_blocks() does not reach
cb).  A call calls back its argument i when the callee calls through its parameter i
(`func(mem, arg)`), or passes it on to a callee that does (a fixpoint), or is an iterator
configured in `callbacks.functions` (name → argument index; for iterators whose definition
is not analysed, or that keep the function in a struct); `callbacks.tables` names
iterators handed an ops table (`walk_page_range(mm, s, e, &ops, priv)`): every function
stored in that static table is called back.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from kmeminit.analyzer.model import (
    CallSite,
    FnPtrStore,
    Function,
    SourceSuppression,
    TUFacts,
    Value,
    ValueKind,
    references,
    tu_references,
)

if TYPE_CHECKING:
    import networkx as nx

    from kmeminit.analyzer.config import Config
    from kmeminit.analyzer.store import FactStore

T = TypeVar("T")


@dataclass(frozen=True)
class CallEdge:
    """One call site as a graph edge: caller, callee node, and how it was resolved.  For a
    callback edge `site` is the iterator's call site and `via` the iterator's name."""

    caller: str
    callee: str
    site: CallSite
    indirect: bool
    via: str | None = None


@dataclass(frozen=True)
class Callback:
    """A function handed to a call that calls it back: `walk_memory_blocks(…, cb)`.
    `target` is the function's node, `arg` the argument that carries it (the function
    itself, or the ops table holding it), `via` the called iterator's name."""

    target: str
    arg: int
    via: str


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic-collector pass while a large structure that lives as long as the program
    is built, and none over it after: it is moved out of the collector's reach
    (gc.freeze) before the collector is re-enabled (if it was on).  Freezing after would
    be too late: the first allocation after re-enabling runs a pass over everything
    allocated meanwhile (0.6 s for the 273 TUs of a prefiltered vmlinux)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


# objects this process no longer needs, freed before a program is loaded here or a worker
# is forked, else never: the command ends with os._exit (see `spare`)
_spared: list[Any] = []
_last: list[Callable[[], None]] = []


def spare(obj: Any, last: Callable[[], None] | None = None) -> None:
    """Free `obj` only when memory is wanted: before a program is loaded in this process
    or a worker is forked (which would inherit it).  Freeing a whole kernel's lexical
    index object by object costs 0.2 s, which a command that does neither after it (a
    `report` whose early workers run the rules) need not spend.  `last` runs before it
    is freed (a deferred write that still reads it); one kept before is freed first."""
    release_spared()
    _spared[:] = [obj]
    _last[:] = [last] if last is not None else []


def release_spared() -> None:
    """Free what `spare` kept."""
    while _last:
        _last.pop()()
    _spared.clear()


def function_usr(value: Value) -> str | None:
    """The USR of the function a value designates (`f` or `&f`), else None."""
    if value.kind in (ValueKind.GLOBAL, ValueKind.ADDR_GLOBAL) and value.usr and \
            "@F@" in value.usr:
        return value.usr
    return None


@dataclass
class Program:
    functions: dict[str, Function] = field(default_factory=dict)  # by USR
    fp_stores: list[FnPtrStore] = field(default_factory=list)
    tus: list[str] = field(default_factory=list)
    by_name: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    _graph: nx.DiGraph | None = None
    _fp_cache: dict[tuple[str | None, str | None], list[str]] | None = None
    _memo: dict[object, object] = field(default_factory=dict)
    unresolved: list[tuple[str, CallSite]] = field(default_factory=list)
    # kernel services (config `services`): outside the call graph (see the module doc)
    leaves: frozenset[str] = frozenset()
    # generic dispatch tables (config `dispatch`): calls through them are not resolved
    dispatch: frozenset[str] = frozenset()
    # iterators (config `callbacks`): name → index of the function / ops-table argument
    iterators: Mapping[str, int] = field(default_factory=dict)
    table_iterators: Mapping[str, int] = field(default_factory=dict)
    _callbacks: dict[int, list[Callback]] = field(default_factory=dict)
    _invoked: dict[str, frozenset[int]] | None = None
    # with _invoked: (usr, param) → calls handing the parameter on, and whether it is kept
    _passes: dict[tuple[str, int], list[tuple[CallSite, int]]] = field(default_factory=dict)
    _kept: dict[tuple[str, int], bool] = field(default_factory=dict)
    _escaping: frozenset[str] = frozenset()
    # A partial view (one TU under kbuild): callers, callees and ops-table implementations
    # may lie outside the analysed code, so nothing is uncalled or unknown-free by default.
    partial: bool = False
    # In a partial view: the functions whose verdict a rule left to the whole program (their
    # callers, callees or origins lie in other TUs), by rule id: kmeminit-cc says how many
    # of its own file's `kmeminit report` decides.
    deferred: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # `kmeminit: ignore` comments of the TUs' files and headers, by (file, line)
    suppressions: dict[tuple[str, int], SourceSuppression] = field(default_factory=dict)
    # each TU's own part: the USRs it defines and its suppression comments, by file
    # (analyzer/memo.py keeps them for the TUs a run that reuses some rules does not load)
    tu_parts: dict[str, tuple[tuple[str, ...], tuple[SourceSuppression, ...]]] = field(
        default_factory=dict)

    def defer(self, rule: str, usrs: Iterable[str]) -> None:
        """A partial view leaves the verdict of `rule` on these functions to the whole
        program."""
        self.deferred[rule].update(usrs)

    # -- building --------------------------------------------------------------------

    def add(self, fn: Function) -> None:
        if fn.usr not in self.functions:
            self.by_name[fn.name].append(fn.usr)
        self.functions[fn.usr] = fn
        self._graph = self._fp_cache = self._invoked = None

    @classmethod
    def from_store(cls, store: FactStore, files: list[str] | None = None) -> Program:
        """The program made of the TUs `files` (all stored TUs when None) and the store's
        header functions they reach (see `from_tus`)."""
        # Decoding makes hundreds of thousands of acyclic objects that live as long as the
        # program: the collector is paused meanwhile, and they are then moved out of its
        # reach, so no later pass walks them again (6.12 slice: 1.35 s of CPU with the
        # CLI's thresholds, 0.9 s so).
        release_spared()  # a whole kernel's lexical index is not kept beside the program
        with collector_paused():
            program = cls.from_tus(store.iter_tus(files), store.header_functions())
        return program

    @classmethod
    def from_tus(cls, tus: Iterable[TUFacts], headers: Iterable[Function],
                 partial: bool = False) -> Program:
        """The program made of these TUs' facts and the header functions they reach (a
        header function whose USR is already defined, or seen earlier in `headers`, is
        skipped).  Reached: called, stored or handed on as a value by a TU's function or
        a reached header function, as the frontend walks them (`references`); a store's
        other header functions, walked for TUs that are not these or for an older text of
        one, are not part of this program.  `partial`: the TUs are a view of a larger
        program (see `outside_callers`)."""
        program = cls(partial=partial)
        todo: list[str] = []
        for tu in tus:
            program.tus.append(tu.file)
            for fn in tu.functions:
                program.add(fn)
            todo.extend(tu_references(tu))
            program.fp_stores.extend(tu.fp_stores)
            program.suppressions.update(((c.file, c.line), c) for c in tu.suppressions)
            program.tu_parts[tu.file] = (tuple(fn.usr for fn in tu.functions),
                                         tuple(tu.suppressions))
        program._fp_cache = None
        offered: dict[str, Function] = {}
        for fn in headers:
            if fn.usr not in program.functions:
                offered.setdefault(fn.usr, fn)
        reached: set[str] = set()
        while todo:
            usr = todo.pop()
            if usr not in reached and usr in offered:
                reached.add(usr)
                todo.extend(references(offered[usr]))
        for usr, fn in offered.items():
            if usr in reached:
                program.add(fn)
        return program

    @classmethod
    def from_functions(cls, functions: Iterable[Function],
                       fp_stores: Iterable[FnPtrStore] = ()) -> Program:
        program = cls()
        for fn in functions:
            program.add(fn)
        program.fp_stores.extend(fp_stores)
        program._fp_cache = None
        return program

    def apply_config(self, config: Config) -> Program:
        """Take the configured kernel services, dispatch tables and iterators
        (idempotent)."""
        leaves = frozenset(config.names(config.get("services", default=[]) or []))
        dispatch = frozenset(config.get("dispatch", default=[]) or [])
        iterators = _indexed(config, "functions")
        tables = _indexed(config, "tables")
        if (leaves, dispatch, iterators, tables) != (self.leaves, self.dispatch,
                                                     self.iterators, self.table_iterators):
            self.leaves, self.dispatch = leaves, dispatch
            self.iterators, self.table_iterators = iterators, tables
            self._graph = self._invoked = None
            self._memo.clear()
        return self

    def memo(self, key: object, factory: Callable[[], T]) -> T:
        """An analysis shared by every checker of a run (engines are built once)."""
        if key not in self._memo:
            self._memo[key] = factory()
        return self._memo[key]  # type: ignore[return-value]

    # -- lookups ---------------------------------------------------------------------

    def named(self, name: str) -> list[Function]:
        return [self.functions[u] for u in self.by_name.get(name, [])]

    def usrs_named(self, names: Iterable[str]) -> set[str]:
        """Nodes for function names: definitions, else the external node(s) of that name."""
        graph = self.graph
        wanted = set(names)
        return {n for n, data in graph.nodes(data=True) if data["name"] in wanted}

    def name_of(self, usr: str) -> str:
        return self.graph.nodes[usr]["name"]

    def fp_targets(self, record: str | None, field_name: str | None) -> list[str]:
        """USRs of functions stored into record.field anywhere in the analysed code."""
        return self._fp_index().get((record, field_name), [])

    def _fp_index(self) -> dict[tuple[str | None, str | None], list[str]]:
        if self._fp_cache is None:
            index: dict[tuple[str | None, str | None], list[str]] = defaultdict(list)
            for store in self.fp_stores:
                target = store.target_usr or self._usr_for_name(store.target)
                if target and target not in index[(store.record, store.field)]:
                    index[(store.record, store.field)].append(target)
            for targets in index.values():
                targets.sort()
            self._fp_cache = dict(index)
        return self._fp_cache

    def _usr_for_name(self, name: str) -> str | None:
        usrs = self.by_name.get(name, [])
        return usrs[0] if len(usrs) == 1 else None

    def call_targets(self, site: CallSite) -> list[str]:
        """Graph nodes a call site may reach (empty for an unresolved indirect call, and for
        a call to a configured service: what a service does is not the caller's)."""
        if not site.indirect:
            if site.callee in self.leaves:
                return []
            return [site.callee_usr or f"extern:{site.callee}"]
        if site.record and site.field and site.record not in self.dispatch:
            return self.fp_targets(site.record, site.field)
        return []

    def site_targets(self, site: CallSite) -> list[str]:
        """Everything a call site may run: its callee(s) (`call_targets`), then the
        functions it hands over to be called back (`callbacks`).  For engines that follow
        execution (event ordering, transitions); argument flows use `call_targets`, since a
        callback's parameters are not the call's arguments."""
        callbacks = self.callbacks(site)
        if not callbacks:
            return self.call_targets(site)
        return self.call_targets(site) + [c.target for c in callbacks]

    def callbacks(self, site: CallSite) -> list[Callback]:
        """The functions this call site hands over to be called back (see the module
        doc)."""
        _ = self.graph
        return self._callbacks.get(id(site), [])

    @property
    def invoked_params(self) -> dict[str, frozenset[int]]:
        """USR → indices of the function-pointer parameters a function calls back:
        through the parameter itself, or by passing it on to a call that calls it back
        (least fixpoint over the call graph)."""
        if self._invoked is None:
            self._invoked = self._invoked_params()
        return self._invoked

    @property
    def escaping(self) -> frozenset[str]:
        """Functions whose address reaches code the analysis cannot follow, so whoever
        calls them is unknown: stored into a generic dispatch table (config `dispatch`), or
        into a field or function-pointer variable nothing in the analysed code calls
        through; passed to a call that does not call it back (a registration); kept in a
        local, returned, or nested in another expression; handed to a call that may also
        keep it for later (`devm_add_action_or_reset()` calls it on failure, and at
        release).  A function whose address is only handed to iterators and resolvable ops
        tables is not in it: its callers are the graph's."""
        _ = self.graph
        return self._escaping

    def _invoked_params(self) -> dict[str, frozenset[int]]:
        """A worklist: when a function is found to call back its parameter i, only the
        calls handing a parameter to it are looked at again."""
        invoked: dict[str, set[int]] = defaultdict(set)
        # callee node → (caller, caller's parameter, argument index) of calls handing a
        # parameter on to it
        handers: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
        work: list[tuple[str, int]] = []
        self._passes = passes = defaultdict(list)
        leaves, iterators, param_kind = self.leaves, self.iterators, ValueKind.PARAM
        for usr, fn in self.functions.items():
            if fn.name in leaves:
                continue
            for site in fn.calls:
                if site.indirect and site.param is not None and not site.record:
                    work.append((usr, site.param))
                if not site.args:
                    continue
                handed = [(i, arg.param) for i, arg in enumerate(site.args)
                          if arg.kind is param_kind and arg.param is not None]
                if not handed:
                    continue
                targets = self.call_targets(site)
                iterated = None if site.indirect else iterators.get(site.callee)
                for i, param in handed:
                    passes[(usr, param)].append((site, i))
                    if iterated == i:
                        work.append((usr, param))
                    for target in targets:
                        handers[target].append((usr, param, i))
        while work:
            usr, param = work.pop()
            if param in invoked[usr]:
                continue
            invoked[usr].add(param)
            work += [(caller, p) for caller, p, i in handers.get(usr, ()) if i == param]
        self._kept = {}
        return {usr: frozenset(params) for usr, params in invoked.items() if params}

    def _keeps(self, site: CallSite, i: int,
               active: set[tuple[str, int]] | None = None) -> bool:
        """Might this call keep what it gets as argument i, to call it later (a
        registration, `devm_add_action()`)?  Yes when a callee stores it, or the call
        reaches code the analysis does not see; a configured iterator does not keep it."""
        if self.iterators.get(site.callee) == i and not site.indirect:
            return False
        targets = self.call_targets(site)
        return not targets or any(
            t not in self.functions or self._kept_param(t, i, active or set())
            for t in targets)

    def _kept_param(self, usr: str, param: int, active: set[tuple[str, int]]) -> bool:
        """Does the function store its parameter, or hand it to a call that keeps it?"""
        key = (usr, param)
        if key in self._kept:
            return self._kept[key]
        if key in active:
            return False  # recursion: the other paths decide
        active.add(key)
        stored = any(a.value.kind is ValueKind.PARAM and a.value.param == param
                     and a.target.kind in (ValueKind.FIELD, ValueKind.GLOBAL)
                     for a in self.functions[usr].assigns)
        kept = stored or any(self._keeps(site, i, active)
                             for site, i in self._passes.get(key, ()))
        self._kept[key] = kept
        return kept

    def _calls_back(self, site: CallSite, i: int, invoked: Mapping[str, Iterable[int]]
                    ) -> bool:
        """Does this call call back what it gets as argument i?"""
        if self.iterators.get(site.callee) == i and not site.indirect:
            return True
        return any(i in invoked.get(t, ()) for t in self.call_targets(site))

    def _site_callbacks(self, site: CallSite, invoked: Mapping[str, Iterable[int]]
                        ) -> list[Callback]:
        out: list[Callback] = []
        via = site.callee
        for i, arg in enumerate(site.args):
            if arg.kind not in _GLOBAL_KINDS:  # function_usr's test, inline: most are not
                continue
            target = function_usr(arg)
            if target is not None and self._calls_back(site, i, invoked):
                out.append(Callback(target, i, via))
        table = self.table_iterators.get(via)
        if table is not None and not site.indirect and table < len(site.args):
            arg = site.args[table]
            if arg.kind in (ValueKind.GLOBAL, ValueKind.ADDR_GLOBAL) and arg.usr:
                out += [Callback(t, table, via) for t in self._table_targets(arg.usr)]
        return out

    def _table_targets(self, table: str) -> list[str]:
        return sorted({s.target_usr or self._usr_for_name(s.target) or ""
                       for s in self.fp_stores if s.table == table} - {""})

    # -- what lies outside a partial view ----------------------------------------------

    def outside_callers(self) -> frozenset[str]:
        """Defined functions that may have callers outside a partial view: those with
        external linkage, and those whose address is taken other than into a generic
        dispatch table (those stay unresolved in every view alike).  Empty for a whole
        program, whose uncalled functions really are uncalled."""
        if not self.partial:
            return frozenset()
        return self.memo(("outside-callers",), self._outside_callers)

    def _outside_callers(self) -> frozenset[str]:
        taken = {s.target_usr or self._usr_for_name(s.target) for s in self.fp_stores
                 if s.record not in self.dispatch}
        for fn in self.functions.values():
            values = [a for c in fn.calls for a in c.args] + [a.value for a in fn.assigns]
            taken |= {v.usr for v in values
                      if v.kind in (ValueKind.GLOBAL, ValueKind.ADDR_GLOBAL)}
        return frozenset(u for u, fn in self.functions.items() if fn.blocks and (
            fn.linkage != "internal" or u in taken))

    def unknown_call(self, site: CallSite) -> bool:
        """In a partial view, a call whose callee may do anything: a function defined
        outside the view, or an indirect call the view cannot resolve.  Configured
        services are never unknown (they are outside every view's call graph alike)."""
        if not self.partial:
            return False
        if site.indirect:
            return not self.call_targets(site) and not (
                site.record and site.record in self.dispatch)
        return site.callee not in self.leaves and site.callee_usr not in self.functions

    # -- the call graph ----------------------------------------------------------------

    @property
    def graph(self) -> nx.DiGraph:
        if self._graph is None:
            # Building allocates one dict per node and edge and creates no cycles; with
            # the facts of a whole slice alive, the collector's passes cost more than the
            # build (6.12 slice: 3.6 s with them, 1.4 s without).
            with collector_paused():
                self._graph = self._build_graph()
        return self._graph

    @property
    def succ(self) -> Mapping[str, Mapping[str, dict[str, Any]]]:
        """The call graph's callees: node → callee → the edge's data, as `graph.succ`
        gives them without a networkx view per lookup (a chain search looks up 100,000
        nodes).  Read only."""
        return self.graph._succ  # type: ignore[no-any-return]

    @property
    def pred(self) -> Mapping[str, Mapping[str, dict[str, Any]]]:
        """The call graph's callers, as `succ` gives the callees."""
        return self.graph._pred  # type: ignore[no-any-return]

    def _build_graph(self) -> nx.DiGraph:
        """Nodes for every function; an edge per caller and callee with its call sites
        (`sites`), `indirect` when resolved through a function-pointer store, and
        `callback` (the iterator's name) when the callee is called back."""
        import networkx as nx  # on first use: commands that build no graph start fast

        self.unresolved = []
        self._callbacks = {}
        invoked = self.invoked_params
        leaves, tables = self.leaves, self.table_iterators
        unresolved, callbacks_of = self.unresolved, self._callbacks
        # nodes and edges are gathered in plain dicts, in the order networkx would have
        # been given them one by one (its adjacency order decides which of two equally
        # short chains a finding shows), and laid out in bulk (`_digraph`)
        functions = sorted(self.functions.items())
        nodes: dict[str, dict[str, Any]] = {
            usr: {"name": fn.name, "file": fn.file, "line": fn.line, "external": False}
            for usr, fn in functions}
        edges: dict[tuple[str, str], dict[str, Any]] = {}

        def add_edge(caller: str, target: str, site: CallSite, name: str,
                     via: str | None) -> None:
            if target not in nodes:
                nodes[target] = {"name": name, "file": "", "line": 0, "external": True}
            data = edges.get((caller, target))
            if data is not None:
                data["sites"].append(site)
                data["callback"] = data["callback"] or via
            else:
                edges[(caller, target)] = {"sites": [site],
                                           "indirect": site.indirect and via is None,
                                           "callback": via}

        # for _find_escaping, gathered on the way: the fields called through, and the
        # sites with an argument that may designate a function (with those arguments)
        called_fields: set[tuple[str | None, str | None]] = set()
        ref_sites: dict[str, list[tuple[CallSite, list[int]]]] = {}  # by caller
        for usr, fn in functions:
            leaf = fn.name in leaves
            for site in fn.calls:
                refs_at = [i for i, arg in enumerate(site.args) if arg.kind in _REF_KINDS] \
                    if site.args else []
                if refs_at:
                    ref_sites.setdefault(usr, []).append((site, refs_at))
                if site.indirect and site.record:
                    called_fields.add((site.record, site.field))
                if leaf:
                    continue  # a service: what it calls is not followed
                callee = site.callee
                if not site.indirect:  # call_targets, inline: most calls are direct
                    if callee not in leaves:
                        target = site.callee_usr or f"extern:{callee}"
                        key = (usr, target)
                        data = edges.get(key)
                        if data is None:
                            if target not in nodes:
                                nodes[target] = {"name": callee, "file": "", "line": 0,
                                                 "external": True}
                            edges[key] = {"sites": [site], "indirect": False,
                                          "callback": None}
                        else:
                            data["sites"].append(site)
                else:
                    targets = self.call_targets(site)
                    if not targets:
                        unresolved.append((usr, site))
                    for target in targets:
                        add_edge(usr, target, site, callee, None)
                if not refs_at and callee not in tables:
                    continue  # nothing a callback could be handed as (_site_callbacks)
                callbacks = self._site_callbacks(site, invoked)
                if callbacks:
                    callbacks_of[id(site)] = callbacks
                for cb in callbacks:
                    name = self.functions[cb.target].name if cb.target in self.functions \
                        else site.args[cb.arg].name or site.args[cb.arg].text
                    add_edge(usr, cb.target, site, name, cb.via)
        graph = _digraph(nx, nodes, edges)
        self._escaping = self._find_escaping(called_fields, ref_sites)
        return graph

    def _find_escaping(self, called_fields: set[tuple[str | None, str | None]],
                       ref_sites: dict[str, list[tuple[CallSite, list[int]]]]
                       ) -> frozenset[str]:
        """`escaping`, from the fields the program calls through and its call sites with
        arguments of `_REF_KINDS` (at those indices; a callback is always one of them),
        by caller, as `_build_graph` gathers them."""
        callbacks = self._callbacks
        tables = {site.args[cb.arg].usr for sites in ref_sites.values() for site, _ in sites
                  for cb in callbacks.get(id(site), ())
                  if site.args[cb.arg].usr and function_usr(site.args[cb.arg]) is None}
        out: set[str] = set()
        for store in self.fp_stores:
            target = store.target_usr or self._usr_for_name(store.target)
            resolved = store.record not in self.dispatch and \
                (store.record, store.field) in called_fields
            if target and not resolved and store.table not in tables:
                out.add(target)
        refs = _REF_KINDS  # only these kinds designate functions
        for usr, fn in self.functions.items():
            # in the functions' order: `_keeps` remembers what it found inside a cycle
            for site, refs_at in ref_sites.get(usr, ()):
                handed = {cb.arg for cb in callbacks.get(id(site), ())
                          if not self._keeps(site, cb.arg)}
                for i in refs_at:
                    out.update(_function_refs(site.args[i], top=i not in handed))
            for assign in fn.assigns:
                # stores into fields and globals are the frontend's FnPtrStores (above)
                if assign.value.kind in refs:
                    stored = assign.target.kind in (ValueKind.FIELD, ValueKind.GLOBAL)
                    out.update(_function_refs(assign.value, top=not stored))
            for ret in fn.returns:
                if ret.value is not None and ret.value.kind in refs:
                    out.update(_function_refs(ret.value))
        return frozenset(out)

    def callees(self, usr: str) -> Iterator[CallEdge]:
        for _, target, data in self.graph.out_edges(usr, data=True):
            for site in data["sites"]:
                via = next((c.via for c in self.callbacks(site) if c.target == target), None)
                if via is not None and target in self.call_targets(site):
                    via = None  # the site also calls it directly
                yield CallEdge(usr, target, site, site.indirect, via)

    def stats(self) -> dict[str, int]:
        graph = self.graph
        indirect_sites = sum(1 for fn in self.functions.values() for c in fn.calls
                             if c.indirect)
        return {
            "functions": len(self.functions),
            "nodes": graph.number_of_nodes(),
            "edges": graph.number_of_edges(),
            "external": sum(1 for _, d in graph.nodes(data=True) if d["external"]),
            "indirect_call_sites": indirect_sites,
            "indirect_resolved": indirect_sites - len(self.unresolved),
            "indirect_unresolved": len(self.unresolved),
        }

    # -- slicing ---------------------------------------------------------------------

    def slice(self, entries: Iterable[str], targets: Iterable[str]) -> nx.DiGraph:
        """The subgraph of functions lying on some call path from an entry to a target."""
        import networkx as nx

        graph = self.graph
        entries = [e for e in entries if e in graph]
        targets = [t for t in targets if t in graph]
        forward: set[str] = set()
        for e in entries:
            forward |= nx.descendants(graph, e) | {e}
        backward: set[str] = set()
        for t in targets:
            backward |= nx.ancestors(graph, t) | {t}
        return graph.subgraph(forward & backward).copy()

    def call_chains(self, entry: str, target: str, max_depth: int = 12,
                    max_chains: int = 20) -> list[list[str]]:
        """Simple call chains entry → target, shortest first, bounded in depth and count."""
        import networkx as nx

        graph = self.graph
        if entry not in graph or target not in graph:
            return []
        chains: list[list[str]] = []
        try:
            for path in nx.shortest_simple_paths(graph, entry, target):
                if len(path) - 1 > max_depth or len(chains) >= max_chains:
                    break
                chains.append(path)
        except nx.NetworkXNoPath:
            return []
        return chains


def _digraph(nx: Any, nodes: dict[str, dict[str, Any]],
             edges: dict[tuple[str, str], dict[str, Any]]) -> nx.DiGraph:
    """The DiGraph `add_nodes_from(nodes.items())` then `add_edges_from` of `edges` (in
    their order) would build, laid out directly: networkx's documented adjacency
    structure (node → attributes; node → neighbour → the edge's attributes, one dict
    shared by the successor and predecessor maps), without its per-edge calls (0.04 s of
    a 16,000-function program's 0.1 s).  `tests/test_program.py` compares the two."""
    graph = nx.DiGraph()
    succ: dict[str, dict[str, Any]] = {node: {} for node in nodes}
    pred: dict[str, dict[str, Any]] = {node: {} for node in nodes}
    for (u, v), data in edges.items():
        succ[u][v] = data
        pred[v][u] = data
    graph._node.update(nodes)
    graph._succ.update(succ)  # the same dict as graph._adj
    graph._pred.update(pred)
    return graph


def _indexed(config: Config, kind: str) -> dict[str, int]:
    """`callbacks.<kind>` (iterator → argument index), every alias of a name included."""
    out: dict[str, int] = {}
    for name, index in sorted((config.get("callbacks", kind, default={}) or {}).items()):
        for alias in sorted(config.names([name])):
            out.setdefault(alias, index)
    return out


# the kinds of value function_usr can designate a function with
_GLOBAL_KINDS = frozenset({ValueKind.GLOBAL, ValueKind.ADDR_GLOBAL})
# the kinds of value _function_refs yields anything for
_REF_KINDS = frozenset({ValueKind.GLOBAL, ValueKind.ADDR_GLOBAL, ValueKind.CHOICE})


def _function_refs(value: Value, top: bool = True) -> Iterator[str]:
    """Functions a value designates, itself (when `top`) or as an operand of a conditional
    (`c ? f : g`).  The arguments of a nested call are that call's own."""
    if top:
        usr = function_usr(value)
        if usr is not None:
            yield usr
    if value.kind is ValueKind.CHOICE:
        for inner in value.args:
            yield from _function_refs(inner)
