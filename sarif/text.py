"""gcc-style text output, so make, editors and CI log parsers pick findings up as-is:

    mm/page_owner.c:437:9: warning: <message> [KMI003]
      437 |         if (page_zone(page) != zone)
          |             ^~~~~~~~~~~~~~~
        mm/page_owner.c:420:5: note: <trace step>

The first line of a finding and its indented notes keep exactly these two shapes (GitHub
problem matchers and editors parse them); the source line and the caret under the column
follow the finding's line, as gcc and clang print them.  After the findings: a table by
rule and the summary line.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from kmeminit.analyzer.model import Level, Location, Notification
from kmeminit.analyzer.paths import SourceTree
from kmeminit.analyzer.results import Report, TriagedFinding
from kmeminit.analyzer.triage.sources import Sources

# gcc's colours (GCC_COLORS' defaults): locus bold, error bold red, warning bold magenta,
# note bold cyan, the caret bold green.
_SGR = {"locus": "1", "error": "1;31", "warning": "1;35", "note": "1;36", "caret": "1;32",
        "quote": "1"}
TABSTOP = 8


@dataclass(frozen=True)
class TextOptions:
    """What the text output shows.  `min_level`: findings below it are counted in the
    summary but not printed (the CLI's --min-level; SARIF and JSON carry everything)."""

    min_level: Level = Level.WARNING
    color: bool = False
    source: bool = True  # the source line and a caret under the column
    summary: bool = True  # the table by rule and the summary line


def use_color(choice: str, stream: object) -> bool:
    """--color=always|never|auto: auto means a terminal, NO_COLOR unset (no-color.org) and
    a TERM that is not dumb."""
    if choice in ("always", "never"):
        return choice == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Paint:
    def __init__(self, on: bool) -> None:
        self.on = on

    def __call__(self, what: str, text: str) -> str:
        return f"\x1b[{_SGR[what]}m{text}\x1b[0m" if self.on and text else text


def _where(tree: SourceTree, loc: Location) -> str:
    return f"{tree.display(loc.file)}:{loc.line}:{loc.col}"


def notes(item: TriagedFinding) -> list[tuple[Location, str]]:
    """The finding's notes, each place once: the related locations that no trace step
    repeats, then the trace.  A related location and a trace step at the same place say
    the same thing twice; the step, which is part of the flow, is kept."""
    finding = item.finding
    traced = {(s.location.file, s.location.line, s.location.col) for s in finding.trace}
    out: list[tuple[Location, str]] = []
    seen: set[tuple[str, int, int, str]] = set()
    related = [(r.location, r.message) for r in finding.related
               if (r.location.file, r.location.line, r.location.col) not in traced]
    for loc, message in related + [(s.location, s.message) for s in finding.trace]:
        key = (loc.file, loc.line, loc.col, message)
        if key not in seen:
            seen.add(key)
            out.append((loc, message))
    return out


def _display_width(text: str) -> int:
    """Columns `text` takes on a terminal with tabs every TABSTOP columns."""
    width = 0
    for char in text:
        width = (width // TABSTOP + 1) * TABSTOP if char == "\t" else width + 1
    return width


def _byte_prefix(line: str, col: int) -> str:
    """The characters before 1-based byte column `col` (the compiler counts bytes)."""
    data = line.encode("utf-8", errors="surrogateescape")[:max(col - 1, 0)]
    return data.decode("utf-8", errors="replace")


def source_lines(line: str, loc: Location, paint: Paint) -> list[str]:
    """gcc's two lines: ` 437 | <source>` and `     |     ^~~~` (tabs expanded)."""
    if not line.strip():
        return []
    shown = line.expandtabs(TABSTOP).rstrip()
    start = _display_width(_byte_prefix(line, loc.col))
    length = 1
    if loc.end_line == loc.line and loc.end_col > loc.col:
        length = max(1, _display_width(_byte_prefix(line, loc.end_col)) - start)
    gutter = f"{loc.line:>5}"
    caret = "^" + "~" * (length - 1)
    return [f"{gutter} | {shown}",
            f"{'':>5} | {' ' * start}{paint('caret', caret)}"]


def finding_lines(item: TriagedFinding, tree: SourceTree, sources: Sources | None = None,
                  paint: Paint | None = None) -> list[str]:
    """The finding's line, its source line with a caret (when `sources` is given), then a
    note line per related location and trace step (each place once)."""
    paint = paint or Paint(False)
    finding, loc = item.finding, item.finding.location
    level = finding.level.value
    lines = [f"{paint('locus', f'{item.path}:{loc.line}:{loc.col}:')} "
             f"{paint(level, level + ':')} {finding.text} [{paint(level, finding.rule)}]"]
    if sources is not None:
        lines += source_lines(sources.line(loc.file, loc.line), loc, paint)
    lines += [f"    {paint('locus', _where(tree, where) + ':')} {paint('note', 'note:')} "
              f"{message}" for where, message in notes(item)]
    return lines


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def _triage_counts(report: Report) -> str:
    """`; against origin/master: 1 new, 27 unchanged, 0 updated, 2 absent, 1 suppressed`:
    the baseline states and suppressions of the report's findings (and its absent results),
    counted as in the JSON summary and the SARIF results."""
    counts = report.counts()
    line = ""
    if report.has_baseline:
        line += (f"; against {report.baseline}: {counts.new} new, {counts.unchanged} "
                 f"unchanged, {counts.updated} updated, {counts.absent} absent")
    if counts.suppressed:
        line += f", {counts.suppressed} suppressed"
    return line


def _levels() -> list[Level]:
    return sorted(Level, key=lambda lv: -lv.rank)


def summary_line(report: Report, min_level: Level = Level.NOTE) -> str:
    """`kmeminit: 3 findings (1 error, 2 warnings) in 12 functions`; the function count
    comes from `report.extra["functions"]` when the pipeline provides it.  Only reported
    findings (new, not suppressed) are counted first; with a baseline or suppressions all of
    them are counted after, by state; findings below `min_level` are counted and said to be
    hidden."""
    shown = report.reported
    counts = Counter(item.finding.level for item in shown)
    by_level = ", ".join(_plural(counts[level], level.value)
                         for level in _levels() if counts[level])
    noun = "new finding" if report.has_baseline else "finding"
    line = f"kmeminit: {_plural(len(shown), noun)}"
    if by_level:
        line += f" ({by_level})"
    if "functions" in report.extra:
        line += f" in {_plural(int(report.extra['functions']), 'function')}"
    line += _triage_counts(report)
    if report.notifications:
        line += f", {_plural(len(report.notifications), 'notification')}"
    hidden = [level for level in _levels() if level.rank < min_level.rank and counts[level]]
    if hidden:
        what = " and ".join(_plural(counts[level], level.value) for level in hidden)
        lowest = min(hidden, key=lambda lv: lv.rank).value
        line += f"; {what} not shown (--min-level {lowest})"
    return line


def rule_table(report: Report) -> list[str]:
    """One row per rule with reported findings: id, name, and the count per level."""
    counts = Counter((t.finding.rule, t.finding.level) for t in report.reported)
    rules = sorted({rule for rule, _ in counts})
    if not rules:
        return []
    names = {meta.id: meta.name for meta in report.rules}
    width = max(len(names.get(r, "")) for r in rules + ["rule"])
    idw = max(len(r) for r in rules + ["rule"])
    head = f"{'rule':<{idw}}  {'name':<{width}}" + "".join(
        f"  {level.value + 's':>8}" for level in _levels())
    rows = [f"{rule:<{idw}}  {names.get(rule, ''):<{width}}" + "".join(
        f"  {counts[rule, level] or '-':>8}" for level in _levels()) for rule in rules]
    return [head, *rows]


def _shown(report: Report, min_level: Level) -> Iterator[TriagedFinding]:
    return (t for t in report.reported if t.finding.level.rank >= min_level.rank)


def format_text(report: Report, options: TextOptions | None = None) -> str:
    """Findings not unchanged since the baseline and not suppressed, at or above the
    minimum level, gcc-style; then the table by rule and the summary line."""
    options = options or TextOptions()
    root = report.invocation.source_root
    tree = SourceTree(root)
    sources = Sources(root) if options.source else None
    paint = Paint(options.color)
    lines = [line for item in _shown(report, options.min_level)
             for line in finding_lines(item, tree, sources, paint)]
    if options.summary:
        table = rule_table(report)
        if table:
            lines += ["", paint("locus", table[0]), *table[1:]]
        lines.append(summary_line(report, options.min_level))
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
