"""`kmeminit report`: the rules over every TU the store holds, without a compile database.

The kbuild-native flow is `make C=2 CHECK=kmeminit-cc mm/ fs/proc/` (each TU indexed
into the store, its command line remembered there), then `kmeminit report`: the same
program, rules, output options and exit codes as `kmeminit check`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kmeminit.analyzer.cli import Session, UsageError, _load_checkers, _metas, _now, _select_rules
from kmeminit.analyzer.compdb import CompileEntry, _wanted, guess_source_root
from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.kbuild import default_store
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.store import FactStore


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="report only TUs under these paths (relative to the source root)")
    p.add_argument("--store", metavar="PATH", type=Path,
                   help="fact store (default: $KMEMINIT_STORE, else .kmeminit/facts.db in "
                        "the current directory: the object tree kbuild ran in)")
    p.add_argument("--source-root", metavar="DIR",
                   help="root that result paths are relative to (default: where the stored "
                        "TUs were compiled)")
    p.add_argument("--config", metavar="FILE", type=Path,
                   help="YAML merged over config/default.yaml")
    p.add_argument("--debug", action="store_true",
                   help="re-raise checker exceptions instead of reporting them")


def open_report_session(args: argparse.Namespace) -> Session:
    config = load_config(args.config)
    path = args.store or default_store(os.getcwd())
    if not path.is_file():
        raise UsageError(f"{path}: no fact store (run make C=1 CHECK=kmeminit-cc first, or "
                         "give --store)")
    store = FactStore(path)
    commands = store.commands()
    if not commands:
        raise UsageError(f"{path}: the store holds no TU with a remembered command line")
    root = (os.path.realpath(args.source_root) if args.source_root
            else guess_source_root([(c.file, c.directory) for c in commands]))
    exclude = list(config.get("compdb", "exclude", default=[]) or [])
    entries = [CompileEntry(c.file, c.directory, c.arguments, c.clang_args, (), c.arch)
               for c in commands if _wanted(c.file, root, args.paths, exclude)]
    if args.paths and not entries:
        raise UsageError(f"{path}: no stored TU under {' '.join(args.paths)}")
    return Session(config, entries, root, store, list(store.notifications))


def cmd_report(args: argparse.Namespace) -> int:
    from kmeminit.analyzer import cli_report
    from kmeminit.analyzer.results import RunResult
    from kmeminit.checkers import run_checkers

    start = _now()
    session = open_report_session(args)
    triage = cli_report.load_triage(args, session)
    checkers, load_notes = _load_checkers(_select_rules(args), session.config)
    files = [e.file for e in session.entries]
    notes = list(session.notifications) + load_notes
    for file in files:
        notes.extend(session.store.tu_notifications(file))
    program = Program.from_store(session.store, files)
    findings, run_notes = run_checkers(checkers, program, session.config, debug=args.debug)
    print(f"kmeminit: report over {len(files)} stored TUs", file=sys.stderr)
    result = RunResult(tuple(_metas(checkers)), tuple(findings), tuple(notes + run_notes),
                       cli_report.invocation(start, session, True),
                       {"functions": str(len(program.functions))})
    return cli_report.finish(result, args, session, triage)
