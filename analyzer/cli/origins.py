"""`kmeminit origins`: the origin inventory of one pointer type (wiring only; the analysis
is analyzer.dataflow.inventory over the kernel facts' origin engine, the rendering
sarif.origins_report)."""

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
    p = sub.add_parser("origins", help="inventory the origins of a pointer type's "
                                       "parameters and fields, with witness chains")
    add_input_options(p)
    p.add_argument("--type", dest="pointer", default="struct vmem_altmap *",
                   help="the pointer type (default: 'struct vmem_altmap *'); allocators and "
                        "helpers come from the config's origins section for it")
    p.add_argument("--function", dest="functions", action="append", metavar="FUNC",
                   help="only this function's parameters (repeatable; aliases apply)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text (default) or json")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write here (atomically) instead of stdout")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from kmeminit.analyzer.dataflow.inventory import inventory
    from kmeminit.analyzer.kernel import kernel_facts
    from kmeminit.sarif.origins_report import format_origins_json, format_origins_text

    session = open_session(args)
    stats = index(session, args)
    program = session.program()
    pointer = " ".join(args.pointer.split())
    if pointer.count("*") != 1 or not pointer.endswith("*"):
        raise UsageError(f"--type '{args.pointer}' is not a pointer to a record "
                         "(like 'struct vmem_altmap *')")
    engine = kernel_facts(program, session.config).origins(pointer)
    names = set(session.config.names(args.functions)) if args.functions else None
    if names is not None and not any(program.named(n) for n in names):
        raise UsageError(f"no function named {', '.join(args.functions)} in the analysed code")
    found = inventory(engine, names)
    render = format_origins_json if args.format == "json" else format_origins_text
    text = render(found, session.source_root)
    write_output(args.output, text)
    print_notifications(session.notifications + stats.notifications, session.source_root)
    incomplete = check_coverage(session, stats)
    print(f"kmeminit: {len(found.sets)} variable(s) of type {pointer}", file=sys.stderr)
    return EXIT_OK if incomplete is None else incomplete
