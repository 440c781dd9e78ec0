"""Call-graph slices as DOT, GraphML, JSON or SVG.

Input is a plain networkx DiGraph as `Program.graph` builds it (node attributes name, file,
line, external; edge attributes sites, indirect, callback), with paths made relative to the
source root.  Ops-table calls are dashed; callbacks (a function handed to an iterator that
calls it back) are dashed, blue and labelled "callback via <iterator>()".  Optional node
attributes: `focus` (the functions asked about, marked), `events` (event kinds of the
function's own code, svg.EVENT_COLOURS), `collapsed` (a node standing for the callers or
callees `collapse` left out).  DOT and SVG carry a legend.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from collections.abc import Iterable

import networkx as nx

from kmeminit.sarif import svg
from kmeminit.sarif.svg import EVENT_COLOURS


def _rel(path: str, root: str) -> str:
    if not path:
        return ""
    rel = os.path.relpath(path, root)
    return path if rel.startswith("..") else rel


def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_label(*lines: str) -> str:
    """A quoted DOT label; lines joined with DOT's own \\n escape."""
    return "\\n".join(_dot_id(line)[1:-1] for line in lines).join('""')


def _lines(data: dict) -> str:
    return ",".join(str(s.location.line) for s in data.get("sites", ()))


def _node_lines(data: dict, root: str) -> list[str]:
    if data.get("collapsed"):
        return [data["name"]]
    where = f"{_rel(data['file'], root)}:{data['line']}" if data["file"] else "(external)"
    events = data.get("events") or ()
    return [data["name"], where] + ([" ".join(f"[{e}]" for e in events)] if events else [])


def _node_style(data: dict) -> str:
    if data.get("collapsed"):
        return ", shape=note, style=dotted, fontcolor=gray30"
    style = ', style=dashed, color=gray40' if data["external"] else ""
    if data.get("focus"):
        style = ', style="filled,bold", fillcolor="#fff4d6", color="#bf8700", penwidth=2.5'
    return style


def _dot_legend(graph: nx.DiGraph) -> list[str]:
    """A legend cluster: the focus, and the kinds of calls and events the picture uses."""
    out = ["  subgraph cluster_legend {", '    label="legend"; fontname="monospace"; '
           'fontsize=9; color=gray70;', '    node [shape=plaintext, fontsize=9];']
    if any(d.get("focus") for _, d in graph.nodes(data=True)):
        out.append('    legend_focus [shape=box, label="focus", style="filled,bold", '
                   'fillcolor="#fff4d6", color="#bf8700"];')
    kinds = [("direct", "direct call", "")]
    if any(d["indirect"] for _, _, d in graph.edges(data=True)):
        kinds.append(("indirect", "call through an ops table", ", style=dashed"))
    if any(d.get("callback") for _, _, d in graph.edges(data=True)):
        kinds.append(("callback", "callback (handed to an iterator)",
                      ", style=dashed, color=blue"))
    for key, text, style in kinds:
        out.append(f"    legend_{key}_a [label=\"\"]; legend_{key}_b [label={_dot_id(text)}];")
        out.append(f"    legend_{key}_a -> legend_{key}_b [arrowsize=0.6{style}];")
    events = sorted({e for _, d in graph.nodes(data=True) for e in d.get("events") or ()})
    if events:
        text = "\\l".join(f"[{e}] {EVENT_COLOURS.get(e, (e,))[0]}" for e in events)
        out.append(f"    legend_events [label=\"{text}\\l\"];")
    out.append("  }")
    return out


def to_dot(graph: nx.DiGraph, root: str, title: str = "kmeminit") -> str:
    ids = {n: f"n{i}" for i, n in enumerate(sorted(graph.nodes))}
    out = [f"digraph {_dot_id(title)} {{", "  rankdir=LR;",
           '  node [shape=box, fontname="monospace", fontsize=10];',
           '  edge [fontname="monospace", fontsize=9];']
    for node in sorted(graph.nodes):
        data = graph.nodes[node]
        style = _node_style(data)
        out.append(f"  {ids[node]} [label={_dot_label(*_node_lines(data, root))}{style}];")
    for src, dst in sorted(graph.edges):
        data = graph.edges[src, dst]
        style = ", style=dashed" if data["indirect"] else ""
        label = "line " + _lines(data) if data["sites"] else ""  # "" for a folded edge
        if data.get("callback"):
            label = f"callback via {data['callback']}(), {label}".rstrip(", ")
            style = ", style=dashed, color=blue, fontcolor=blue"
        out.append(f"  {ids[src]} -> {ids[dst]} [label={_dot_id(label)}{style}];")
    if graph.number_of_nodes():
        out += _dot_legend(graph)
    out.append("}")
    return "\n".join(out) + "\n"


def _plain(graph: nx.DiGraph, root: str) -> nx.DiGraph:
    """A copy with only JSON/GraphML-friendly attributes."""
    plain = nx.DiGraph()
    for node in sorted(graph.nodes):
        data = graph.nodes[node]
        plain.add_node(node, name=data["name"], file=_rel(data["file"], root),
                       line=data["line"], external=data["external"],
                       focus=bool(data.get("focus")), collapsed=bool(data.get("collapsed")),
                       events=",".join(data.get("events") or ()))
    for src, dst in sorted(graph.edges):
        data = graph.edges[src, dst]
        plain.add_edge(src, dst, lines=_lines(data), indirect=data["indirect"],
                       callback=data.get("callback") or "")
    return plain


def to_graphml(graph: nx.DiGraph, root: str) -> str:
    buf = io.BytesIO()
    nx.write_graphml(_plain(graph, root), buf)
    return buf.getvalue().decode()


def to_json(graph: nx.DiGraph, root: str) -> str:
    plain = _plain(graph, root)
    data = {
        "nodes": [{"id": n, **plain.nodes[n]} for n in plain.nodes],
        "edges": [{"from": s, "to": d, **plain.edges[s, d]} for s, d in plain.edges],
    }
    return json.dumps(data, indent=2) + "\n"


def to_svg(graph: nx.DiGraph, root: str) -> str:
    """Graphviz's layout when its `dot` program is installed, else kmeminit's own
    (sarif/svg.py); the CLI says which in one line."""
    dot = shutil.which("dot")
    if dot is None:
        return to_embedded_svg(graph, root)
    proc = subprocess.run([dot, "-Tsvg"], input=to_dot(graph, root), capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"dot failed: {proc.stderr.strip().splitlines()[-1:]}")
    return proc.stdout


def to_embedded_svg(graph: nx.DiGraph, root: str, title: str = "call graph") -> str:
    """The picture laid out without Graphviz, as a standalone SVG document."""
    ids = {n: f"n{i}" for i, n in enumerate(sorted(graph.nodes))}
    nodes = [svg.Node(ids[n], tuple(_node_lines(graph.nodes[n], root)),
                      focus=bool(graph.nodes[n].get("focus")),
                      external=bool(graph.nodes[n]["external"]),
                      collapsed=bool(graph.nodes[n].get("collapsed")),
                      events=tuple(graph.nodes[n].get("events") or ()))
             for n in sorted(graph.nodes)]
    edges = [svg.EdgeSpec(ids[a], ids[b], "indirect" if d.get("indirect") else "direct",
                          "line " + _lines(d) if d.get("sites") else "")
             for a, b, d in sorted(graph.edges(data=True), key=lambda e: (e[0], e[1]))]
    return svg.to_svg(svg.Picture(nodes, edges, title), standalone=True)


def collapse(graph: nx.DiGraph, focus: Iterable[str], max_nodes: int) -> nx.DiGraph:
    """At most `max_nodes` functions: those nearest the focus (breadth first, callers and
    callees alike), each kept function's left-out callers and callees folded into one
    "… N more callers" / "… N more callees" node beside it."""
    if max_nodes <= 0 or graph.number_of_nodes() <= max_nodes:
        return graph
    order, parent = _nearest(graph, [f for f in sorted(focus) if f in graph])
    kept = set(order[:max_nodes])
    folded: dict[tuple[str, str], int] = {}
    for node in order[max_nodes:]:
        up = parent[node]
        while up[0] not in kept:  # up to the kept function the fold hangs on
            up = parent[up[0]]
        folded[up[0], up[1]] = folded.get((up[0], up[1]), 0) + 1
    out = graph.subgraph(kept).copy()
    for (anchor, side), count in sorted(folded.items()):
        node = f"collapsed:{side}:{anchor}"
        word = side if count > 1 else side[:-1]
        out.add_node(node, name=f"… {count} more {word}", file="", line=0, external=False,
                     collapsed=True)
        if side == "callers":
            out.add_edge(node, anchor, sites=[], indirect=False)
        else:
            out.add_edge(anchor, node, sites=[], indirect=False)
    return out


def _nearest(graph: nx.DiGraph, focus: list[str]
             ) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """Nodes in breadth-first order from the focus (undirected), and for each the node it
    was reached from and whether it is one of that node's callers or callees."""
    start = focus or sorted(graph.nodes)[:1]
    order, parent = list(start), {}
    seen = set(start)
    for node in order:
        steps = [(p, "callers") for p in sorted(graph.predecessors(node))]
        steps += [(s, "callees") for s in sorted(graph.successors(node))]
        for other, side in steps:
            if other not in seen:
                seen.add(other)
                parent[other] = (node, side)
                order.append(other)
    order += sorted(set(graph.nodes) - seen)  # unconnected to the focus: farthest of all
    for node in order:
        if node not in parent and node not in start:
            parent[node] = (start[0], "callees")
    return order, parent


FORMATS = {"dot": to_dot, "graphml": to_graphml, "json": to_json, "svg": to_svg}
