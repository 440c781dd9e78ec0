"""`kmeminit index`: build or refresh the fact store."""

from __future__ import annotations

import argparse

from kmeminit.analyzer.cli.options import add_input_options
from kmeminit.analyzer.cli.session import (
    EXIT_OK,
    EXIT_USAGE,
    check_coverage,
    index,
    open_session,
    print_notifications,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="build or update the fact store")
    add_input_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    session = open_session(args)
    stats = index(session, args, decode=False)  # no program is loaded
    print_notifications(session.notifications + stats.notifications, session.source_root)
    incomplete = check_coverage(session, stats)
    if incomplete is not None:
        return incomplete
    return EXIT_USAGE if session.has_input_errors() else EXIT_OK
