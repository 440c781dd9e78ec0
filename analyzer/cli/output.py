"""Writing a result: the baseline and suppressions read up front, the triage stage run,
the chosen format rendered and written atomically, the notifications printed, the exit code.

`check`, `diff` and `report` end in `finish`, so their output options mean the same.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
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
from kmeminit.analyzer.model import BAD_INPUT

if TYPE_CHECKING:
    from collections.abc import Callable

    from kmeminit.analyzer.config import Config
    from kmeminit.analyzer.index_task import IndexStats
    from kmeminit.analyzer.model import Notification
    from kmeminit.analyzer.program import Program
    from kmeminit.analyzer.reports import Inventories
    from kmeminit.analyzer.results import Report, RunResult
    from kmeminit.analyzer.triage import TriageInputs
    from kmeminit.sarif.text import TextOptions


def default_category(session: Session) -> str:
    arches = Counter(e.arch for e in session.entries)
    arch = min(arches, key=lambda a: (-arches[a], a)) if arches else "unknown"
    return f"kmeminit/{arch}/"


def load_triage(args: argparse.Namespace, session: Session) -> TriageInputs:
    """The baseline and suppressions files, read before any work is done so that a
    malformed one costs one line and no indexing.  Unmatched suppressions are reported only
    when no path narrows the run (otherwise they may match outside it)."""
    from kmeminit.analyzer import vcs
    from kmeminit.analyzer.config import ConfigError
    from kmeminit.analyzer.triage import TriageInputs
    from kmeminit.analyzer.triage.baseline import BaselineError, read_baseline
    from kmeminit.analyzer.triage.suppressions import find_suppressions_file, load_suppressions

    baseline = None
    if args.baseline is not None:
        try:
            baseline = read_baseline(args.baseline)
        except BaselineError as exc:
            raise UsageError(str(exc)) from None
    path = args.suppressions
    if path is not None and not path.is_file():
        raise UsageError(f"{path}: suppressions file not found")
    try:
        if path is None:
            path = find_suppressions_file(session.source_root, vcs.toplevel(session.source_root))
        entries = tuple(load_suppressions(path)) if path is not None else None
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    label = str(args.baseline) if args.baseline is not None else "the baseline"
    return TriageInputs(baseline, entries, report_unused=not getattr(args, "paths", None),
                        baseline_label=label)


def triaged(result: RunResult, args: argparse.Namespace, session: Session,
            inputs: TriageInputs) -> Report:
    """The finished report: provenance and category added, then the triage stage."""
    from kmeminit.analyzer import vcs
    from kmeminit.analyzer.triage import triage

    if result.provenance is None:
        result = dataclasses.replace(result, provenance=vcs.provenance(session.source_root))
    result = dataclasses.replace(result, category=args.category or default_category(session))
    # GitHub's line hashes only when a SARIF output carries them (`fix` writes a patch)
    sarif = hasattr(args, "format") and any(fmt == "sarif" for fmt, _ in outputs(args))
    return triage(result, dataclasses.replace(inputs, line_hashes=sarif))


def text_options(args: argparse.Namespace, path: Path | None) -> TextOptions:
    """--min-level and --color; colour only when writing to a terminal."""
    from kmeminit.analyzer.model import Level
    from kmeminit.sarif.text import TextOptions, use_color

    stream = sys.stdout if path is None else None
    return TextOptions(min_level=Level(args.min_level), color=use_color(args.color, stream))


def inventories(args: argparse.Namespace, program: Callable[[], Program], config: Config,
                rules: list[str]) -> Inventories | None:
    """For the HTML report, the PG_reserved inventory and the altmap origins behind the
    rules that ran (KMI006/KMI007, KMI004/KMI005), for the findings to link to.  `program`
    gives the program (loaded then, when the rules' result came from the store)."""
    if "html" not in (fmt for fmt, _ in outputs(args)):
        return None
    from kmeminit.analyzer.dataflow.inventory import inventory
    from kmeminit.analyzer.kernel import kernel_facts
    from kmeminit.analyzer.reports import Inventories

    facts = kernel_facts(program(), config)
    reserved = facts.reserved.report() if {"KMI006", "KMI007"} & set(rules) else None
    origins = None
    if {"KMI004", "KMI005"} & set(rules):
        origins = inventory(facts.origins(facts.altmap.pointer), None)
    return Inventories(reserved, origins)


def render(report: Report, fmt: str, args: argparse.Namespace, path: Path | None = None,
           extra: Inventories | None = None) -> tuple[str, list[Notification]]:
    """The output text in format `fmt` (written to `path`, None: stdout), and the warnings
    about what GitHub's limits made the SARIF drop.  --no-absent leaves the baseline's
    vanished results out of SARIF (for an upload: GitHub code scanning reads no
    baselineState and would show them as open alerts)."""
    from kmeminit.analyzer.results import TriagedFinding
    from kmeminit.sarif.jsonout import to_json_report
    from kmeminit.sarif.markdown import format_markdown
    from kmeminit.sarif.serialise import dumps
    from kmeminit.sarif.text import format_text

    if fmt == "text":
        return format_text(report, text_options(args, path)), []
    if fmt == "markdown":
        return format_markdown(report), []
    if fmt == "html":
        from kmeminit.sarif.html import format_html

        return format_html(report, extra), []
    if fmt == "sarif":
        if getattr(args, "no_absent", False):
            report = dataclasses.replace(report, results=tuple(
                r for r in report.results
                if isinstance(r, TriagedFinding) and r.baseline_state != "absent"))
        from kmeminit.sarif.writer import build_sarif  # sarif-om: 40 ms, only for SARIF

        sarif = build_sarif(report)
        return sarif.text, sarif.notes
    return dumps(to_json_report(report)), []


def outputs(args: argparse.Namespace) -> list[tuple[str, Path | None]]:
    """(format, file) of every output asked for: --format and -o (None: stdout), then
    each --FORMAT-output FILE."""
    wanted = [(args.format, args.output)]
    for fmt in ("sarif", "json", "markdown", "html"):
        path = getattr(args, f"{fmt}_output", None)
        if path is not None:
            wanted.append((fmt, path))
    return wanted


def conclude(report: Report, args: argparse.Namespace, session: Session,
             stats: IndexStats | None = None, extra: Inventories | None = None) -> int:
    """Write the outputs, print the notifications; the exit code counts only reported
    findings (new and not suppressed), unless the analysis was incomplete or the input
    had errors (exit 2 whatever --fail-on says: the outputs are written all the same)."""
    limit_notes: list[Notification] = []
    for fmt, path in outputs(args):
        text, notes = render(report, fmt, args, path, extra)
        write_output(path, text)
        limit_notes += [n for n in notes if n not in limit_notes]
    print_notifications(list(report.notifications) + limit_notes, session.source_root)
    incomplete = check_coverage(session, stats) if stats is not None else None
    if incomplete is not None:
        return incomplete
    if session.has_input_errors() or any(n.kind == BAD_INPUT for n in report.notifications):
        return EXIT_USAGE
    reported = [t.finding for t in report.reported]
    return EXIT_FINDINGS if fails(reported, args.fail_on) else EXIT_OK


def finish(result: RunResult, args: argparse.Namespace, session: Session,
           inputs: TriageInputs, stats: IndexStats | None = None,
           extra: Inventories | None = None) -> int:
    """Triage `result`, then write and print it (`conclude`)."""
    return conclude(triaged(result, args, session, inputs), args, session, stats, extra)
