"""gcc-style text output, so make, editors and CI log parsers pick findings up as-is:

    mm/page_owner.c:437:9: warning: <message> [KMI003]
        mm/page_owner.c:420:5: note: <trace step>
"""

from __future__ import annotations

import re

from kmeminit.analyzer.model import Level, Location, Notification
from kmeminit.analyzer.results import Finding, RunResult
from kmeminit.sarif.paths import SourceTree, reported_findings, sorted_notifications

# `[text](id)` links to related locations are SARIF markup; on a terminal keep the text.
_LINK = re.compile(r"\[([^\]]*)\]\((\d+)\)")


def _plain(message: str) -> str:
    return _LINK.sub(r"\1", message)


def _where(tree: SourceTree, loc: Location) -> str:
    return f"{tree.display(loc.file)}:{loc.line}:{loc.col}"


def finding_lines(tree: SourceTree, finding: Finding) -> list[str]:
    lines = [f"{_where(tree, finding.location)}: {finding.level.value}: "
             f"{_plain(finding.message)} [{finding.rule}]"]
    lines += [f"    {_where(tree, r.location)}: note: {r.message}" for r in finding.related]
    lines += [f"    {_where(tree, s.location)}: note: {s.message}" for s in finding.trace]
    return lines


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def summary_line(result: RunResult, shown: list[Finding] | None = None) -> str:
    """`kmeminit: 3 findings (1 error, 2 warnings) in 12 functions`; the function count
    comes from `result.extra["functions"]` when the pipeline provides it.  With a baseline
    or suppressions, only `shown` findings (new, not suppressed) are counted, and the others
    are summed up after them: `, 4 unchanged since the baseline, 1 suppressed, 2 fixed`."""
    shown = list(result.findings) if shown is None else shown
    counts = {level: 0 for level in Level}
    for finding in shown:
        counts[finding.level] += 1
    by_level = ", ".join(_plural(counts[level], level.value)
                         for level in sorted(Level, key=lambda lv: -lv.rank) if counts[level])
    line = f"kmeminit: {_plural(len(shown), 'finding')}"
    if result.triage.baseline is not None:
        line = f"kmeminit: {_plural(len(shown), 'new finding')}"
    if by_level:
        line += f" ({by_level})"
    if "functions" in result.extra:
        line += f" in {_plural(int(result.extra['functions']), 'function')}"
    triage = result.triage
    if triage.baseline is not None:
        unchanged = sum(1 for state in triage.baseline.values() if state == "unchanged")
        line += f", {unchanged} unchanged since the baseline, {len(triage.absent)} fixed"
    if triage.suppressed:
        line += f", {len(triage.suppressed)} suppressed"
    if result.notifications:
        line += f", {_plural(len(result.notifications), 'notification')}"
    return line


def format_text(result: RunResult, summary: bool = True) -> str:
    """Findings not unchanged since the baseline and not suppressed, gcc-style."""
    tree = SourceTree.of(result)
    shown = reported_findings(result, tree)
    lines = [line for finding in shown for line in finding_lines(tree, finding)]
    if summary:
        lines.append(summary_line(result, shown))
    return "".join(line + "\n" for line in lines)


def format_notification(note: Notification, tree: SourceTree | None = None) -> str:
    """One line: `path:line: warning: message [kmeminit]` (`kmeminit:` without a file)."""
    if note.file:
        where = tree.display(note.file) if tree else note.file
        if note.line:
            where += f":{note.line}"
    else:
        where = "kmeminit"
    return f"{where}: {note.level.value}: {note.message} [kmeminit]"


def format_notifications(result: RunResult) -> str:
    """The notifications for stderr, one line each."""
    tree = SourceTree.of(result)
    return "".join(format_notification(n, tree) + "\n"
                   for n in sorted_notifications(result.notifications))
