"""Call-graph slices as DOT, GraphML, JSON or SVG.

Input is a plain networkx DiGraph as `Program.graph` builds it (node attributes name, file,
line, external; edge attributes sites, indirect, callback), with paths made relative to the
source root.  Ops-table calls are dashed; callbacks (a function handed to an iterator that
calls it back) are dashed, blue and labelled "callback via <iterator>()".
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess

import networkx as nx


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
    return ",".join(str(s.location.line) for s in data["sites"])


def to_dot(graph: nx.DiGraph, root: str, title: str = "kmeminit") -> str:
    ids = {n: f"n{i}" for i, n in enumerate(sorted(graph.nodes))}
    out = [f"digraph {_dot_id(title)} {{", "  rankdir=LR;",
           '  node [shape=box, fontname="monospace", fontsize=10];',
           '  edge [fontname="monospace", fontsize=9];']
    for node in sorted(graph.nodes):
        data = graph.nodes[node]
        where = f"{_rel(data['file'], root)}:{data['line']}" if data["file"] else "(external)"
        style = ', style=dashed, color=gray40' if data["external"] else ""
        out.append(f"  {ids[node]} [label={_dot_label(data['name'], where)}{style}];")
    for src, dst in sorted(graph.edges):
        data = graph.edges[src, dst]
        label = "line " + _lines(data)
        style = ", style=dashed" if data["indirect"] else ""
        if data.get("callback"):
            label = f"callback via {data['callback']}(), {label}"
            style = ", style=dashed, color=blue, fontcolor=blue"
        out.append(f"  {ids[src]} -> {ids[dst]} [label={_dot_id(label)}{style}];")
    out.append("}")
    return "\n".join(out) + "\n"


def _plain(graph: nx.DiGraph, root: str) -> nx.DiGraph:
    """A copy with only JSON/GraphML-friendly attributes."""
    plain = nx.DiGraph()
    for node in sorted(graph.nodes):
        data = graph.nodes[node]
        plain.add_node(node, name=data["name"], file=_rel(data["file"], root),
                       line=data["line"], external=data["external"])
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
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError("SVG needs Graphviz's 'dot' program (apt-get install graphviz)")
    proc = subprocess.run([dot, "-Tsvg"], input=to_dot(graph, root), capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"dot failed: {proc.stderr.strip().splitlines()[-1:]}")
    return proc.stdout


FORMATS = {"dot": to_dot, "graphml": to_graphml, "json": to_json, "svg": to_svg}
