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
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from kmeminit.analyzer.model import CallSite, FnPtrStore, Function, TUFacts

if TYPE_CHECKING:
    import networkx as nx

    from kmeminit.analyzer.config import Config
    from kmeminit.analyzer.store import FactStore

T = TypeVar("T")


@dataclass(frozen=True)
class CallEdge:
    """One call site as a graph edge: caller, callee node, and how it was resolved."""

    caller: str
    callee: str
    site: CallSite
    indirect: bool


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

    # -- building --------------------------------------------------------------------

    def add(self, fn: Function) -> None:
        if fn.usr not in self.functions:
            self.by_name[fn.name].append(fn.usr)
        self.functions[fn.usr] = fn
        self._graph = self._fp_cache = None

    @classmethod
    def from_store(cls, store: FactStore, files: list[str] | None = None) -> Program:
        """The program made of the TUs `files` (all stored TUs when None) and every header
        function the store holds."""
        return cls.from_tus(store.iter_tus(files), store.header_functions())

    @classmethod
    def from_tus(cls, tus: Iterable[TUFacts], headers: Iterable[Function]) -> Program:
        """The program made of these TUs' facts and header functions (a header function
        whose USR is already defined, or seen earlier in `headers`, is skipped)."""
        program = cls()
        for tu in tus:
            program.tus.append(tu.file)
            for fn in tu.functions:
                program.add(fn)
            program.fp_stores.extend(tu.fp_stores)
        program._fp_cache = None
        for fn in headers:
            if fn.usr not in program.functions:
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
        """Take the configured kernel services and dispatch tables (idempotent)."""
        leaves = frozenset(config.names(config.get("services", default=[]) or []))
        dispatch = frozenset(config.get("dispatch", default=[]) or [])
        if (leaves, dispatch) != (self.leaves, self.dispatch):
            self.leaves, self.dispatch = leaves, dispatch
            self._graph = None
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

    # -- the call graph ----------------------------------------------------------------

    @property
    def graph(self) -> nx.DiGraph:
        if self._graph is None:
            self._graph = self._build_graph()
        return self._graph

    def _build_graph(self) -> nx.DiGraph:
        import networkx as nx  # on first use: commands that build no graph start fast

        graph = nx.DiGraph()
        self.unresolved = []
        for usr, fn in sorted(self.functions.items()):
            graph.add_node(usr, name=fn.name, file=fn.file, line=fn.line, external=False)
        for usr, fn in sorted(self.functions.items()):
            if fn.name in self.leaves:
                continue  # a service: what it calls is not followed
            for site in fn.calls:
                targets = self.call_targets(site)
                if site.indirect and not targets:
                    self.unresolved.append((usr, site))
                for target in targets:
                    if target not in graph:
                        graph.add_node(target, name=site.callee, file="", line=0,
                                       external=True)
                    if graph.has_edge(usr, target):
                        graph.edges[usr, target]["sites"].append(site)
                    else:
                        graph.add_edge(usr, target, sites=[site], indirect=site.indirect)
        return graph

    def callees(self, usr: str) -> Iterator[CallEdge]:
        for _, target, data in self.graph.out_edges(usr, data=True):
            for site in data["sites"]:
                yield CallEdge(usr, target, site, site.indirect)

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
