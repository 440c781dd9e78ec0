"""The call graph's strongly connected components (analyzer/dataflow/scc.py) against
networkx's, on random graphs: the same components, in an order where every component
comes after each one it reaches."""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from kmeminit.analyzer.dataflow.scc import components


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 30).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                         max_size=4 * n),
    st.sets(st.integers(0, n - 1)))))
def test_components_are_networkx_s_in_reverse_topological_order(
        case: tuple[int, list[tuple[int, int]], set[int]]) -> None:
    n, edges, dropped = case
    graph = nx.DiGraph()
    graph.add_nodes_from(f"f{i}" for i in range(n))
    graph.add_edges_from((f"f{a}", f"f{b}") for a, b in edges)
    nodes = {f"f{i}" for i in range(n) if i not in dropped}
    comps, comp_of = components(nodes, graph.succ)
    expected = {frozenset(c) for c in nx.strongly_connected_components(graph.subgraph(nodes))}
    assert {frozenset(c) for c in comps} == expected
    assert set(comp_of) == nodes and all(comp_of[m] == i for i, c in enumerate(comps)
                                         for m in c)
    for i, members in enumerate(comps):  # what a component reaches came before it
        assert all(comp_of[s] <= i for m in members for s in graph.succ[m] if s in nodes)


def test_a_chain_thousands_deep_is_no_recursion() -> None:
    graph = nx.DiGraph()
    nx.add_path(graph, [f"f{i}" for i in range(20000)])
    graph.add_edge("f19999", "f0")
    comps, _ = components(graph.nodes, graph.succ)
    assert len(comps) == 1 and len(comps[0]) == 20000
