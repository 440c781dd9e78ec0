"""Call-graph pictures as inline SVG, laid out without Graphviz.

Layers are the topological generations of the graph's condensation (networkx; a cycle
shares one layer), placed left to right, as networkx's multipartite layout would place
them (that function needs numpy, which nothing else here does, for four lines of
arithmetic); within a layer nodes follow the mean position of their callers (one
barycentre pass), which keeps call chains straight.  The picture marks the focus
node(s), dashes calls through ops tables, and carries a legend of the edge and node kinds
it uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

import networkx as nx

CHAR_W, LINE_H, PAD, GAP_X, GAP_Y, MARGIN = 7.0, 14, 6, 48, 14, 10
# Edge kinds (the `kind` of an edge) and how they are drawn; unknown kinds are solid.
EDGE_STYLES = {"direct": ("direct call", ""), "indirect": ("call through an ops table", "6 4"),
               "callback": ("callback handed to a walker", "2 3")}
# Event kinds a node may carry (the `events` of a node): legend text and colour.
EVENT_COLOURS = {
    "VALID": ("pfns become valid", "#c0392b"), "ONLINE": ("pfns go online", "#d35400"),
    "INIT": ("memmap initialised", "#27ae60"), "INIT_RANGE": ("memmap range initialised",
                                                            "#1e8449"),
    "LOCK": ("hotplug lock taken", "#7f8c8d"), "UNLOCK": ("hotplug lock dropped", "#566573"),
    "reserved-set": ("sets PG_reserved", "#8e44ad"),
    "reserved-clear": ("clears PG_reserved", "#2980b9"),
    "reserved-read": ("reads PG_reserved", "#16a085"),
}


@dataclass(frozen=True)
class Node:
    id: str
    lines: tuple[str, ...]  # the label: name first
    focus: bool = False
    external: bool = False
    collapsed: bool = False  # stands for several nodes left out
    events: tuple[str, ...] = ()
    href: str | None = None


@dataclass(frozen=True)
class EdgeSpec:
    src: str
    dst: str
    kind: str = "direct"
    label: str = ""


@dataclass
class _Box:
    node: Node
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    layer: int = 0


@dataclass
class Picture:
    nodes: Sequence[Node]
    edges: Sequence[EdgeSpec]
    title: str = ""
    legend: bool = True
    boxes: dict[str, _Box] = field(default_factory=dict)


def _layers(nodes: Sequence[Node], edges: Sequence[EdgeSpec]) -> dict[str, int]:
    graph = nx.DiGraph()
    graph.add_nodes_from(n.id for n in nodes)
    graph.add_edges_from((e.src, e.dst) for e in edges if e.src != e.dst)
    dag = nx.condensation(graph)
    layer_of_scc = {scc: i for i, generation in enumerate(nx.topological_generations(dag))
                    for scc in generation}
    return {n: layer_of_scc[dag.graph["mapping"][n]] for n in graph}


def _order(nodes: Sequence[Node], edges: Sequence[EdgeSpec], layers: Mapping[str, int]
           ) -> list[str]:
    """Node ids in layer order; inside a layer by the mean rank of their callers."""
    callers: dict[str, list[str]] = {n.id: [] for n in nodes}
    for e in edges:
        if layers[e.src] < layers[e.dst]:
            callers[e.dst].append(e.src)
    rank: dict[str, float] = {}
    ordered: list[str] = []
    for layer in range(max(layers.values(), default=-1) + 1):
        members = [n.id for n in nodes if layers[n.id] == layer]
        keyed = sorted(members, key=lambda n: (
            sum(rank[c] for c in callers[n]) / len(callers[n]) if callers[n] else
            members.index(n) - len(members), members.index(n)))
        for i, node in enumerate(keyed):
            rank[node] = i
        ordered += keyed
    return ordered


def layout(picture: Picture) -> tuple[float, float]:
    """Positions every node's box; returns the picture's width and height."""
    nodes, edges = picture.nodes, picture.edges
    if not nodes:
        return 0.0, 0.0
    layers = _layers(nodes, edges)
    order = _order(nodes, edges, layers)
    by_id = {n.id: n for n in nodes}
    boxes = {}
    for node_id in order:
        node = by_id[node_id]
        width = max(len(line) for line in node.lines) * CHAR_W + 2 * PAD
        boxes[node_id] = _Box(node, w=width, h=len(node.lines) * LINE_H + 2 * PAD,
                              layer=layers[node_id])
    columns = max(layers.values()) + 1
    widths = [max((b.w for b in boxes.values() if b.layer == c), default=0)
              for c in range(columns)]
    xs = [MARGIN + sum(widths[:c]) + GAP_X * c for c in range(columns)]
    height = 0.0
    for column in range(columns):
        members = [b for b in boxes.values() if b.layer == column]  # in `order`
        y = float(MARGIN)
        for box in members:
            box.x, box.y = xs[column], y
            y += box.h + GAP_Y
        height = max(height, y)
    picture.boxes = boxes
    return xs[-1] + widths[-1] + MARGIN, height + MARGIN - GAP_Y


def _edge_path(a: _Box, b: _Box) -> str:
    if b.layer > a.layer:
        x1, y1 = a.x + a.w, a.y + a.h / 2
        x2, y2 = b.x, b.y + b.h / 2
        mid = (x1 + x2) / 2
        return f"M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
    # back or same-layer edge: leave from the bottom, come in from below
    x1, y1 = a.x + a.w / 2, a.y + a.h
    x2, y2 = b.x + b.w / 2, b.y + b.h
    low = max(y1, y2) + 18
    return f"M{x1:.1f},{y1:.1f} C{x1:.1f},{low:.1f} {x2:.1f},{low:.1f} {x2:.1f},{y2:.1f}"


def _node_svg(box: _Box) -> list[str]:
    node = box.node
    classes = ["node"] + [c for c, on in (("focus", node.focus), ("external", node.external),
                                          ("collapsed", node.collapsed)) if on]
    out = [f'<g class="{" ".join(classes)}" data-id="{escape(node.id)}">',
           f"<title>{escape(' '.join(node.lines))}</title>"]
    if node.href:
        out[0] += f'<a href="{escape(node.href)}">'
    out.append(f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" '
               f'height="{box.h:.1f}" rx="4"/>')
    for i, line in enumerate(node.lines):
        weight = ' font-weight="bold"' if i == 0 and not node.collapsed else ""
        out.append(f'<text x="{box.x + PAD:.1f}" y="{box.y + PAD + (i + 1) * LINE_H - 3:.1f}"'
                   f'{weight}>{escape(line)}</text>')
    for i, event in enumerate(node.events):
        colour = EVENT_COLOURS.get(event, (event, "#555"))[1]
        out.append(f'<circle class="event" cx="{box.x + box.w - 6 - 9 * i:.1f}" '
                   f'cy="{box.y + 6:.1f}" r="3.5" fill="{colour}"><title>'
                   f'{escape(EVENT_COLOURS.get(event, (event,))[0])}</title></circle>')
    if node.href:
        out.append("</a>")
    out.append("</g>")
    return out


def _legend(picture: Picture, y: float) -> tuple[list[str], float]:
    kinds = sorted({e.kind for e in picture.edges}, key=lambda k: list(EDGE_STYLES).index(k)
                   if k in EDGE_STYLES else 99)
    events = [e for e in EVENT_COLOURS if any(e in n.events for n in picture.nodes)]
    out = [f'<g class="legend" transform="translate({MARGIN},{y:.1f})">']
    x = 0.0
    if any(n.focus for n in picture.nodes):
        out.append(f'<rect class="focus-key" x="{x:.1f}" y="0" width="14" height="10" '
                   'rx="2"/>')
        out.append(f'<text x="{x + 18:.1f}" y="9">focus</text>')
        x += 18 + 6 * CHAR_W
    for kind in kinds:
        text, dash = EDGE_STYLES.get(kind, (kind, ""))
        style = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<line x1="{x:.1f}" y1="5" x2="{x + 24:.1f}" y2="5" class="edge"{style}/>')
        out.append(f'<text x="{x + 28:.1f}" y="9">{escape(text)}</text>')
        x += 28 + (len(text) + 2) * CHAR_W
    for event in events:
        text, colour = EVENT_COLOURS[event]
        out.append(f'<circle cx="{x + 4:.1f}" cy="5" r="3.5" fill="{colour}"/>')
        out.append(f'<text x="{x + 11:.1f}" y="9">{escape(text)}</text>')
        x += 11 + (len(text) + 2) * CHAR_W
    out.append("</g>")
    return out, x + 2 * MARGIN


STYLE = """
.kmi-graph text { font: 11px monospace; fill: #1d2125; }
.kmi-graph .node rect { fill: #f6f8fa; stroke: #57606a; stroke-width: 1; }
.kmi-graph .node.focus rect { fill: #fff4d6; stroke: #bf8700; stroke-width: 2.5; }
.kmi-graph .node.external rect { stroke-dasharray: 4 3; fill: #ffffff; }
.kmi-graph .node.collapsed rect { fill: #eaeef2; stroke-dasharray: 2 2; }
.kmi-graph .node.collapsed text { font-style: italic; }
.kmi-graph .edge { fill: none; stroke: #57606a; stroke-width: 1.2; }
.kmi-graph .legend text { font-size: 10px; }
.kmi-graph .focus-key { fill: #fff4d6; stroke: #bf8700; stroke-width: 2; }
"""


def to_svg(picture: Picture, standalone: bool = False) -> str:
    """The picture as an `<svg>` element (a whole SVG document when `standalone`)."""
    width, height = layout(picture)
    legend, legend_width = ([], 0.0)
    if picture.legend:
        legend, legend_width = _legend(picture, height + 8)
        height += 8 + 16
    width = max(width, legend_width)
    out = [f'<svg class="kmi-graph" xmlns="http://www.w3.org/2000/svg" '
           f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
           f'role="img" aria-label="{escape(picture.title or "call graph")}">']
    if standalone:
        out.append(f"<style>{STYLE}</style>")
    if picture.title:
        out.append(f"<title>{escape(picture.title)}</title>")
    out.append('<defs><marker id="kmi-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
               'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
               '<path d="M0,0 L10,5 L0,10 z" fill="#57606a"/></marker></defs>')
    boxes = picture.boxes
    for edge in picture.edges:
        if edge.src not in boxes or edge.dst not in boxes:
            continue
        dash = EDGE_STYLES.get(edge.kind, ("", ""))[1]
        style = f' stroke-dasharray="{dash}"' if dash else ""
        title = f"<title>{escape(edge.label)}</title>" if edge.label else ""
        out.append(f'<path class="edge {escape(edge.kind)}" d="'
                   f'{_edge_path(boxes[edge.src], boxes[edge.dst])}"{style} '
                   f'marker-end="url(#kmi-arrow)">{title}</path>')
    for box in boxes.values():
        out += _node_svg(box)
    out += legend
    out.append("</svg>")
    text = "\n".join(out) + "\n"
    if standalone:
        text = '<?xml version="1.0" encoding="UTF-8"?>\n' + text
    return text


def chain_picture(steps: Iterable[tuple[int, str | None]], focus: Iterable[str],
                  title: str = "") -> Picture | None:
    """The functions of a witness (steps as (depth, function)) and the calls between
    them: a step one level deeper is called by the function of the step above it.  None
    when the witness stays in one function."""
    stack: list[str] = []
    names: list[str] = []
    edges: list[EdgeSpec] = []
    for depth, function in steps:
        if function is None:
            continue
        del stack[depth:]
        if stack and stack[-1] != function and (stack[-1], function) not in {
                (e.src, e.dst) for e in edges}:
            edges.append(EdgeSpec(stack[-1], function))
        stack += [function] * (depth + 1 - len(stack))
        if function not in names:
            names.append(function)
    if len(names) < 2:
        return None
    wanted = set(focus)
    nodes = [Node(n, (n + "()",), focus=n in wanted) for n in names]
    return Picture(nodes, edges, title)
