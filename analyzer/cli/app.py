"""The `kmeminit` command line: argument parsing and dispatch.  Each command lives in its
own module with `add_parser(sub)` and `run(args) -> exit code`."""

from __future__ import annotations

import argparse
import io
import os
import signal
import sys

from kmeminit.analyzer.cli import (
    check,
    diff,
    explain,
    fix,
    graph,
    index,
    origins,
    report,
    reserved,
    rules,
)
from kmeminit.analyzer.cli.session import EXIT_USAGE, UsageError, tune_collector
from kmeminit.analyzer.compdb import CompdbError
from kmeminit.analyzer.config import ConfigError

# In the order `kmeminit --help` lists them.
COMMANDS = (index, check, diff, fix, graph, reserved, origins, report)


class _Version(argparse.Action):
    """--version, reading the package metadata only when asked."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from kmeminit.analyzer import version

        print(f"kmeminit {version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kmeminit",
        description="Static analyzer for Linux-kernel memory-init invariants.")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    sub.add_parser("cc", help="kbuild CHECK program: kmeminit cc $(CHECKFLAGS) $(c_flags) "
                              "file.c (same as kmeminit-cc)", add_help=False)
    rules.add_parser(sub)
    explain.add_parser(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, taking SIGINT's way out: workers stopped, the current TU's transaction
    rolled back, no partial output file."""


# the process that installed the handlers: a worker forked from it inherits them
_owner = [0]


def _terminate(signum: int, _frame: object) -> None:
    """SIGTERM (and SIGINT) in the command's process: Terminated (KeyboardInterrupt).
    In a process forked from it (a parse or rule worker) the signal may come before the
    worker's own code runs, while its stack is still a copy of the parent's: an
    exception there would unwind into the parent's code and run the rest of the command
    a second time.  Such a process exits at once instead."""
    if os.getpid() != _owner[0]:
        os._exit(128 + signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    tune_collector()
    if argv[:1] == ["cc"]:  # kbuild's argv is gcc's, not ours: no argparse
        from kmeminit.analyzer.cli import cc

        return cc.run(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if isinstance(sys.stdout, io.TextIOWrapper):  # non-UTF-8 file names: their bytes
        sys.stdout.reconfigure(errors="surrogateescape")
    _owner[0] = os.getpid()
    previous = signal.signal(signal.SIGTERM, _terminate)
    interrupt = signal.signal(signal.SIGINT, _terminate)
    try:
        try:
            return args.run(args)
        finally:
            store = sys.modules.get("kmeminit.analyzer.store")  # not imported: none
            if store is not None:
                store.run_deferred_writes()
    except (UsageError, ConfigError, CompdbError) as exc:
        print(f"kmeminit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # disk full, read-only output directory...: one line, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"kmeminit: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        sqlite3 = sys.modules.get("sqlite3")  # not imported: the error is not the store's
        if sqlite3 is None or not isinstance(exc, sqlite3.Error):
            raise
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
        signal.signal(signal.SIGINT, interrupt)
