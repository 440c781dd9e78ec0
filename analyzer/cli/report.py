"""`kmeminit report`: the rules over the TUs kbuild showed the store, without a compile
database.

The kbuild-native flow is `make C=2 CHECK=kmeminit-cc mm/ fs/proc/`: each TU that mentions
a configured symbol is parsed into the store, every other one is recorded by its command
line and lexical entry only.  `kmeminit report` then takes the prefilter's closure over the
recorded lexical index (analyzer/prefilter.py), parses in one batch the recorded TUs the
rules' demand reaches and were not parsed yet, and runs the rules: the same program, rules,
output options and exit codes as `kmeminit check --prefilter` over the same TUs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kmeminit.analyzer.cli import output
from kmeminit.analyzer.cli.options import add_output_options, add_report_options
from kmeminit.analyzer.cli.session import (
    DEFAULT_MAX_FAILED,
    Session,
    Threshold,
    UsageError,
    default_store,
    index,
    invocation,
    load_selected_rules,
    now,
    positive,
    report_roots,
    rule_metas,
)
from kmeminit.analyzer.config import Config, load_config

if TYPE_CHECKING:
    from kmeminit.analyzer.store import FactStore


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="run the rules over what the store holds (after "
                                      "make C=1 CHECK=kmeminit-cc) and write results")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="report findings only in files under these paths (relative to the "
                        "source root); every stored TU is analysed for context")
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
    p.add_argument("--max-failed-tus", type=Threshold.parse, metavar="N|P%",
                   help="stored TUs that may have failed or been parsed with errors before "
                        "the report counts as incomplete (default: "
                        f"{DEFAULT_MAX_FAILED.replace('%', '%%')})")
    p.add_argument("-j", "--jobs", type=positive(int), default=os.cpu_count() or 1,
                   help="parallel parser processes for the TUs kbuild did not parse, "
                        "and rule-family workers (default: CPU count)")
    p.add_argument("--tu-timeout", type=positive(float), metavar="SECONDS",
                   help="give up on a TU after this long (default 120)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar on a terminal, no progress lines in a log")
    add_output_options(p)
    add_report_options(p)
    p.set_defaults(run=run, prefilter=True)


def open_report_store(args: argparse.Namespace) -> FactStore:
    """The fact store kbuild filled (`--store`, else the default one)."""
    from kmeminit.analyzer.store import FactStore

    path = args.store or default_store(os.getcwd())
    if not path.is_file():
        raise UsageError(f"{path}: no fact store (run make C=1 CHECK=kmeminit-cc first, or "
                         "give --store)")
    return FactStore(path)


def open_report_session(args: argparse.Namespace, config: Config | None = None,
                        store: FactStore | None = None) -> Session:
    """The session over every TU `store` (else `open_report_store`'s) remembers."""
    from kmeminit.analyzer.compdb import guess_source_root, wanted

    config = config if config is not None else load_config(args.config)
    store = store if store is not None else open_report_store(args)
    path = store.path
    commands = store.commands(arguments=False)  # the sanitised ones are what it parses
    if not commands:
        raise UsageError(f"{path}: the store holds no TU with a remembered command line "
                         "(run make C=1 CHECK=kmeminit-cc first)")
    root = (os.path.realpath(args.source_root) if args.source_root
            else guess_source_root([(c.file, c.directory) for c in commands]))
    exclude = list(config.get("compdb", "exclude", default=[]) or [])
    entries = [c.entry() for c in commands if wanted(c.file, root, [], exclude)]
    if args.paths and not any(wanted(e.file, root, args.paths, []) for e in entries):
        raise UsageError(f"{path}: no stored TU under {' '.join(args.paths)}")
    # every stored TU is context; the paths only choose where findings are reported
    return Session(config, entries, root, store, list(store.notifications),
                   max_failed=args.max_failed_tus,
                   report_paths=tuple(report_roots(root, args.paths)), from_store=True)


def run(args: argparse.Namespace) -> int:
    from kmeminit.analyzer.memo import early_workers
    from kmeminit.analyzer.results import RunResult

    start = now()
    config = load_config(args.config)
    store = open_report_store(args)
    checkers, load_notes = load_selected_rules(args, config)
    # after an edit kbuild re-parsed, the last run's programs load meanwhile: started
    # first, before the session reads every recorded command
    early = early_workers(store, config, checkers, args.jobs) if not args.debug else None
    try:
        session = open_report_session(args, config, store)
        triage = output.load_triage(args, session)
        recorded = len(session.entries)
        stats = index(session, args)  # the prefilter's closure: narrows session.entries
        if early is not None and stats.cached != stats.selected:  # the store changed
            early.close()
            early = None
        notes = list(session.notifications) + load_notes + stats.notifications
        analysis = session.analyse(args, checkers, early=early, stats=stats)
    finally:
        if early is not None:
            early.close()
    findings, run_notes = session.reported(analysis.findings), analysis.notes
    print(f"kmeminit: report over {len(session.entries)} of {recorded} recorded TUs",
          file=sys.stderr)
    result = RunResult(tuple(rule_metas(checkers)), tuple(findings), tuple(notes + run_notes),
                       invocation(start, session, session.successful(stats)),
                       {"functions": str(analysis.functions)},
                       suppressions=analysis.suppressions)
    extra = output.inventories(args, lambda: analysis.program, session.config,
                               [c.id for c in checkers])
    return output.finish(result, args, session, triage, stats=stats, extra=extra)
