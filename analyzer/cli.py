"""Command line: argument parsing and wiring only."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import shlex
import signal
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

from kmeminit.analyzer import version
from kmeminit.analyzer.compdb import CompdbError, CompileEntry, open_compdb
from kmeminit.analyzer.config import Config, ConfigError, load_config
from kmeminit.analyzer.fsutil import write_output
from kmeminit.analyzer.index import IndexStats, index_entries
from kmeminit.analyzer.model import Level, Notification
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.results import Invocation, RunResult
from kmeminit.analyzer.store import FactStore

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A bad command line or input; printed as one line, exit code 2."""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _add_input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="analyse only TUs under these paths (relative to the source root)")
    p.add_argument("-p", "--compdb", metavar="PATH", default=".",
                   help="compile_commands.json, or the build directory holding it (default: .)")
    p.add_argument("--source-root", metavar="DIR",
                   help="root that result paths are relative to (default: from the database)")
    p.add_argument("--config", metavar="FILE", type=Path,
                   help="YAML merged over config/default.yaml")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                   help="parallel parser processes (default: CPU count)")
    p.add_argument("--store", metavar="PATH", type=Path,
                   help="fact store (default: <source root>/.kmeminit/facts.db)")
    p.add_argument("--tu-timeout", type=float, metavar="SECONDS",
                   help="give up on a TU after this long (default 120)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--prefilter", action=argparse.BooleanOptionalAction, default=None,
                   help="parse only TUs that mention configured symbols, grown along calls "
                        "(default: on above prefilter.min_tus selected TUs)")
    p.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="where TUs are parsed: local worker processes, or a Dask cluster "
                        "(needs --scheduler and kmeminit[dask])")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler address for --executor dask (tcp://host:8786)")
    p.add_argument("--debug", action="store_true",
                   help="re-raise checker exceptions instead of reporting them")


def _add_output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("text", "sarif", "json"), default="text")
    p.add_argument("-o", "--output", metavar="FILE", type=Path,
                   help="write results here (atomically) instead of stdout")
    p.add_argument("--fail-on", choices=("note", "warning", "error", "none"), default="warning",
                   help="exit 1 when a finding at or above this level is reported "
                        "(default: warning)")
    p.add_argument("--rules", metavar="IDS",
                   help="comma-separated rule ids to run (default: all enabled)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kmeminit",
        description="Static analyzer for Linux-kernel memory-init invariants.")
    parser.add_argument("--version", action="version", version=f"kmeminit {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("index", help="build or update the fact store")
    _add_input_options(p)
    p = sub.add_parser("check", help="index, run the enabled checkers, write results")
    _add_input_options(p)
    _add_output_options(p)
    _report().add_report_options(p)
    p = sub.add_parser("diff", help="only the findings new since a git revision (pre-merge)")
    _add_input_options(p)
    _add_output_options(p)
    _report().add_report_options(p)
    _report().add_diff_options(p)
    p = sub.add_parser("graph", help="export a call-graph slice (DOT, GraphML, JSON, SVG)")
    _add_input_options(p)
    p.add_argument("--from", dest="sources", action="append", metavar="FUNC",
                   help="slice from this function (repeatable; aliases from config apply)")
    p.add_argument("--to", dest="targets", action="append", metavar="FUNC",
                   help="slice to this function (repeatable)")
    p.add_argument("--function", metavar="FUNC", help="the neighbourhood of one function")
    p.add_argument("--depth", type=int, default=2, help="radius for --function (default 2)")
    p.add_argument("--format", choices=("dot", "graphml", "json", "svg"), default="dot")
    p.add_argument("-o", "--output", metavar="FILE", type=Path)
    p = sub.add_parser("reserved", help="report who sets, clears and reads PG_reserved")
    _add_input_options(p)
    _reserved().add_arguments(p)
    p = sub.add_parser("origins", help="inventory the origins of a pointer type's "
                                       "parameters and fields, with witness chains")
    _add_input_options(p)
    _origins().add_arguments(p)
    p = sub.add_parser("report", help="run the rules over what the store holds (after "
                                      "make C=1 CHECK=kmeminit-cc) and write results")
    _kbuild().add_report_arguments(p)
    _add_output_options(p)
    _report().add_report_options(p)
    sub.add_parser("cc", help="kbuild CHECK program: kmeminit cc $(CHECKFLAGS) $(c_flags) "
                              "file.c (same as kmeminit-cc)", add_help=False)
    p = sub.add_parser("rules", help="list the rules")
    p.add_argument("--config", metavar="FILE", type=Path)
    p = sub.add_parser("explain", help="print a rule's documentation")
    p.add_argument("rule", metavar="ID")
    p.add_argument("--config", metavar="FILE", type=Path)
    return parser


@dataclass
class Session:
    """What every analysing command needs: config, selected TUs, store."""

    config: Config
    entries: list[CompileEntry]
    source_root: str
    store: FactStore
    notifications: list[Notification]

    def program(self) -> Program:
        """The selected TUs' program, with the config's services and dispatch tables."""
        return Program.from_store(self.store, [e.file for e in self.entries]).apply_config(
            self.config)


def _open_session(args: argparse.Namespace) -> Session:
    if hasattr(args, "executor"):
        _scheduler(args)  # option mistakes are reported before any input is read
    config = load_config(args.config)
    db = open_compdb(Path(args.compdb), config, args.paths, args.source_root)
    root = db.source_root
    if not os.path.isdir(root):
        raise UsageError(f"{root}: source root is not a directory")
    if args.paths and not db.entries:
        raise UsageError(f"{db.path}: no compile command matches {' '.join(args.paths)}")
    selected, notes = db.entries, db.notes
    store = FactStore(args.store or Path(root) / ".kmeminit" / "facts.db")
    return Session(config, selected, root, store, notes + store.notifications)


def _index(session: Session, args: argparse.Namespace) -> IndexStats:
    timeout = args.tu_timeout or session.config.get("index", "tu_timeout", default=120)
    progress = not args.no_progress and sys.stderr.isatty()
    scheduler = _scheduler(args)
    if not _prefilter_on(args, session):
        stats = index_entries(session.entries, session.store, session.config, args.jobs,
                              timeout, progress, scheduler=scheduler)
        print(stats.summary(), file=sys.stderr)
        return stats
    from kmeminit.analyzer.prefilter import prefilter_index

    stats = IndexStats()

    def index(entries: list[CompileEntry]) -> None:
        part = index_entries(entries, session.store, session.config, args.jobs, timeout,
                             progress, scheduler=scheduler)
        for name in ("selected", "parsed", "cached", "failed", "seconds"):
            setattr(stats, name, getattr(stats, name) + getattr(part, name))
        stats.notifications.extend(part.notifications)

    session.entries, _ = prefilter_index(session.entries, session.store, session.config, index)
    print(stats.summary(), file=sys.stderr)
    return stats


def _prefilter_on(args: argparse.Namespace, session: Session) -> bool:
    if getattr(args, "prefilter", None) is not None:
        return bool(args.prefilter)
    return len(session.entries) > session.config.get("prefilter", "min_tus", default=500)


def _scheduler(args: argparse.Namespace) -> str | None:
    executor = getattr(args, "executor", "local")
    if executor == "local":
        if getattr(args, "scheduler", None):
            raise UsageError("--scheduler needs --executor dask")
        return None
    if not args.scheduler:
        raise UsageError("--executor dask needs --scheduler ADDRESS")
    from kmeminit.analyzer.dask_executor import DaskUnavailable, client_for

    try:
        client_for(args.scheduler).close()  # fail early, in one line, if unreachable
    except DaskUnavailable as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot reach the Dask scheduler {args.scheduler}: {exc}") from None
    return args.scheduler


def _print_notifications(notes: list[Notification], root: str) -> None:
    from kmeminit.sarif.paths import SourceTree, sorted_notifications
    from kmeminit.sarif.text import format_notification

    tree = SourceTree(root)
    for note in sorted_notifications(notes):
        print(format_notification(note, tree), file=sys.stderr)


def cmd_index(args: argparse.Namespace) -> int:
    session = _open_session(args)
    stats = _index(session, args)
    notes = session.notifications + stats.notifications
    _print_notifications(notes, session.source_root)
    return EXIT_USAGE if _has_input_errors(session) else EXIT_OK


def _has_input_errors(session: Session) -> bool:
    return any(n.level is Level.ERROR for n in session.notifications)


def _select_rules(args: argparse.Namespace) -> set[str] | None:
    if not getattr(args, "rules", None):
        return None
    return {r.strip().upper() for r in args.rules.split(",") if r.strip()}


def _load_checkers(enabled: set[str] | None, config: Config) -> tuple[list, list[Notification]]:
    from kmeminit.checkers import load_checkers

    checkers, notes = load_checkers(enabled, config)
    unknown = [n for n in notes if n.message.startswith("unknown rule id")]
    if unknown:
        raise UsageError(f"{unknown[0].message} (see: kmeminit rules)")
    return checkers, notes


def _metas(checkers: list) -> list:
    from kmeminit.checkers.base import rule_meta

    return [rule_meta(type(c), c.level) for c in checkers]


def cmd_check(args: argparse.Namespace) -> int:
    from kmeminit.checkers import run_checkers

    start = _now()
    session = _open_session(args)
    triage = _report().load_triage(args, session)
    checkers, load_notes = _load_checkers(_select_rules(args), session.config)
    stats = _index(session, args)
    program = session.program()
    if not checkers:
        print("kmeminit: no checkers are registered; indexing only", file=sys.stderr)
    findings, run_notes = run_checkers(checkers, program, session.config, debug=args.debug)
    notes = session.notifications + load_notes + stats.notifications + run_notes
    invocation = Invocation(
        command_line=shlex.join(["kmeminit", *sys.argv[1:]]), arguments=tuple(sys.argv[1:]),
        working_directory=os.getcwd(), start_time=start, end_time=_now(),
        successful=stats.failed == 0, source_root=session.source_root)
    result = RunResult(tuple(_metas(checkers)), tuple(findings), tuple(notes), invocation,
                       {"functions": str(len(program.functions))})
    return _report().finish(result, args, session, triage)


def cmd_rules(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    checkers, notes = _load_checkers(None, config)
    _print_notifications(notes, os.getcwd())
    metas = _metas(checkers)
    if not metas:
        print("kmeminit: no rules are registered")
    for meta in metas:
        print(f"{meta.id}  {meta.name:32} {meta.level.value:8} {meta.short}")
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    checkers, _ = _load_checkers(None, config)
    for meta in _metas(checkers):
        if meta.id == args.rule.upper():
            print(f"{meta.id} {meta.name} ({meta.level.value}, precision {meta.precision})\n")
            print(meta.doc.strip())
            return EXIT_OK
    raise UsageError(f"unknown rule id '{args.rule}' (see: kmeminit rules)")


def _nodes(program: Program, config: Config, names: list[str]) -> set[str]:
    found = program.usrs_named(config.names(names))
    if not found:
        raise UsageError(f"no function named {', '.join(names)} in the analysed code")
    return found


def cmd_graph(args: argparse.Namespace) -> int:
    import networkx as nx

    from kmeminit.sarif.graph import FORMATS

    session = _open_session(args)
    stats = _index(session, args)
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
    _print_notifications(session.notifications + stats.notifications, session.source_root)
    print(f"kmeminit: graph of {sliced.number_of_nodes()} functions, "
          f"{sliced.number_of_edges()} calls", file=sys.stderr)
    return EXIT_OK


def _report():  # noqa: ANN202 - the module: imported late, it imports this one
    from kmeminit.analyzer import cli_report

    return cli_report


def cmd_diff(args: argparse.Namespace) -> int:
    return _report().cmd_diff(args)


def _kbuild():  # noqa: ANN202 - the module: imported late, it imports this one
    from kmeminit.analyzer import cli_kbuild

    return cli_kbuild


def cmd_report(args: argparse.Namespace) -> int:
    return _kbuild().cmd_report(args)


def _reserved():  # noqa: ANN202 - the module: imported late, it imports this one
    from kmeminit.analyzer import cli_reserved

    return cli_reserved


def cmd_reserved(args: argparse.Namespace) -> int:
    return _reserved().cmd_reserved(args)


def _origins():  # noqa: ANN202 - the module: imported late, it imports this one
    from kmeminit.analyzer import cli_origins

    return cli_origins


def cmd_origins(args: argparse.Namespace) -> int:
    return _origins().cmd_origins(args)


COMMANDS = {"index": cmd_index, "check": cmd_check, "diff": cmd_diff, "graph": cmd_graph,
            "rules": cmd_rules,
            "explain": cmd_explain, "reserved": cmd_reserved,
            "origins": cmd_origins, "report": cmd_report}


class Terminated(KeyboardInterrupt):
    """SIGTERM, taking SIGINT's way out: workers stopped, the current TU's transaction
    rolled back, no partial output file."""


def _terminate(signum: int, _frame: object) -> None:
    raise Terminated(signum)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["cc"]:  # kbuild's argv is gcc's, not ours: no argparse
        from kmeminit.analyzer.kbuild import run

        return run(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if isinstance(sys.stdout, io.TextIOWrapper):  # non-UTF-8 file names: their bytes
        sys.stdout.reconfigure(errors="surrogateescape")
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return COMMANDS[args.command](args)
    except (UsageError, ConfigError, CompdbError) as exc:
        print(f"kmeminit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # disk full, read-only output directory...: one line, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"kmeminit: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except sqlite3.Error as exc:
        print(f"kmeminit: error: fact store: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Terminated:
        print("kmeminit: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("kmeminit: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
