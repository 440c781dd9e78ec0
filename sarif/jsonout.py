"""A plain JSON report for scripts that do not want SARIF.  The schema is stable:

    {"version": "0.1.0",
     "summary": {"findings", "reported", "new", "unchanged", "updated", "absent",
                 "suppressed", "baseline"},
     "findings": [{"rule", "level", "message", "file", "line", "column", "function",
                   "related": [{"id", "file", "line", "column", "message"}],
                   "trace": [{"file", "line", "column", "message", "depth", "function"}],
                   "fingerprint",
                   "baseline_state" (with a baseline: new, unchanged or updated),
                   "suppressed" (the first justification),
                   "suppressions": [{"kind", "justification", "file", "line"}] (if any),
                   "fix" (a mechanical fix)}],
     "absent": [findings of the baseline that no longer occur, baseline_state "absent"],
     "notifications": [{"level", "message", "file", "line", "rule"}]}

Paths are relative to the source root (absolute when outside it); `fingerprint` is the
`kmeminit/v1` partial fingerprint of the SARIF output.  `summary` holds the counts the text
output and the SARIF results show (`baseline` names the baseline file or revision, or is
null).  An absent result taken from a baseline SARIF file has no related locations, trace
or function.  Messages are plain text: where the SARIF message links a phrase to a related
location, the location is in `related`.  `fix` (when the rule's fix applies) is
{"description", "edits": [{"file", "line", "column", "end_line", "end_column", "text"}]},
columns 1-based, the end excluded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kmeminit import analyzer
from kmeminit.analyzer.model import Location, Notification
from kmeminit.analyzer.paths import SourceTree
from kmeminit.analyzer.results import AbsentResult, Report, TriagedFinding
from kmeminit.analyzer.triage.baseline import where
from kmeminit.analyzer.triage.fingerprints import FINGERPRINT_KEY


def _position(tree: SourceTree, loc: Location) -> dict[str, Any]:
    return {"file": tree.display(loc.file), "line": loc.line, "column": loc.col}


def _finding(tree: SourceTree, item: TriagedFinding) -> dict[str, Any]:
    finding, loc = item.finding, item.finding.location
    extra: dict[str, Any] = {}
    if item.baseline_state is not None:
        extra["baseline_state"] = item.baseline_state
    if item.suppressions:
        extra["suppressed"] = item.suppressed
        extra["suppressions"] = [{"kind": s.kind, "justification": s.justification,
                                  "file": tree.display(s.file), "line": s.line}
                                 for s in item.suppressions]
    if item.fix is not None:
        extra["fix"] = {"description": item.fix.description,
                        "edits": [{"file": tree.display(e.file), "line": e.line,
                                   "column": e.col, "end_line": e.end_line,
                                   "end_column": e.end_col, "text": e.text}
                                  for e in item.fix.edits]}
    return {
        "rule": finding.rule,
        "level": finding.level.value,
        "message": finding.text,
        "file": item.path, "line": loc.line, "column": loc.col,
        "function": finding.function,
        "related": [{"id": r.id, **_position(tree, r.location), "message": r.message}
                    for r in finding.related],
        "trace": [{**_position(tree, s.location), "message": s.message, "depth": s.depth,
                   "function": s.function} for s in finding.trace],
        "fingerprint": item.fingerprint,
        **extra,
    }


def _notification(tree: SourceTree, note: Notification) -> dict[str, Any]:
    return {"level": note.level.value, "message": note.message,
            "file": tree.display(note.file) if note.file else None, "line": note.line,
            "rule": note.rule}


def _absent(tree: SourceTree, result: TriagedFinding | AbsentResult) -> dict[str, Any]:
    if isinstance(result, TriagedFinding):
        return _finding(tree, result)
    sarif: Mapping[str, Any] = result.sarif
    uri, line, column, rule, message = where(sarif)
    prints = sarif.get("partialFingerprints")
    return {"rule": rule, "level": sarif.get("level", "warning"), "message": message,
            "file": uri, "line": line, "column": column, "function": None, "related": [],
            "trace": [], "fingerprint": prints.get(FINGERPRINT_KEY)
            if isinstance(prints, dict) else None, "baseline_state": "absent"}


def to_json_report(report: Report) -> dict[str, Any]:
    tree = SourceTree(report.invocation.source_root)
    summary = dataclasses.asdict(report.counts())
    summary["baseline"] = report.baseline or None
    return {
        "version": analyzer.version(),
        "summary": summary,
        "findings": [_finding(tree, item) for item in report.findings],
        "absent": [_absent(tree, result) for result in report.absent],
        "notifications": [_notification(tree, n) for n in report.notifications],
    }
