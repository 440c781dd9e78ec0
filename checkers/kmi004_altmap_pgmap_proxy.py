"""KMI004 altmap-pgmap-proxy: a struct vmem_altmap * parameter that only stands in for the
struct dev_pagemap around it.

## What it finds

A `struct vmem_altmap *` parameter that, over every call path in the analysed code,
receives only NULL or an altmap embedded in a `struct dev_pagemap` (`&pgmap->altmap`,
`pgmap_altmap(pgmap)`, `pgmap->altmap_valid ? &pgmap->altmap : NULL`, also through struct
fields such as `struct mhp_params`), and at least once the embedded one: the design card's
"an altmap passed only as a dev_pagemap proxy".  The function could take the dev_pagemap
and call `pgmap_altmap()` itself.

A chain of such parameters (one passed on to the next) is reported once, at its outermost
parameter (the one no other pgmap-only parameter feeds), with the witness of each origin
(the embedded one, and NULL when it occurs) and the chain in the trace.  When the chain is
a pure proxy — every function on it uses the parameter only to recover the dev_pagemap
(`container_of(altmap, struct dev_pagemap, altmap)` or the equivalent `offsetof()`
arithmetic) or to pass it on, NULL tests aside — the message says so, with the recovery
site: that parameter carries nothing but the dev_pagemap.  With
`rules.KMI004.require_recovery: true` only those pure proxies are reported.

## Why it matters in the kernel

The altmap is embedded in the dev_pagemap, so passing `&pgmap->altmap` down only so that
someone can get back to the pgmap is passing an unused altmap in order to reach the
dev_pagemap: the signature claims the function works on any altmap while it only works on
one inside a pgmap.  Since memmap_on_memory, memory hotplug creates standalone, kmemdup'd
altmaps and passes them down the same `__add_pages()` → `sparse_add_section()` path; the
first such caller of a proxy turns its container_of() into a type confusion (KMI005).  Take
the `struct dev_pagemap *` instead and let the function call `pgmap_altmap()` itself.

## Example

```c
#include <linux/kernel.h>
#include <linux/memremap.h>

static unsigned long pgmap_reserved_pfns(struct vmem_altmap *altmap)
{
	struct dev_pagemap *pgmap;

	if (!altmap)
		return 0;
	pgmap = container_of(altmap, struct dev_pagemap, altmap);
	return pgmap->altmap.reserve;
}

unsigned long first_usable_pfn(struct dev_pagemap *pgmap, unsigned long pfn)
{
	return pfn + pgmap_reserved_pfns(pgmap_altmap(pgmap));
}
```

## Fix

```c
#include <linux/kernel.h>
#include <linux/memremap.h>

static unsigned long pgmap_reserved_pfns(struct dev_pagemap *pgmap)
{
	struct vmem_altmap *altmap = pgmap_altmap(pgmap);

	return altmap ? altmap->reserve : 0;
}

unsigned long first_usable_pfn(struct dev_pagemap *pgmap, unsigned long pfn)
{
	return pfn + pgmap_reserved_pfns(pgmap);
}
```

## Known false positives

- Uses are read from recorded calls, assignments, returns, branch conditions and configured
  macro arguments: an altmap used only in a statement with none of those
  (`altmap->alloc++;`) looks unused, so its function may be called a pure proxy.
- Origins are those of the analysed code: an exported function whose callers live in TUs
  that were not analysed has unknown origins and is not reported (a false negative), and a
  reported function may have a standalone-altmap caller in code that was not analysed.
- A conditional's operands count whatever its condition (`valid ? &pgmap->altmap : NULL`
  is {embedded, NULL} even where `valid` is always true).
- The note is a design recommendation: where the dev_pagemap is not at hand along the
  whole chain, taking it instead of the altmap may not be worth the churn.

## Precision

High: the origins are those of every analysed call path, each with its witness; the result
is an API-design note, not a bug report (KMI005 reports the unsafe recoveries).  A proxy is
a claim about every caller: a partial view (one TU under `kmeminit-cc`) reports none, and
`kmeminit report` gives them over the whole store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

from kmeminit.analyzer.config import Config
from kmeminit.analyzer.kernel import kernel_facts
from kmeminit.analyzer.kernel.altmap import (
    AltmapSpec,
    ParamUse,
    origin_list,
    param_use,
    witness,
)
from kmeminit.analyzer.model import Level, Location
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.reports import Origin
from kmeminit.analyzer.results import Finding, Related, Step
from kmeminit.analyzer.rules import rule_config

if TYPE_CHECKING:
    import networkx as nx

Key = tuple[str, int]  # (function usr, parameter index)


class AltmapPgmapProxy:
    id: ClassVar[str] = "KMI004"
    name: ClassVar[str] = "altmap-pgmap-proxy"
    level = Level.NOTE
    precision: ClassVar[str] = "high"
    tags: ClassVar[tuple[str, ...]] = ("api-design", "memory-hotplug", "zone-device")
    short: ClassVar[str] = ("A struct vmem_altmap * parameter only ever carries NULL or a "
                            "dev_pagemap's altmap: it stands in for the dev_pagemap.")
    full: ClassVar[str] = (
        "Parameters of type struct vmem_altmap * whose origins over all analysed call paths "
        "are only NULL or &pgmap->altmap (the embedded one at least once): the function "
        "could take the struct dev_pagemap * instead.  Reported once per chain, at the "
        "outermost parameter; a chain that only recovers the dev_pagemap (container_of / "
        "offsetof) is named a pure proxy.")
    config_keys: ClassVar[tuple[str, ...]] = ("require_recovery",)
    demand: ClassVar[tuple[str, ...]] = ("origins",)  # the prefilter families it needs

    def check(self, program: Program, config: Config) -> Iterator[Finding]:
        import networkx as nx

        facts = kernel_facts(program, config)
        spec = facts.altmap
        engine = facts.origins(spec.pointer)
        if program.partial:
            # every caller's origins are needed (see the Precision section)
            program.defer(self.id, (usr for usr, fn in program.functions.items()
                                    if any(engine.tracked(p.type) for p in fn.params)))
            return
        recovery_only = bool(rule_config(config, self.id).get("require_recovery", False))
        uses: dict[Key, ParamUse] = {}
        for usr, fn in program.functions.items():
            for param in fn.params:
                if engine.tracked(param.type):
                    uses[(usr, param.index)] = param_use(program, engine, spec, fn,
                                                         param.index)
        origins = {k: engine.of_param(*k) for k in uses}
        members = {k for k in uses if spec.container_only(origins[k])}
        proxies = _proxies(uses, members)
        if recovery_only:
            members = proxies
        graph = nx.DiGraph()
        graph.add_nodes_from(members)
        for key in members:
            for _, usr, index in uses[key].forwards:
                if (usr, index) in members and (usr, index) != key:
                    graph.add_edge(key, (usr, index))
        dag = nx.condensation(graph)
        for scc in sorted(dag.nodes, key=lambda n: min(dag.nodes[n]["members"])):
            if dag.in_degree(scc) == 0:
                root = min(dag.nodes[scc]["members"])
                yield self._finding(program, spec, uses, graph, root, origins[root],
                                    root in proxies)

    def _finding(self, program: Program, spec: AltmapSpec, uses: dict[Key, ParamUse],
                 graph: nx.DiGraph, root: Key, origins: dict[Origin, tuple[Step, ...]],
                 proxy: bool) -> Finding:
        fn = program.functions[root[0]]
        path = _chain(graph, uses, root)
        steps: list[Step] = []
        for here, there in zip(path, path[1:], strict=False):
            site = next(loc for loc, usr, i in uses[here].forwards if (usr, i) == there)
            steps.append(Step(site, f"'{_pname(program, here)}' passed on as "
                                    f"'{_pname(program, there)}' to "
                                    f"{program.functions[there[0]].name}()", 0,
                              program.functions[here[0]].name))
        recovers = uses[path[-1]].recovers
        related = tuple(Related(i + 1, r.location, "recovery site")
                        for i, r in enumerate(recovers[:1]))
        steps += [r.step(spec) for r in recovers[:1]]
        chain = " -> ".join(f"{program.functions[k[0]].name}({_pname(program, k)})"
                            for k in path)
        args = {"param": _pname(program, root), "fn": fn.name, "origins": origin_list(origins),
                "chain": chain, "container": spec.container}
        if proxy:
            template = ("altmap parameter '{param}' of {fn}() is only a proxy for the "
                        "{container}: its origins are only {origins}, and {chain} only "
                        "recovers the {container} from it; pass the {container} * instead")
        else:
            template = ("altmap parameter '{param}' of {fn}() has only {origins} as origins "
                        "({chain}); it could take the {container} * instead")
            if recovers:
                template += "; {recoverer}() recovers the {container} from it"
                args["recoverer"] = program.functions[path[-1][0]].name
        return Finding.make(self.id, self.level, template, Location(fn.file, fn.line), fn.name,
                            related=related,
                            trace=witness(origins, [spec.embedded]) + tuple(steps), **args)


def _proxies(uses: dict[Key, ParamUse], candidates: set[Key]) -> set[Key]:
    """Parameters used only to recover the pgmap or to pass on to such parameters (which
    must themselves have pgmap-only origins), and that reach a recovery."""
    pure = {k for k in candidates if not uses[k].other and (uses[k].recovers or
                                                            uses[k].forwards)}
    changed = True
    while changed:
        changed = False
        for k in sorted(pure):
            if any((u, i) not in pure for _, u, i in uses[k].forwards):
                pure.discard(k)
                changed = True
    reach = {k for k in pure if uses[k].recovers}
    changed = True
    while changed:
        changed = False
        for k in sorted(pure - reach):
            if any((u, i) in reach for _, u, i in uses[k].forwards):
                reach.add(k)
                changed = True
    return reach


def _chain(graph: nx.DiGraph, uses: dict[Key, ParamUse], root: Key) -> list[Key]:
    """The shortest forwarding chain from root to a recovery, else to the farthest
    parameter the altmap is passed on to."""
    parent: dict[Key, Key | None] = {root: None}
    queue = deque([root])
    last = root
    while queue:
        last = queue.popleft()
        if uses[last].recovers:
            break
        for nxt in sorted(graph.successors(last)):
            if nxt not in parent:
                parent[nxt] = last
                queue.append(nxt)
    path = [last]
    while parent[path[-1]] is not None:
        path.append(parent[path[-1]])  # type: ignore[arg-type]
    return path[::-1]


def _pname(program: Program, key: Key) -> str:
    return program.functions[key[0]].params[key[1]].name or f"#{key[1]}"
