"""gcc-style text output, so make, editors and CI log parsers pick findings up as-is:

    mm/page_owner.c:437:9: warning: <message> [KMI003]
        mm/page_owner.c:420:5: note: <trace step>
"""

from __future__ import annotations

import re

from kmeminit.analyzer.model import Level, Location, Notification
from kmeminit.analyzer.paths import SourceTree
from kmeminit.analyzer.results import Report, TriagedFinding

# `[text](id)` links to related locations are SARIF markup; on a terminal keep the text.
_LINK = re.compile(r"\[([^\]]*)\]\((\d+)\)")


def _plain(message: str) -> str:
    return _LINK.sub(r"\1", message)


def _where(tree: SourceTree, loc: Location) -> str:
    return f"{tree.display(loc.file)}:{loc.line}:{loc.col}"


def finding_lines(item: TriagedFinding, tree: SourceTree) -> list[str]:
    """The finding's line, then a note line per related location and trace step."""
    finding, loc = item.finding, item.finding.location
    lines = [f"{item.path}:{loc.line}:{loc.col}: {finding.level.value}: "
             f"{_plain(finding.message)} [{finding.rule}]"]
    lines += [f"    {_where(tree, r.location)}: note: {r.message}" for r in finding.related]
    lines += [f"    {_where(tree, s.location)}: note: {s.message}" for s in finding.trace]
    return lines


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _triage_counts(report: Report) -> str:
    """`, 4 unchanged since the baseline, 2 fixed, 1 suppressed`: a baseline and a
    suppressions file count fingerprints (their unit), not findings."""
    line = ""
    if report.has_baseline:
        unchanged = {t.fingerprint for t in report.findings if t.baseline_state == "unchanged"}
        line += f", {len(unchanged)} unchanged since the baseline, {len(report.absent)} fixed"
    suppressed = {t.fingerprint for t in report.findings if t.suppressed is not None}
    if suppressed:
        line += f", {len(suppressed)} suppressed"
    return line


def summary_line(report: Report) -> str:
    """`kmeminit: 3 findings (1 error, 2 warnings) in 12 functions`; the function count
    comes from `report.extra["functions"]` when the pipeline provides it.  Only reported
    findings (new, not suppressed) are counted; with a baseline or suppressions the others
    are summed up after them."""
    shown = report.reported
    counts = {level: 0 for level in Level}
    for item in shown:
        counts[item.finding.level] += 1
    by_level = ", ".join(_plural(counts[level], level.value)
                         for level in sorted(Level, key=lambda lv: -lv.rank) if counts[level])
    noun = "new finding" if report.has_baseline else "finding"
    line = f"kmeminit: {_plural(len(shown), noun)}"
    if by_level:
        line += f" ({by_level})"
    if "functions" in report.extra:
        line += f" in {_plural(int(report.extra['functions']), 'function')}"
    line += _triage_counts(report)
    if report.notifications:
        line += f", {_plural(len(report.notifications), 'notification')}"
    return line


def format_text(report: Report, summary: bool = True) -> str:
    """Findings not unchanged since the baseline and not suppressed, gcc-style."""
    tree = SourceTree(report.invocation.source_root)
    lines = [line for item in report.reported for line in finding_lines(item, tree)]
    if summary:
        lines.append(summary_line(report))
    return "".join(line + "\n" for line in lines)


def repeats(note: Notification, tree: SourceTree | None = None) -> str:
    """What follows a notification's message: how often it was said and by which TU
    (` (1150 times in 118 TUs, first: mm/filemap.c)`), or "" when that adds nothing."""
    tu = (tree.display(note.tu) if tree else note.tu) if note.tu else None
    if tu and note.tus > 1:
        times = f"{note.count} times " if note.count > note.tus else ""
        return f" ({times}in {note.tus} TUs, first: {tu})"
    parts = [f"{note.count} times"] if note.count > 1 else []
    if tu and note.tu != note.file:
        parts.append(f"TU {tu}")
    return f" ({', '.join(parts)})" if parts else ""


def format_notification(note: Notification, tree: SourceTree | None = None) -> str:
    """One line: `path:line: warning: message (N times in M TUs, first: TU) [kmeminit]`
    (`kmeminit:` without a file)."""
    if note.file:
        where = tree.display(note.file) if tree else note.file
        if note.line:
            where += f":{note.line}"
    else:
        where = "kmeminit"
    return f"{where}: {note.level.value}: {note.message}{repeats(note, tree)} [kmeminit]"


def format_notifications(report: Report) -> str:
    """The notifications for stderr, one line each."""
    tree = SourceTree(report.invocation.source_root)
    return "".join(format_notification(n, tree) + "\n" for n in report.notifications)
