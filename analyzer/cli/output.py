"""Writing a result: the baseline and suppressions read up front, the triage applied, the
chosen format rendered and written atomically, the notifications printed, the exit code.

`check`, `diff` and `report` end in `finish`, so their output options mean the same.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kmeminit.analyzer import vcs
from kmeminit.analyzer.cli.session import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    Session,
    UsageError,
    fails,
    print_notifications,
)
from kmeminit.analyzer.fsutil import write_output

if TYPE_CHECKING:
    from kmeminit.analyzer.model import Notification
    from kmeminit.analyzer.results import RunResult


def default_category(session: Session) -> str:
    arches = Counter(e.arch for e in session.entries)
    arch = min(arches, key=lambda a: (-arches[a], a)) if arches else "unknown"
    return f"kmeminit/{arch}/"


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
    print_notifications(list(result.notifications) + limit_notes, session.source_root)
    if session.has_input_errors():
        return EXIT_USAGE
    return EXIT_FINDINGS if fails(reported_findings(result), args.fail_on) else EXIT_OK
