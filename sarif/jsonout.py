"""A plain JSON report for scripts that do not want SARIF.  The schema is stable:

    {"version": "0.1.0",
     "findings": [{"rule", "level", "message", "file", "line", "column", "function",
                   "related": [{"id", "file", "line", "column", "message"}],
                   "trace": [{"file", "line", "column", "message", "depth", "function"}],
                   "fingerprint",
                   "baseline_state" (with --baseline), "suppressed" (its justification),
                   "fix" (a mechanical fix)}],
     "notifications": [{"level", "message", "file", "line", "rule"}]}

Paths are relative to the source root (absolute when outside it); `fingerprint` is the
`kmeminit/v1` partial fingerprint of the SARIF output.  Messages are plain text: where the
SARIF message links a phrase to a related location, the location is in `related`.
`fix` (when the rule's fix applies) is {"description", "edits": [{"file", "line",
"column", "end_line", "end_column", "text"}]}, columns 1-based, the end excluded.
"""

from __future__ import annotations

from typing import Any

from kmeminit import analyzer
from kmeminit.analyzer.model import Location, Notification
from kmeminit.analyzer.paths import SourceTree
from kmeminit.analyzer.results import Report, TriagedFinding


def _position(tree: SourceTree, loc: Location) -> dict[str, Any]:
    return {"file": tree.display(loc.file), "line": loc.line, "column": loc.col}


def _finding(tree: SourceTree, item: TriagedFinding) -> dict[str, Any]:
    finding, loc = item.finding, item.finding.location
    extra: dict[str, Any] = {}
    if item.baseline_state is not None:
        extra["baseline_state"] = item.baseline_state
    if item.suppressed is not None:
        extra["suppressed"] = item.suppressed
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


def to_json_report(report: Report) -> dict[str, Any]:
    tree = SourceTree(report.invocation.source_root)
    return {
        "version": analyzer.version(),
        "findings": [_finding(tree, item) for item in report.findings],
        "notifications": [_notification(tree, n) for n in report.notifications],
    }
