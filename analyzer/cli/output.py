"""Writing a result: the baseline and suppressions read up front, the triage stage run,
the chosen format rendered and written atomically, the notifications printed, the exit code.

`check`, `diff` and `report` end in `finish`, so their output options mean the same.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from kmeminit.analyzer.cli.session import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    Session,
    UsageError,
    check_coverage,
    fails,
    print_notifications,
)
from kmeminit.analyzer.fsutil import write_output

if TYPE_CHECKING:
    from kmeminit.analyzer.index_task import IndexStats
    from kmeminit.analyzer.model import Notification
    from kmeminit.analyzer.results import Report, RunResult
    from kmeminit.analyzer.triage import TriageInputs


def default_category(session: Session) -> str:
    arches = Counter(e.arch for e in session.entries)
    arch = min(arches, key=lambda a: (-arches[a], a)) if arches else "unknown"
    return f"kmeminit/{arch}/"


def load_triage(args: argparse.Namespace, session: Session) -> TriageInputs:
    """The baseline and suppressions files, read before any work is done so that a
    malformed one costs one line and no indexing."""
    from kmeminit.analyzer.triage import TriageInputs
    from kmeminit.analyzer.triage.baseline import BaselineError, read_baseline
    from kmeminit.analyzer.triage.suppressions import SUPPRESSIONS_FILE, load_suppressions

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


def triaged(result: RunResult, args: argparse.Namespace, session: Session,
            inputs: TriageInputs) -> Report:
    """The finished report: provenance and category added, then the triage stage."""
    from kmeminit.analyzer import vcs
    from kmeminit.analyzer.triage import triage

    if result.provenance is None:
        result = dataclasses.replace(result, provenance=vcs.provenance(session.source_root))
    result = dataclasses.replace(result, category=args.category or default_category(session))
    return triage(result, inputs)


def render(report: Report, fmt: str) -> tuple[str, list[Notification]]:
    """The output text, and the warnings about what GitHub's limits made the SARIF drop."""
    from kmeminit.sarif.jsonout import to_json_report
    from kmeminit.sarif.serialise import dumps
    from kmeminit.sarif.text import format_text
    from kmeminit.sarif.writer import build_sarif

    if fmt == "text":
        return format_text(report), []
    if fmt == "sarif":
        sarif = build_sarif(report)
        return sarif.text, sarif.notes
    return dumps(to_json_report(report)), []


def conclude(report: Report, args: argparse.Namespace, session: Session,
             stats: IndexStats | None = None) -> int:
    """Write the output, print the notifications; the exit code counts only reported
    findings (new and not suppressed), unless the analysis was incomplete (exit 2 whatever
    --fail-on says: the output is written all the same)."""
    text, limit_notes = render(report, args.format)
    write_output(args.output, text)
    print_notifications(list(report.notifications) + limit_notes, session.source_root)
    incomplete = check_coverage(session, stats) if stats is not None else None
    if incomplete is not None:
        return incomplete
    if session.has_input_errors():
        return EXIT_USAGE
    reported = [t.finding for t in report.reported]
    return EXIT_FINDINGS if fails(reported, args.fail_on) else EXIT_OK


def finish(result: RunResult, args: argparse.Namespace, session: Session,
           inputs: TriageInputs, stats: IndexStats | None = None) -> int:
    """Triage `result`, then write and print it (`conclude`)."""
    return conclude(triaged(result, args, session, inputs), args, session, stats)
