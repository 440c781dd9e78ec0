"""A Markdown summary of a report, for a CI job summary (GitHub's `$GITHUB_STEP_SUMMARY`):
a table of the reported findings by rule, then the findings themselves, each linked to
its line in the repository when the tree's provenance names a web-hosted repository.

    ### kmeminit: 1 new finding against 1a2b3c4d5e6f
    | Rule | Level | New | Unchanged | Updated | Absent | Suppressed |
    ...
    | Level | Rule | Where | Message |
    | warning | KMI003 | [mm/page_owner.c:47](https://github.com/o/r/blob/SHA/mm/...#L47) | ... |
"""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import quote, urlsplit, urlunsplit

from kmeminit.analyzer.model import Level
from kmeminit.analyzer.results import AbsentResult, Provenance, Report, TriagedFinding

MAX_LISTED = 50  # findings listed one by one; the table counts them all
_LINK = re.compile(r"\[([^\]]*)\]\((\d+)\)")


def _cell(text: str) -> str:
    """Text safe in a table cell: no SARIF location links, pipes escaped, one line."""
    text = _LINK.sub(r"\1", text)
    return " ".join(text.replace("|", "\\|").split())


def blob_base(provenance: Provenance | None) -> str | None:
    """`https://host/owner/repo/blob/<commit>/<source root>/` for an https (or git@ ssh)
    repository URI, else None: other hosts' URL layouts are not guessed."""
    if provenance is None:
        return None
    parts = urlsplit(provenance.repository_uri)
    if parts.scheme not in ("https", "ssh") or not parts.hostname:
        return None
    path = parts.path.removesuffix("/").removesuffix(".git")
    if path.count("/") < 2:
        return None
    web = urlunsplit(("https", parts.hostname, path, "", ""))
    prefix = f"{provenance.root_path}/" if provenance.root_path else ""
    return f"{web}/blob/{provenance.revision_id}/{quote(prefix)}"


def _where(item: TriagedFinding, base: str | None) -> str:
    loc = item.finding.location
    shown = f"{item.path}:{loc.line}"
    if base is None or not item.inside:
        return f"`{shown}`"
    return f"[{shown}]({base}{quote(item.path)}#L{loc.line})"


def _title(report: Report) -> str:
    shown = len(report.reported)
    noun = "new finding" if report.has_baseline else "finding"
    title = f"kmeminit: {shown} {noun}{'' if shown == 1 else 's'}"
    if report.has_baseline:
        title += f" against {report.baseline}"
    return title


def _rule_table(report: Report) -> list[str]:
    names = {r.id: r.name for r in report.rules}
    levels = {r.id: r.level.value for r in report.rules}
    states: Counter[tuple[str, str]] = Counter()
    for item in report.findings:
        rule = item.finding.rule
        levels.setdefault(rule, item.finding.level.value)
        states[rule, item.baseline_state or "found"] += 1
        if item.suppressions:
            states[rule, "suppressed"] += 1
    for result in report.absent:
        rule = (str(result.sarif.get("ruleId", "")) if isinstance(result, AbsentResult)
                else result.finding.rule)
        states[rule, "absent"] += 1
    columns = (("new", "unchanged", "updated", "absent") if report.has_baseline
               else ("found",))
    header = ["Rule", "Level", *(c.capitalize() for c in columns), "Suppressed"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rule in sorted({r for r, _ in states}):
        name = f"{rule} {names[rule]}" if rule in names else rule
        counts = [str(states[rule, c]) for c in (*columns, "suppressed")]
        rows.append(f"| {_cell(name)} | {levels.get(rule, '')} | {' | '.join(counts)} |")
    return rows


def _listed(report: Report, base: str | None) -> list[str]:
    shown = sorted(report.reported, key=lambda t: -t.finding.level.rank)
    heading = "New findings" if report.has_baseline else "Findings"
    rows = [f"#### {heading}", "", "| Level | Rule | Where | Message |", "|---|---|---|---|"]
    for item in shown[:MAX_LISTED]:
        finding = item.finding
        rows.append(f"| {finding.level.value} | {finding.rule} | {_where(item, base)} | "
                    f"{_cell(finding.message)} |")
    if len(shown) > MAX_LISTED:
        rows += ["", f"... and {len(shown) - MAX_LISTED} more: see the log or the SARIF "
                     "file."]
    return rows


def format_markdown(report: Report) -> str:
    """The summary: title, the table by rule (when anything was found), the reported
    findings (at most MAX_LISTED, errors first) and the notification count."""
    lines = [f"### {_title(report)}", ""]
    if report.findings or report.absent:
        lines += _rule_table(report) + [""]
    if report.reported:
        lines += _listed(report, blob_base(report.provenance)) + [""]
    errors = sum(1 for n in report.notifications if n.level is Level.ERROR)
    if report.notifications:
        lines.append(f"{len(report.notifications)} notifications ({errors} errors): see "
                     "the log.")
    return "\n".join(lines).rstrip("\n") + "\n"


__all__ = ["MAX_LISTED", "blob_base", "format_markdown"]
