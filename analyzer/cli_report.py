"""Command line, reporting half: the options every result-writing command shares (baseline,
suppressions, SARIF category), writing the result, the exit code, and `kmeminit diff`.

`add_report_options` + `finish` are what `check`, `diff` and any later result-writing
command call, so the options mean the same everywhere.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import shlex
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kmeminit.analyzer import vcs
from kmeminit.analyzer.cli import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    Session,
    UsageError,
    _has_input_errors,
    _index,
    _load_checkers,
    _metas,
    _now,
    _open_session,
    _print_notifications,
    _select_rules,
)
from kmeminit.analyzer.fsutil import write_output
from kmeminit.analyzer.model import Level, Notification
from kmeminit.analyzer.results import Invocation, RunResult


def add_report_options(p: argparse.ArgumentParser) -> None:
    """--baseline, --suppressions, --category: for every command that writes results."""
    p.add_argument("--baseline", metavar="OLD.sarif", type=Path,
                   help="a SARIF file from an earlier run: its findings are marked unchanged "
                        "and left out of the text output and the exit code; vanished ones are "
                        "reported as absent in SARIF")
    p.add_argument("--suppressions", metavar="FILE", type=Path,
                   help="suppressions file (default: .kmeminit-suppressions.yaml in the "
                        "source root, if there is one)")
    p.add_argument("--category", metavar="ID",
                   help="SARIF automationDetails.id, i.e. GitHub code scanning's upload "
                        "category (default: kmeminit/<arch>/)")


def add_diff_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", required=True, metavar="REV",
                   help="report only findings that are not in this git revision")
    p.add_argument("--head", metavar="REV",
                   help="the revision to check (default: the working tree as it is)")


def default_category(session: Session) -> str:
    arches = Counter(e.arch for e in session.entries)
    arch = min(arches, key=lambda a: (-arches[a], a)) if arches else "unknown"
    return f"kmeminit/{arch}/"


def invocation(start: str, session: Session, successful: bool) -> Invocation:
    return Invocation(
        command_line=shlex.join(["kmeminit", *sys.argv[1:]]), arguments=tuple(sys.argv[1:]),
        working_directory=os.getcwd(), start_time=start, end_time=_now(),
        successful=successful, source_root=session.source_root)


@dataclasses.dataclass(frozen=True)
class TriageInputs:
    """The baseline and suppressions files, read before any work is done so that a
    malformed one costs one line and no indexing."""

    baseline: Mapping[str, Any] | None = None
    suppressions: tuple[Any, ...] | None = None


def load_triage(args: argparse.Namespace, session: Session) -> TriageInputs:
    from kmeminit.sarif.baseline import BaselineError, read_baseline
    from kmeminit.sarif.suppressions import SUPPRESSIONS_FILE, load_suppressions

    baseline = None
    if args.baseline is not None:
        try:
            baseline = read_baseline(args.baseline)
        except BaselineError as exc:
            raise UsageError(str(exc)) from None
    path = args.suppressions
    if path is not None and not path.is_file():
        raise UsageError(f"{path}: suppressions file not found")
    default = Path(session.source_root) / SUPPRESSIONS_FILE
    if path is None and default.is_file():
        path = default
    entries = tuple(load_suppressions(path)) if path is not None else None
    return TriageInputs(baseline, entries)


def _triage(result: RunResult, inputs: TriageInputs, report_unused: bool) -> RunResult:
    from kmeminit.sarif.baseline import apply_baseline
    from kmeminit.sarif.suppressions import apply_suppressions

    if inputs.baseline is not None:
        result = apply_baseline(result, inputs.baseline)
    if inputs.suppressions is not None:
        result = apply_suppressions(result, list(inputs.suppressions), dt.date.today(),
                                    report_unused=report_unused)
    return result


def render(result: RunResult, fmt: str) -> tuple[str, list[Notification]]:
    """The output text, and the warnings about what GitHub's limits made the SARIF drop."""
    from kmeminit.sarif.jsonout import to_json_report
    from kmeminit.sarif.text import format_text
    from kmeminit.sarif.writer import build_sarif, dumps

    if fmt == "text":
        return format_text(result), []
    if fmt == "sarif":
        log, notes = build_sarif(result)
        return dumps(log), notes
    return dumps(to_json_report(result)), []


def finish(result: RunResult, args: argparse.Namespace, session: Session,
           inputs: TriageInputs, report_unused: bool = True) -> int:
    """Apply baseline and suppressions, write the output, print the notifications; the exit
    code counts only reported findings (new and not suppressed)."""
    from kmeminit.sarif.paths import reported_findings

    if result.provenance is None:
        result = dataclasses.replace(result, provenance=vcs.provenance(session.source_root))
    result = dataclasses.replace(result, category=args.category or default_category(session))
    result = _triage(result, inputs, report_unused)
    text, limit_notes = render(result, args.format)
    write_output(args.output, text)
    _print_notifications(list(result.notifications) + limit_notes, session.source_root)
    if _has_input_errors(session):
        return EXIT_USAGE
    if args.fail_on != "none":
        threshold = Level(args.fail_on).rank
        if any(f.level.rank >= threshold for f in reported_findings(result)):
            return EXIT_FINDINGS
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    """Findings in head (the working tree, or --head) whose fingerprint base has not."""
    from kmeminit.analyzer.diff import Facts, program_at
    from kmeminit.checkers import run_checkers
    from kmeminit.sarif.paths import SourceTree

    start = _now()
    session = _open_session(args)
    inputs = load_triage(args, session)
    root = session.source_root
    top = vcs.toplevel(root)
    if top is None:
        raise UsageError(f"{root}: not a git checkout (kmeminit diff compares git revisions)")
    try:
        base = vcs.resolve(top, args.base)
        head = vcs.resolve(top, args.head) if args.head else None
    except vcs.GitError as exc:
        raise UsageError(str(exc)) from None
    checkers, load_notes = _load_checkers(_select_rules(args), session.config)
    stats = _index(session, args)
    clock = time.perf_counter()
    timeout = args.tu_timeout or session.config.get("index", "tu_timeout", default=120)
    facts = Facts.load(session.store, [e.file for e in session.entries])
    build = (session.entries, session.store, facts, session.config, args.jobs, timeout)
    head_sources: dict[str, bytes] = {}
    if head is None:
        program = facts.program()
    else:
        at_head = program_at(top, head, *build)
        program, head_sources = at_head.program, at_head.sources
    at_base = program_at(top, base, *build)
    findings, run_notes = run_checkers(checkers, program, session.config, debug=args.debug)
    base_findings, _ = run_checkers(checkers, at_base.program, session.config,
                                    debug=args.debug)
    base_tree = SourceTree(root, at_base.sources)
    known = {base_tree.fingerprint(f) for f in base_findings}
    head_tree = SourceTree(root, head_sources)
    new = tuple(f for f in findings if head_tree.fingerprint(f) not in known)
    print(f"kmeminit: diff {args.base} ({base[:12]}) -> {args.head or 'working tree'}: "
          f"{len(at_base.changed)} files differ, {len(at_base.reparsed)} TUs parsed again "
          f"for the base; {len(new)} of {len(findings)} findings are new "
          f"({time.perf_counter() - clock:.1f} s)", file=sys.stderr)
    base_failures = [Notification(n.level, f"at {args.base}: {n.message}", n.file, n.line,
                                  n.rule)
                     for n in at_base.stats.notifications if n.level is Level.ERROR]
    notes = (session.notifications + load_notes + stats.notifications + run_notes
             + base_failures)
    provenance = vcs.provenance(root)
    if provenance is not None and head is not None:
        provenance = dataclasses.replace(provenance, revision_id=head, branch=None)
    result = RunResult(tuple(_metas(checkers)), new, tuple(notes),
                       invocation(start, session, stats.failed == 0),
                       {"functions": str(len(program.functions))}, provenance=provenance,
                       sources=head_sources)
    return finish(result, args, session, inputs, report_unused=False)


__all__ = ["add_diff_options", "add_report_options", "cmd_diff", "finish", "render"]
