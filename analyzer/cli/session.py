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
    from collections.abc import Callable, Iterator

    from kmeminit.analyzer.compdb import CompileEntry
    from kmeminit.analyzer.families import Speculation
    from kmeminit.analyzer.index_task import IndexStats
    from kmeminit.analyzer.memo import Analysis
    from kmeminit.analyzer.program import Program
    from kmeminit.analyzer.results import Finding, Invocation, RuleMeta
    from kmeminit.analyzer.store import FactStore

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
FAIL_ON = ("note", "warning", "error", "none")
# A prepared kernel tree gives no failed TU at all; a few percent leave room for a stray
# object kbuild could not build, not for an unprepared tree or a wrong target.
DEFAULT_MAX_FAILED = "5%"


class UsageError(Exception):
    """A bad command line or input; printed as one line, exit code 2."""


@dataclass(frozen=True)
class Threshold:
    """--max-failed-tus: a number of TUs (`3`) or a share of the selected ones (`5%`)."""

    value: float
    percent: bool

    @classmethod
    def parse(cls, text: str) -> Threshold:
        number = text[:-1] if text.endswith("%") else text
        try:
            value = float(number) if text.endswith("%") else int(number)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a count or a percentage "
                                             "(like 3 or 5%)") from None
        if value < 0 or text.endswith("%") and value > 100:
            raise argparse.ArgumentTypeError(f"'{text}' is out of range")
        return cls(value, text.endswith("%"))

    def allowed(self, total: int) -> int:
        return int(total * self.value / 100) if self.percent else int(self.value)

    def __str__(self) -> str:
        return f"{self.value:g}%" if self.percent else str(int(self.value))


# The cyclic collector's default (a pass every 700 new objects, a full one whenever the
# long-lived heap grew by a quarter) is made for programs whose objects come and go.  Ours
# decode hundreds of thousands of acyclic fact objects that live until the process exits,
# and every pass walks them again for nothing: `kmeminit diff` after a one-line change on
# the 6.12 slice took 11.3 s with the default and 5.7 s with these, at the same peak RSS.
# The rare cyclic garbage (tracebacks, closures) is still collected.
COLLECTOR_THRESHOLDS = (100_000, 50, 100)


def tune_collector() -> None:
    """Collector thresholds for a process that builds a large, long-lived, acyclic heap."""
    import gc

    gc.set_threshold(*COLLECTOR_THRESHOLDS)


def positive(kind: type) -> object:
    """An argparse type for a number that must be positive (`-j 0` is a usage error)."""
    def convert(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value
    convert.__name__ = kind.__name__
    return convert


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
    missing: tuple[str, ...] = ()  # selected compile commands whose source does not exist
    max_failed: Threshold | None = None  # --max-failed-tus
    # where findings are reported (absolute paths of files or directories); empty: anywhere
    report_paths: tuple[str, ...] = ()
    # behind the prefilter: each rule family's TUs (analyzer/prefilter.py), and how many
    # TUs it chose from
    scopes: dict[str, frozenset[str]] | None = None
    prefiltered: int = 0
    # the entries are the store's commands (`report`), without their original arguments:
    # they are not remembered again
    from_store: bool = False
    # behind the prefilter: the TUs it chose from, and the names its walkers' demand took
    # for pfn walkers (prefilter.walker_names)
    selected: list[CompileEntry] | None = None
    walkers: frozenset[str] | None = None
    # and each walker's own TUs (prefilter.walker_units), when known
    units: dict[str, frozenset[str] | None] | None = None

    def program(self, files: list[str] | None = None) -> Program:
        """The selected TUs' program (or that of `files` among them), with the config's
        services and dispatch tables."""
        from kmeminit.analyzer.program import Program

        chosen = [e.file for e in self.entries] if files is None else files
        return Program.from_store(self.store, chosen).apply_config(self.config)

    def analyse(self, args: argparse.Namespace, checkers: list,
                load: Callable[[], Program] | None = None, progress: bool = True,
                early: Speculation | None = None, stats: IndexStats | None = None
                ) -> Analysis:
        """The rules over the session's TUs (analyzer/memo.py: the stored result of the same
        inputs unless --recompute or --debug, or of the rules whose TUs are unchanged),
        with the rule phase's progress.  `load(files)` builds the program of those TUs (all
        when None) when rules must run (default: `program`); `early` workers may hold some
        of those programs already (memo.early_workers).

        Behind the prefilter, when the walkers' rules find pfn walkers the lexical demand
        could not see, the demand is computed again with them (`_again`), the TUs it adds
        are parsed (counted into `stats`) and the rules run again, at most WALKER_ROUNDS
        times."""
        analysis = self._analyse_once(args, checkers, load, progress, early)
        for _ in range(WALKER_ROUNDS):
            hidden = self.unknown_walkers(analysis, checkers)
            if not hidden:
                break
            analysis = self._again(args, checkers, hidden, progress, stats)
        return analysis

    def _analyse_once(self, args: argparse.Namespace, checkers: list,
                      load: Callable[[], Program] | None, progress: bool,
                      early: Speculation | None) -> Analysis:
        from kmeminit.analyzer.memo import analyse

        bar = rule_progress(args, checkers) if progress else None
        build = load or self.program
        try:
            return analyse(self.store, [e.file for e in self.entries], self.config,
                           checkers, lambda files=None: build(files).apply_config(self.config),
                           debug=args.debug, progress=bar,
                           say=lambda m: print(m, file=sys.stderr),
                           reuse=not getattr(args, "recompute", False), scopes=self.scopes,
                           jobs=getattr(args, "jobs", None) or os.cpu_count() or 1,
                           early=early, units=self.units)
        finally:
            if bar is not None:
                bar.close()

    def unknown_walkers(self, analysis: Analysis, checkers: list) -> set[str]:
        """Behind the prefilter: the functions the walkers' rules found converting pfns
        that the demand did not take for walkers (a conversion in a helper or macro)."""
        if self.scopes is None or self.walkers is None:
            return set()
        found: set[str] = set()
        for checker in checkers:
            if "walkers" in (getattr(checker, "demand", None) or ()):
                found |= analysis.subjects.get(checker.id, frozenset())
        return found - self.walkers

    def _again(self, args: argparse.Namespace, checkers: list, hidden: set[str],
               progress: bool, stats: IndexStats | None) -> Analysis:
        """The prefilter's next round: the demand computed again with the walkers the
        rules found (kept in the store: the next run knows them from the start), the TUs
        it adds parsed, and the rules run again (those whose TUs are unchanged come from
        the store)."""
        from kmeminit.analyzer.prefilter import learn_walkers

        assert self.selected is not None
        learn_walkers(self.store, self.config, hidden)
        shown = ", ".join(f"{n}()" for n in sorted(hidden)[:4])
        print(f"kmeminit: prefilter: {len(hidden)} function{'s' if len(hidden) > 1 else ''} "
              f"convert{'' if len(hidden) > 1 else 's'} pfns through a helper or macro "
              f"({shown}{', ...' if len(hidden) > 4 else ''}): the demand again, with "
              "their callers", file=sys.stderr)
        done = {e.file for e in self.entries}
        self.entries = list(self.selected)
        more = index(self, args, skip=done)
        if stats is not None:
            stats.add(more)
        return self._analyse_once(args, checkers, None, progress, None)

    def reported(self, findings: list[Finding]) -> list[Finding]:
        """The findings located under the positional paths (all when none were given)."""
        if not self.report_paths:
            return list(findings)
        return [f for f in findings
                if any(_under(os.path.realpath(f.location.file), p) for p in self.report_paths)]

    def has_input_errors(self) -> bool:
        """Errors about the input itself (not about a TU's parse): a config key, a plugin."""
        return any(n.level is Level.ERROR for n in self.notifications
                   if n.file not in self.missing)

    def incomplete(self, stats: IndexStats) -> str | None:
        """Why the run cannot count as a pass (nothing analysed, or more TUs failed or
        were parsed with errors than --max-failed-tus allows), else None."""
        total = stats.selected + len(self.missing)
        bad = stats.failed + stats.degraded + len(self.missing)
        analysed = stats.parsed + stats.cached + stats.degraded
        threshold = self.max_failed or Threshold.parse(DEFAULT_MAX_FAILED)
        if analysed and bad <= threshold.allowed(total):
            return None
        if not total and self.prefiltered:
            return (f"analysis incomplete: none of the {self.prefiltered} TUs mentions a "
                    "configured symbol, so the prefilter chose none (--no-prefilter "
                    "analyses them all)")
        if not total:
            return "analysis incomplete: no TU was selected"
        # the first by path: workers finish in any order, the message must not
        problems = sorted([(f, "source file of compile command not found")
                           for f in self.missing] + [(f, why) for _, f, why in stats.problems])
        failed = stats.failed + len(self.missing)
        what = f"{failed} of {total} TUs failed"
        if stats.degraded:
            what += f" and {stats.degraded} were parsed with errors"
        shown = os.path.relpath(problems[0][0], self.source_root)
        return (f"analysis incomplete: {what} (first: {shown}: {problems[0][1]}); "
                f"allowed: {threshold} (--max-failed-tus)")

    def successful(self, stats: IndexStats) -> bool:
        """SARIF executionSuccessful: every selected TU was parsed cleanly."""
        return stats.clean and not self.missing


def open_session(args: argparse.Namespace, context: bool = False) -> Session:
    """Config, compile database and store.  The positional paths select the TUs analysed;
    with `context` (commands that report findings) they select only where findings are
    reported, and the whole database is analysed: a verdict depends on callers, origins
    and entry points anywhere, so a finding never depends on which files were named."""
    from kmeminit.analyzer.compdb import open_compdb, wanted
    from kmeminit.analyzer.store import FactStore

    if hasattr(args, "executor"):
        scheduler(args)  # option mistakes are reported before any input is read
    config = load_config(args.config)
    db = open_compdb(Path(args.compdb), config, None if context else args.paths,
                     args.source_root)
    root = db.source_root
    if not os.path.isdir(root):
        raise UsageError(f"{root}: source root is not a directory")
    named = [e for e in db.entries if not args.paths or wanted(e.file, root, args.paths, [])]
    if args.paths and not named:
        not_c = [f for f in db.not_c_files if wanted(f, root, args.paths, [])]
        only = f" (only {len(not_c)} that are not C, which are skipped)" if not_c else ""
        raise UsageError(f"{db.path}: no C compile command matches {' '.join(args.paths)}"
                         f"{only}")
    store = FactStore(args.store or Path(root) / ".kmeminit" / "facts.db")
    report = tuple(report_roots(root, args.paths)) if context else ()
    return Session(config, db.entries, root, store, db.notes + store.notifications,
                   tuple(db.missing), getattr(args, "max_failed_tus", None), report)


def report_roots(root: str, paths: list[str]) -> list[str]:
    """The positional paths as absolute, symlink-resolved paths."""
    return [os.path.realpath(p if os.path.isabs(p) else os.path.join(root, p)) for p in paths]


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def default_store(cwd: str) -> Path:
    """Where kbuild's store is: KMEMINIT_STORE, else .kmeminit/facts.db under the object
    tree (make's working directory)."""
    env = os.environ.get("KMEMINIT_STORE")
    return Path(env) if env else Path(cwd) / ".kmeminit" / "facts.db"


def index(session: Session, args: argparse.Namespace, decode: bool = True,
          skip: set[str] | None = None) -> IndexStats:
    """Bring the store up to date for the session's TUs (through the prefilter when it is
    on, which narrows `session.entries`); prints the summary line.  With `decode` (a
    command that loads the program next), the stored facts of the TUs that need no parse
    are decoded while the others parse (FactStore.prefetch).  `skip`: TUs this run
    indexed already (the prefilter's next round, Session._again)."""
    from kmeminit.analyzer.index import index_entries
    from kmeminit.analyzer.index_task import IndexStats

    timeout = args.tu_timeout or session.config.get("index", "tu_timeout", default=120)
    progress = not args.no_progress  # a bar on a terminal, heartbeat lines in a log
    address = scheduler(args)

    def ahead(entries: list[CompileEntry]) -> Callable[[set[str]], Iterator[None]] | None:
        return work_ahead(session.store, [e.file for e in entries]) if decode else None

    if not prefilter_on(args, session):
        stats = index_entries(session.entries, session.store, session.config, args.jobs,
                              timeout, progress, scheduler=address,
                              remember=not session.from_store,
                              background=ahead(session.entries))
        print(stats.summary(), file=sys.stderr)
        return stats
    from kmeminit.analyzer.prefilter import demand_config, prefilter_index
    from kmeminit.analyzer.store import HashCache

    stats = IndexStats()
    hashes = HashCache()  # the prefilter's key hashes what the store check then reads

    def index_batch(entries: list[CompileEntry]) -> None:
        entries = [e for e in entries if e.file not in (skip or ())]
        stats.add(index_entries(entries, session.store, session.config, args.jobs, timeout,
                                progress, scheduler=address,
                                remember=not session.from_store, hashes=hashes,
                                background=ahead(entries)))

    session.prefiltered = len(session.entries)
    session.selected = list(session.entries)
    session.entries, report = prefilter_index(session.entries, session.store,
                                              demand_config(session.config, session.store),
                                              index_batch,
                                              reuse=not getattr(args, "recompute", False),
                                              hashes=hashes, defer=True)
    session.scopes, session.walkers = report.scopes, report.walkers
    session.units = report.units
    print(stats.summary(), file=sys.stderr)
    return stats


# the prefilter's rounds at most after the first (Session.analyse): a round's new TUs may
# hold further walkers only the rules can see
WALKER_ROUNDS = 3


def work_ahead(store: FactStore, files: list[str]) -> Callable[[set[str]], Iterator[None]]:
    """The index's background work while some of `files` parse: the others' stored facts
    decoded for the program loaded next (taken only while the store's rows are unchanged;
    behind the prefilter by the rule workers forked later: families.run_groups), then
    networkx imported for its call graph (80 ms of `kmeminit diff` after a one-file
    change, otherwise spent after the parse)."""

    def steps(parsing: set[str]) -> Iterator[None]:
        yield from store.prefetch([f for f in files if f not in parsing])
        import networkx  # noqa: F401 - Program.graph's, imported where it is free

        yield

    return steps


def rule_progress(args: argparse.Namespace, checkers: list) -> object:
    """The rule phase's progress: a bar on a terminal, a line per rule in a log."""
    from kmeminit.analyzer.index_task import Progress

    return Progress(len(checkers), not getattr(args, "no_progress", False), "rules",
                    "running", phase=True)


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


def check_coverage(session: Session, stats: IndexStats) -> int | None:
    """EXIT_USAGE, after saying why on stderr, when the run is incomplete; else None."""
    reason = session.incomplete(stats)
    if reason is None:
        return None
    print(f"kmeminit: error: {reason}", file=sys.stderr)
    return EXIT_USAGE


def print_notifications(notes: list[Notification], root: str) -> None:
    """One line each on stderr, repeats folded (graph, index, reserved and origins print the
    indexing notifications themselves; a report's are folded already)."""
    if not notes:
        return
    from kmeminit.analyzer.paths import SourceTree
    from kmeminit.analyzer.triage import folded_notifications, sorted_notifications
    from kmeminit.sarif.text import format_notification

    tree = SourceTree(root)
    for note in sorted_notifications(folded_notifications(notes)):
        print(format_notification(note, tree), file=sys.stderr)


# -- rules -----------------------------------------------------------------------------


def selected_rules(text: str | None) -> set[str] | None:
    """`--rules KMI001,kmi003,pfn-walker-uninit-memmap` as a set of ids and names (upper
    case); None (every enabled rule) when not given."""
    if not text:
        return None
    return {r.strip().upper() for r in text.split(",") if r.strip()}


def load_selected_rules(args: argparse.Namespace, config: Config
                        ) -> tuple[list, list[Notification]]:
    """The checkers `--rules`, `--enable` and `--disable` select."""
    return load_rules(selected_rules(args.rules), config, selected_rules(args.enable),
                      selected_rules(args.disable))


def load_rules(enabled: set[str] | None, config: Config, enable: set[str] | None = None,
               disable: set[str] | None = None) -> tuple[list, list[Notification]]:
    """The checkers to run; an unknown rule id on the command line is a usage error."""
    from kmeminit.analyzer.rules import build_rules

    checkers, notes = build_rules(enabled, config, enable, disable)
    unknown = [n for n in notes if n.message.startswith("unknown rule id")]
    if unknown:
        raise UsageError(f"{unknown[0].message} (see: kmeminit rules)")
    # a mistake in the user's config (an unknown key under rules.<ID>) is a usage error
    wrong = next((n for n in notes if n.level is Level.ERROR and n.file and n.line), None)
    if wrong is not None:
        raise UsageError(f"{wrong.file}:{wrong.line}: {wrong.message}")
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
