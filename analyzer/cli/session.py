"""What every command shares: the session (config, selected TUs, store), exit codes, one-line
usage errors, indexing, notifications on stderr, rule selection and the fail-on decision.

Imports stay light: the heavy modules (libclang, networkx, the checkers, the formatters) are
imported by the functions that need them, so `kmeminit --version` and the kbuild driver
start fast.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kmeminit.analyzer.config import Config, load_config
from kmeminit.analyzer.model import Level, Notification

if TYPE_CHECKING:
    from kmeminit.analyzer.compdb import CompileEntry
    from kmeminit.analyzer.index_task import IndexStats
    from kmeminit.analyzer.program import Program
    from kmeminit.analyzer.results import Finding, Invocation, RuleMeta
    from kmeminit.analyzer.store import FactStore

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
FAIL_ON = ("note", "warning", "error", "none")


class UsageError(Exception):
    """A bad command line or input; printed as one line, exit code 2."""


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
        from kmeminit.analyzer.program import Program

        return Program.from_store(self.store, [e.file for e in self.entries]).apply_config(
            self.config)

    def has_input_errors(self) -> bool:
        return any(n.level is Level.ERROR for n in self.notifications)


def open_session(args: argparse.Namespace) -> Session:
    """Config, compile database (the TUs under the positional paths) and store."""
    from kmeminit.analyzer.compdb import open_compdb
    from kmeminit.analyzer.store import FactStore

    if hasattr(args, "executor"):
        scheduler(args)  # option mistakes are reported before any input is read
    config = load_config(args.config)
    db = open_compdb(Path(args.compdb), config, args.paths, args.source_root)
    root = db.source_root
    if not os.path.isdir(root):
        raise UsageError(f"{root}: source root is not a directory")
    if args.paths and not db.entries:
        raise UsageError(f"{db.path}: no compile command matches {' '.join(args.paths)}")
    store = FactStore(args.store or Path(root) / ".kmeminit" / "facts.db")
    return Session(config, db.entries, root, store, db.notes + store.notifications)


def default_store(cwd: str) -> Path:
    """Where kbuild's store is: KMEMINIT_STORE, else .kmeminit/facts.db under the object
    tree (make's working directory)."""
    env = os.environ.get("KMEMINIT_STORE")
    return Path(env) if env else Path(cwd) / ".kmeminit" / "facts.db"


def index(session: Session, args: argparse.Namespace) -> IndexStats:
    """Bring the store up to date for the session's TUs (through the prefilter when it is
    on, which narrows `session.entries`); prints the summary line."""
    from kmeminit.analyzer.index import index_entries
    from kmeminit.analyzer.index_task import IndexStats

    timeout = args.tu_timeout or session.config.get("index", "tu_timeout", default=120)
    progress = not args.no_progress and sys.stderr.isatty()
    address = scheduler(args)
    if not prefilter_on(args, session):
        stats = index_entries(session.entries, session.store, session.config, args.jobs,
                              timeout, progress, scheduler=address)
        print(stats.summary(), file=sys.stderr)
        return stats
    from kmeminit.analyzer.prefilter import prefilter_index

    stats = IndexStats()

    def index_batch(entries: list[CompileEntry]) -> None:
        part = index_entries(entries, session.store, session.config, args.jobs, timeout,
                             progress, scheduler=address)
        for name in ("selected", "parsed", "cached", "failed", "seconds"):
            setattr(stats, name, getattr(stats, name) + getattr(part, name))
        stats.notifications.extend(part.notifications)

    session.entries, _ = prefilter_index(session.entries, session.store, session.config,
                                         index_batch)
    print(stats.summary(), file=sys.stderr)
    return stats


def prefilter_on(args: argparse.Namespace, session: Session) -> bool:
    if getattr(args, "prefilter", None) is not None:
        return bool(args.prefilter)
    return len(session.entries) > session.config.get("prefilter", "min_tus", default=500)


def scheduler(args: argparse.Namespace) -> str | None:
    """The Dask scheduler address of `--executor dask`, checked to be reachable; None for
    local worker processes."""
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


def print_notifications(notes: list[Notification], root: str) -> None:
    from kmeminit.analyzer.paths import SourceTree
    from kmeminit.analyzer.triage import sorted_notifications
    from kmeminit.sarif.text import format_notification

    tree = SourceTree(root)
    for note in sorted_notifications(notes):
        print(format_notification(note, tree), file=sys.stderr)


# -- rules -----------------------------------------------------------------------------


def selected_rules(text: str | None) -> set[str] | None:
    """`--rules KMI001,kmi003` as a set of ids; None (every enabled rule) when not given."""
    if not text:
        return None
    return {r.strip().upper() for r in text.split(",") if r.strip()}


def load_rules(enabled: set[str] | None, config: Config) -> tuple[list, list[Notification]]:
    """The checkers to run; an unknown rule id on the command line is a usage error."""
    from kmeminit.analyzer.rules import load_checkers

    checkers, notes = load_checkers(enabled, config)
    unknown = [n for n in notes if n.message.startswith("unknown rule id")]
    if unknown:
        raise UsageError(f"{unknown[0].message} (see: kmeminit rules)")
    return checkers, notes


def rule_metas(checkers: list) -> list[RuleMeta]:
    from kmeminit.analyzer.rules import rule_meta

    return [rule_meta(type(c), c.level) for c in checkers]


def fails(findings: list[Finding], fail_on: str) -> bool:
    """Whether a finding at or above `--fail-on` is among `findings` (those reported)."""
    if fail_on == "none":
        return False
    threshold = Level(fail_on).rank
    return any(f.level.rank >= threshold for f in findings)


def invocation(start: str, session: Session, successful: bool) -> Invocation:
    from kmeminit.analyzer.results import Invocation

    return Invocation(
        command_line=shlex.join(["kmeminit", *sys.argv[1:]]), arguments=tuple(sys.argv[1:]),
        working_directory=os.getcwd(), start_time=start, end_time=now(),
        successful=successful, source_root=session.source_root)
