"""Strongly connected components of an induced subgraph of the call graph, without
networkx's views: the PG_reserved analysis condenses a subgraph per (entry, site) pair and
once for its transition summaries, and networkx's subgraph views cost more than the
components themselves.  Tarjan's algorithm, iterative (call chains run thousands deep).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def components(nodes: Iterable[str], succ: Mapping[str, Iterable[str]]
               ) -> tuple[list[list[str]], dict[str, int]]:
    """The strongly connected components of the subgraph of `succ` (node → successors)
    induced by `nodes`: the components in reverse topological order (a component comes
    after every component it reaches, callees before callers), and each node's index
    into them."""
    inside = set(nodes)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    comps: list[list[str]] = []
    comp_of: dict[str, int] = {}
    counter = 0
    for root in sorted(inside):
        if root in index:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter([s for s in succ.get(root, ()) if s in inside]))]
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter([s for s in succ.get(child, ())
                                              if s in inside])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    comp: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        comp_of[member] = len(comps)
                        comp.append(member)
                        if member == node:
                            break
                    comps.append(comp)
    return comps, comp_of


__all__ = ["components"]
