"""`kmeminit graph`: a call-graph slice as DOT, GraphML, JSON or SVG, with the functions
asked about marked, the event kinds of each function, a legend, and at most --max-nodes
functions (the rest folded into "… N more callers/callees" nodes)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kmeminit.analyzer.cli.options import add_input_options
from kmeminit.analyzer.cli.session import (
    EXIT_OK,
    UsageError,
    check_coverage,
    index,
    open_session,
    print_notifications,
)
from kmeminit.analyzer.fsutil import write_output

if TYPE_CHECKING:
    from kmeminit.analyzer.config import Config
    from kmeminit.analyzer.program import Program


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("graph", help="export a call-graph slice (DOT, GraphML, JSON, SVG)")
    add_input_options(p)
    p.add_argument("--from", dest="sources", action="append", metavar="FUNC",
                   help="slice from this function (repeatable; aliases from config apply)")
    p.add_argument("--to", dest="targets", action="append", metavar="FUNC",
                   help="slice to this function (repeatable)")
    p.add_argument("--function", metavar="FUNC", help="the neighbourhood of one function")
    p.add_argument("--depth", type=int, default=2, help="radius for --function (default 2)")
    p.add_argument("--max-nodes", type=int, default=DEFAULT_MAX_NODES, metavar="N",
                   help="keep the N functions nearest the focus and fold the others into "
                        f"'… N more callers/callees' nodes (default {DEFAULT_MAX_NODES}; "
                        "0: no limit)")
    p.add_argument("--format", choices=("dot", "graphml", "json", "svg"), default="dot",
                   help="dot (default), graphml, json, or svg (Graphviz's layout when its "
                        "'dot' program is installed, else a built-in one)")
    p.add_argument("-o", "--output", metavar="FILE", type=Path,
                   help="write here (atomically) instead of stdout")
    p.set_defaults(run=run)


DEFAULT_MAX_NODES = 60


def _nodes(program: Program, config: Config, names: list[str]) -> set[str]:
    found = program.usrs_named(config.names(names))
    if not found:
        raise UsageError(f"no function named {', '.join(names)} in the analysed code")
    return found


def run(args: argparse.Namespace) -> int:
    import shutil

    import networkx as nx

    from kmeminit.analyzer.kernel import kernel_facts
    from kmeminit.sarif.graph import FORMATS, collapse

    session = open_session(args)
    stats = index(session, args)
    program = session.program()
    if args.function:
        graph = program.graph
        focus = _nodes(program, session.config, [args.function])
        parts = [nx.ego_graph(graph, c, radius=args.depth, undirected=True)
                 for c in sorted(focus)]
        sliced = graph.subgraph(set().union(*(p.nodes for p in parts)))
    elif args.sources and args.targets:
        focus = (_nodes(program, session.config, args.sources)
                 | _nodes(program, session.config, args.targets))
        sliced = program.slice(_nodes(program, session.config, args.sources),
                               _nodes(program, session.config, args.targets))
        if sliced.number_of_nodes() == 0:
            raise UsageError(f"no call path from {', '.join(args.sources)} to "
                             f"{', '.join(args.targets)}")
    else:
        raise UsageError("graph needs --from and --to, or --function")
    total = sliced.number_of_nodes()
    sliced = sliced.copy()
    events = kernel_facts(program, session.config).event_kinds(sliced.nodes)
    for node in sliced.nodes:
        sliced.nodes[node]["focus"] = node in focus
        sliced.nodes[node]["events"] = events.get(node, ())
    sliced = collapse(sliced, focus, args.max_nodes)
    if args.format == "svg" and shutil.which("dot") is None:
        print("kmeminit: Graphviz's dot is not installed; the SVG uses kmeminit's built-in "
              "layout", file=sys.stderr)
    try:
        text = FORMATS[args.format](sliced, session.source_root)
    except RuntimeError as exc:
        raise UsageError(str(exc)) from None
    write_output(args.output, text)
    print_notifications(session.notifications + stats.notifications, session.source_root)
    incomplete = check_coverage(session, stats)
    shown = sum(1 for _, d in sliced.nodes(data=True) if not d.get("collapsed"))
    folded = f" ({total - shown} folded, --max-nodes)" if shown < total else ""
    print(f"kmeminit: graph of {shown} functions{folded}, {sliced.number_of_edges()} calls",
          file=sys.stderr)
    return EXIT_OK if incomplete is None else incomplete
