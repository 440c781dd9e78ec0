"""gcc-style text output, so make, editors and CI log parsers pick findings up as-is:

    mm/page_owner.c:437:9: warning: <message> [KMI003]
        mm/page_owner.c:420:5: note: <trace step>
"""

from __future__ import annotations

import re

from analyzer.model import Level, Location, Notification
from analyzer.results import Finding, RunResult
from sarif.paths import SourceTree, sorted_findings, sorted_notifications

# `[text](id)` links to related locations are SARIF markup; on a terminal keep the text.
_LINK = re.compile(r"\[([^\]]*)\]\((\d+)\)")


def _plain(message: str) -> str:
    return _LINK.sub(r"\1", message)


def _where(tree: SourceTree, loc: Location) -> str:
    return f"{tree.display(loc.file)}:{loc.line}:{loc.col}"


def _finding_lines(tree: SourceTree, finding: Finding) -> list[str]:
    lines = [f"{_where(tree, finding.location)}: {finding.level.value}: "
             f"{_plain(finding.message)} [{finding.rule}]"]
    lines += [f"    {_where(tree, r.location)}: note: {r.message}" for r in finding.related]
    lines += [f"    {_where(tree, s.location)}: note: {s.message}" for s in finding.trace]
    return lines


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def summary_line(result: RunResult) -> str:
    """`kmeminit: 3 findings (1 error, 2 warnings) in 12 functions`; the function count
    comes from `result.extra["functions"]` when the pipeline provides it."""
    counts = {level: 0 for level in Level}
    for finding in result.findings:
        counts[finding.level] += 1
    by_level = ", ".join(_plural(counts[level], level.value)
                         for level in sorted(Level, key=lambda lv: -lv.rank) if counts[level])
    line = f"kmeminit: {_plural(len(result.findings), 'finding')}"
    if by_level:
        line += f" ({by_level})"
    if "functions" in result.extra:
        line += f" in {_plural(int(result.extra['functions']), 'function')}"
    if result.notifications:
        line += f", {_plural(len(result.notifications), 'notification')}"
    return line


def format_text(result: RunResult, summary: bool = True) -> str:
    tree = SourceTree(result.invocation.source_root)
    lines = [line for finding in sorted_findings(result.findings, tree)
             for line in _finding_lines(tree, finding)]
    if summary:
        lines.append(summary_line(result))
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
    tree = SourceTree(result.invocation.source_root)
    return "".join(format_notification(n, tree) + "\n"
                   for n in sorted_notifications(result.notifications))
