"""Fixes as a unified diff that `git apply` (or `patch -p1`) applies in the source root,
and the patched files themselves for `kmeminit fix --apply`.

Fixes of one file are applied together; a fix whose edits overlap one already taken (two
findings rewriting the same check) is left out with a note, and taken on the next run.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from kmeminit.analyzer.model import Level, Notification
from kmeminit.analyzer.results import Report, TriagedFinding
from kmeminit.analyzer.triage.fixes import apply_spans, spans
from kmeminit.analyzer.triage.sources import Sources


@dataclass
class Patch:
    """The new text of each changed file (absolute path → (display path, old, new)), the
    findings fixed, and notes about fixes left out."""

    files: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    fixed: list[TriagedFinding] = field(default_factory=list)
    notes: list[Notification] = field(default_factory=list)


def _overlaps(taken: list[tuple[int, int]], start: int, end: int) -> bool:
    # ranges that share text, or two insertions at one place
    return any(start < e and s < end or start == end == s == e for s, e in taken)


def build_patch(report: Report, rules: Iterable[str] | None = None) -> Patch:
    """The fixes of the reported findings (new, not suppressed) of `rules` (all when None),
    applied to the source as analysed."""
    wanted = set(rules) if rules is not None else None
    sources = Sources(report.invocation.source_root)
    patch = Patch()
    by_file: dict[str, list[TriagedFinding]] = {}
    for item in report.reported:
        if item.fix is None or wanted is not None and item.finding.rule not in wanted:
            continue
        by_file.setdefault(item.fix.edits[0].file, []).append(item)
    for file, items in sorted(by_file.items()):
        text = sources.text(file)
        if text is None or "\ufffd" in text:  # unreadable, or not UTF-8: leave it alone
            continue
        taken: list[tuple[int, int]] = []
        changes: list[tuple[int, int, str]] = []
        for item in items:
            assert item.fix is not None
            mine = spans(text, item.fix.edits)
            if any(_overlaps(taken, s, e) for s, e, _ in mine):
                loc = item.finding.location
                patch.notes.append(Notification(
                    Level.NOTE, "fix left out: it overlaps another fix in this file; run "
                    "kmeminit fix again after applying this patch", loc.file, loc.line,
                    item.finding.rule))
                continue
            taken += [(s, e) for s, e, _ in mine]
            changes += mine
            patch.fixed.append(item)
        if changes:
            patch.files[file] = (items[0].path, text, apply_spans(text, changes))
    return patch


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def unified_diff(patch: Patch) -> str:
    """git's format: `diff --git a/P b/P`, `--- a/P`, `+++ b/P`, hunks with 3 lines of
    context; paths relative to the source root."""
    out: list[str] = []
    for _, (path, old, new) in sorted(patch.files.items(), key=lambda f: f[1][0]):
        out.append(f"diff --git a/{path} b/{path}\n")
        out += difflib.unified_diff(_lines(old), _lines(new), f"a/{path}", f"b/{path}", n=3)
    return "".join(out)


__all__ = ["Patch", "build_patch", "unified_diff"]
