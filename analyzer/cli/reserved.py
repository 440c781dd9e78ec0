"""`kmeminit reserved`: the PG_reserved report (wiring only; the analysis is
analyzer.kernel.reserved, the rendering sarif.reserved_report)."""

from __future__ import annotations

import argparse
import sys

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


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reserved", help="report who sets, clears and reads PG_reserved")
    add_input_options(p)
    p.add_argument("--format", choices=("md", "json", "dot"), default="md",
                   help="md: markdown (default); json; dot: a Graphviz picture")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write here (atomically) instead of stdout")
    p.add_argument("--what-if-drop", metavar="FILE:LINE|FUNC",
                   help="list the readers whose behaviour could change without this site "
                        "(in every format: a section in md, a key in json, the site crossed "
                        "out and those readers in orange in dot)")
    p.add_argument("--title", default="PG_reserved report", help="markdown title")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from kmeminit.analyzer.kernel import kernel_facts
    from kmeminit.sarif.reserved_report import FORMATS, to_markdown

    session = open_session(args)
    stats = index(session, args)
    program = session.program()
    analysis = kernel_facts(program, session.config).reserved
    if args.what_if_drop and not analysis.find_sites(args.what_if_drop):
        raise UsageError(f"no PG_reserved set/clear site at {args.what_if_drop}")
    data = analysis.report(args.what_if_drop)
    if args.format == "md":
        text = to_markdown(data, session.source_root, args.title)
    else:
        text = FORMATS[args.format](data, session.source_root)
    write_output(args.output, text)
    print_notifications(session.notifications + stats.notifications, session.source_root)
    incomplete = check_coverage(session, stats)
    print(f"kmeminit: {len(analysis.sites)} PG_reserved sites, {len(analysis.readers)} "
          "readers", file=sys.stderr)
    return EXIT_OK if incomplete is None else incomplete
