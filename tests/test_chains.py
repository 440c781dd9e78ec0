"""Call chains' walks (analyzer/dataflow/chains.py) against networkx's, on random graphs:
the same descendants and ancestors, and the same shortest chain to every function (the
chain a finding shows)."""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from kmeminit.analyzer.dataflow.chains import _bfs_tree, _reach


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 25).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                         max_size=4 * n))))
def test_walks_are_networkx_s(case: tuple[int, list[tuple[int, int]]]) -> None:
    n, edges = case
    graph = nx.DiGraph()
    graph.add_nodes_from(f"f{i}" for i in range(n))
    graph.add_edges_from((f"f{a}", f"f{b}") for a, b in edges)
    for source in graph:
        assert _reach(graph.succ, source) == nx.descendants(graph, source) | {source}
        assert _reach(graph.pred, source) == nx.ancestors(graph, source) | {source}
        tree = _bfs_tree(graph.succ, source)
        paths = nx.single_source_shortest_path(graph, source)
        assert set(tree) == set(paths)
        for target, path in paths.items():
            chain, node = [], target
            while node is not None:
                chain.append(node)
                node = tree[node]
            assert chain[::-1] == path
