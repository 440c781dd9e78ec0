"""`kmeminit graph`: a call-graph slice as DOT, GraphML, JSON or SVG."""

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
    p.add_argument("--format", choices=("dot", "graphml", "json", "svg"), default="dot")
    p.add_argument("-o", "--output", metavar="FILE", type=Path)
    p.set_defaults(run=run)


def _nodes(program: Program, config: Config, names: list[str]) -> set[str]:
    found = program.usrs_named(config.names(names))
    if not found:
        raise UsageError(f"no function named {', '.join(names)} in the analysed code")
    return found


def run(args: argparse.Namespace) -> int:
    import networkx as nx

    from kmeminit.sarif.graph import FORMATS

    session = open_session(args)
    stats = index(session, args)
    program = session.program()
    if args.function:
        graph = program.graph
        centre = sorted(_nodes(program, session.config, [args.function]))
        parts = [nx.ego_graph(graph, c, radius=args.depth, undirected=True) for c in centre]
        sliced = graph.subgraph(set().union(*(p.nodes for p in parts)))
    elif args.sources and args.targets:
        sliced = program.slice(_nodes(program, session.config, args.sources),
                               _nodes(program, session.config, args.targets))
        if sliced.number_of_nodes() == 0:
            raise UsageError(f"no call path from {', '.join(args.sources)} to "
                             f"{', '.join(args.targets)}")
    else:
        raise UsageError("graph needs --from and --to, or --function")
    try:
        text = FORMATS[args.format](sliced, session.source_root)
    except RuntimeError as exc:
        raise UsageError(str(exc)) from None
    write_output(args.output, text)
    print_notifications(session.notifications + stats.notifications, session.source_root)
    incomplete = check_coverage(session, stats)
    print(f"kmeminit: graph of {sliced.number_of_nodes()} functions, "
          f"{sliced.number_of_edges()} calls", file=sys.stderr)
    return EXIT_OK if incomplete is None else incomplete
