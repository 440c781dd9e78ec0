"""The HTML report: one self-contained page (inline CSS, JS and SVG; no network) rendered
from the finished Report with the Jinja2 templates in sarif/templates/.

The page has an overview (counts by rule and level, by file, by directory: sortable,
and filters for level, rule, baseline state, suppression and text), every finding with
its message, rule help and code flow stepped over the source (the lines around each
step, the step's own line highlighted), a picture of the functions on a cross-function
witness, the fix when the rule proposes one, the PG_reserved inventory and the altmap
origins the findings link to, the notifications and the results fixed since the baseline.

Source text is read for display only, through the triage stage's `Sources`.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kmeminit import analyzer
from kmeminit.analyzer.model import Level, Location
from kmeminit.analyzer.paths import SourceTree
from kmeminit.analyzer.reports import Inventories, OriginSet, ReservedReport
from kmeminit.analyzer.results import Fix, Report, TriagedFinding, message_parts
from kmeminit.analyzer.triage.fixes import apply_spans, spans
from kmeminit.analyzer.triage.sources import Sources
from kmeminit.sarif import svg
from kmeminit.sarif.text import notes, rule_table, summary_line

CONTEXT = 2  # source lines shown before and after a step
TABSTOP = 8
_LEVELS = ("error", "warning", "note")


@dataclass
class SourceLine:
    number: int
    before: str
    marked: str
    after: str
    hit: bool


@dataclass
class Place:
    """A location with the source around it."""

    anchor: str
    path: str
    line: int
    col: int
    function: str | None
    message: str
    depth: int = 0
    lines: list[SourceLine] = field(default_factory=list)


@dataclass
class FindingView:
    n: int
    item: TriagedFinding
    rule: str
    rule_name: str
    level: str
    message: list[tuple[str, str | None]]  # (text, href or None)
    path: str
    line: int
    col: int
    function: str | None
    state: str  # new | unchanged | "" (no baseline)
    suppressed: str | None
    directory: str
    primary: Place
    steps: list[Place]
    related: list[Place]
    graph: str | None
    fix: Fix | None
    fix_diff: str
    unfixable: str | None
    inventory: tuple[str, str] | None  # (href, label)


class _Snippets:
    """Source lines around a location, for display (tabs expanded, the column range of
    the location marked on its own line)."""

    def __init__(self, root: str) -> None:
        self.sources = Sources(root)

    def around(self, loc: Location) -> list[SourceLine]:
        out = []
        for number in range(max(1, loc.line - CONTEXT), loc.line + CONTEXT + 1):
            text = self.sources.line(loc.file, number)
            if number > loc.line and not text and not self.sources.line(loc.file, number + 1):
                break
            if number != loc.line:
                out.append(SourceLine(number, text.expandtabs(TABSTOP), "", "", False))
                continue
            out.append(self._marked(text, loc))
        return out if any(line.before or line.marked for line in out) else []

    @staticmethod
    def _marked(text: str, loc: Location) -> SourceLine:
        data = text.encode("utf-8", "surrogateescape")
        start = max(loc.col - 1, 0)
        end = loc.end_col - 1 if loc.end_line == loc.line and loc.end_col > loc.col else None
        if end is None:  # no extent: mark the identifier or the character at the column
            match = re.match(rb"[A-Za-z_]\w*|\S", data[start:])
            end = start + (len(match.group(0)) if match else 0)

        def part(chunk: bytes) -> str:
            return chunk.decode("utf-8", "replace")

        head = part(data[:start]).expandtabs(TABSTOP)
        marked = part(data[start:end])
        tail = part(data[end:])
        return SourceLine(loc.line, head, marked, tail.expandtabs(TABSTOP), True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def _fix_diff(fix: Fix, tree: SourceTree, sources: Sources) -> str:
    """The fix as a unified diff of the files it edits."""
    out = []
    for file in sorted({e.file for e in fix.edits}):
        text = sources.text(file)
        if text is None:
            continue
        new = apply_spans(text, spans(text, [e for e in fix.edits if e.file == file]))
        path = tree.display(file)
        out += difflib.unified_diff(text.splitlines(keepends=True),
                                    new.splitlines(keepends=True), f"a/{path}", f"b/{path}",
                                    n=2)
    return "".join(out)


class _Links:
    """Where a finding's evidence is in the inventories: KMI006 sites and KMI007 readers
    by their place, KMI004/KMI005 origin sets by the function."""

    def __init__(self, extra: Inventories | None) -> None:
        self.places: dict[tuple[str, int, int], tuple[str, str]] = {}
        self.functions: dict[str, tuple[str, str]] = {}
        reserved = extra.reserved if extra else None
        if reserved is not None:
            for site in reserved.sites:
                self.places[site.file, site.line, site.col] = (
                    f"#reserved-site-{_slug(site.id)}", f"PG_reserved site {site.id}")
            for reader in reserved.readers:
                self.places[reader.file, reader.line, reader.col] = (
                    f"#reserved-reader-{_slug(reader.id)}", f"PG_reserved reader {reader.id}")
        origins = extra.origins if extra else None
        if origins is not None:
            for i, origin_set in enumerate(origins.sets):
                if origin_set.function:
                    self.functions.setdefault(origin_set.function, (
                        f"#origins-{i}", f"origins of {origin_set.variable} in "
                                         f"{origin_set.function}()"))

    def of(self, item: TriagedFinding) -> tuple[str, str] | None:
        finding, loc = item.finding, item.finding.location
        if finding.rule in ("KMI006", "KMI007"):
            return self.places.get((loc.file, loc.line, loc.col))
        if finding.rule in ("KMI004", "KMI005") and finding.function:
            return self.functions.get(finding.function)
        return None


class _Builder:
    def __init__(self, report: Report, extra: Inventories | None) -> None:
        self.report = report
        self.tree = SourceTree(report.invocation.source_root)
        self.snippets = _Snippets(report.invocation.source_root)
        self.links = _Links(extra)
        self.names = {meta.id: meta.name for meta in report.rules}

    def place(self, anchor: str, loc: Location, message: str, function: str | None = None,
              depth: int = 0) -> Place:
        return Place(anchor, self.tree.display(loc.file), loc.line, loc.col, function,
                     message, depth, self.snippets.around(loc))

    def finding(self, n: int, item: TriagedFinding) -> FindingView:
        finding, loc = item.finding, item.finding.location
        anchor = f"f{n}"
        steps = [self.place(f"{anchor}-s{k}", s.location, s.message, s.function, s.depth)
                 for k, s in enumerate(finding.trace, 1)]
        at_step = {(s.location.file, s.location.line, s.location.col): f"{anchor}-s{k}"
                   for k, s in enumerate(finding.trace, 1)}
        related, targets = [], {}
        shown = {(where.file, where.line, where.col) for where, _ in notes(item)}
        for r in finding.related:
            key = (r.location.file, r.location.line, r.location.col)
            if key in at_step:
                targets[r.id] = "#" + at_step[key]
            elif key in shown:
                related.append(self.place(f"{anchor}-r{r.id}", r.location, r.message))
                targets[r.id] = f"#{anchor}-r{r.id}"
        message = [(text, targets.get(ref) if ref is not None else None)
                   for text, ref in message_parts(finding.message)]
        picture = svg.chain_picture(((s.depth, s.function) for s in finding.trace),
                                    [finding.function] if finding.function else [],
                                    f"functions on the witness of finding {n}")
        directory = posixpath.dirname(item.path) or "."
        return FindingView(
            n, item, finding.rule, self.names.get(finding.rule, ""), finding.level.value,
            message,
            item.path, loc.line, loc.col, finding.function, item.baseline_state or "",
            item.suppressed, directory,
            self.place(anchor + "-at", loc, finding.text, finding.function),
            steps, related, svg.to_svg(picture) if picture else None, item.fix,
            _fix_diff(item.fix, self.tree, self.snippets.sources) if item.fix else "",
            item.unfixable, self.links.of(item))


def _counts(items: Iterable[FindingView], key: str) -> list[dict[str, Any]]:
    table: dict[str, Counter[str]] = {}
    for view in items:
        counter = table.setdefault(getattr(view, key), Counter())
        counter[view.level] += 1
        counter["total"] += 1
        counter[view.state or "new"] += 1
        if view.suppressed is not None:
            counter["suppressed"] += 1
    return [{"key": k, **{c: v[c] for c in (*_LEVELS, "total", "new", "unchanged",
                                              "suppressed")}}
            for k, v in sorted(table.items())]


def _markdown(doc: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).render(doc)


def _reserved_rows(reserved: ReservedReport | None, tree: SourceTree) -> dict[str, Any] | None:
    if reserved is None:
        return None

    def where(file: str, line: int) -> str:
        return f"{tree.display(file)}:{line}" if file else ""

    return {
        "entries": [{"kind": e.kind, "name": e.name, "where": where(e.file, e.line),
                     "effect": e.effect, "sites": [(_slug(s.site), s.site, s.effect)
                                                   for s in e.sites],
                     "readers": [(_slug(r), r) for r in e.readers]}
                    for e in reserved.entries],
        "sites": [{"anchor": _slug(s.id), "id": s.id, "op": s.op, "callee": s.callee,
                   "function": s.function, "via": s.via, "atomic": s.atomic,
                   "where": where(s.file, s.line)} for s in reserved.sites],
        "readers": [{"anchor": _slug(r.id), "id": r.id, "callee": r.callee,
                     "function": r.function, "walker": r.walker, "entries": r.entries,
                     "where": where(r.file, r.line)} for r in reserved.readers],
        "unreached": [{"site": u.site, "op": u.op, "where": where(u.file, u.line)}
                      for u in reserved.unreached],
        "wrappers": reserved.wrappers,
        "what_if_drop": reserved.what_if_drop,
    }


def _origin_rows(sets: Iterable[OriginSet], tree: SourceTree) -> list[dict[str, Any]]:
    rows = []
    for i, origin_set in enumerate(sets):
        loc = origin_set.location
        rows.append({
            "anchor": f"origins-{i}", "variable": origin_set.variable,
            "function": origin_set.function or "",
            "where": f"{tree.display(loc.file)}:{loc.line}" if loc else "",
            "kinds": ", ".join(origin_set.kinds),
            "origins": [(str(origin), [(f"{tree.display(s.location.file)}:{s.location.line}",
                                        s.message) for s in chain])
                        for origin, chain in origin_set.origins],
        })
    return rows


def _absent_rows(report: Report) -> list[dict[str, str]]:
    rows = []
    for absent in report.absent:
        old = absent.sarif
        loc = (old.get("locations") or [{}])[0].get("physicalLocation", {})
        where = loc.get("artifactLocation", {}).get("uri", "")
        if loc.get("region", {}).get("startLine"):
            where += f":{loc['region']['startLine']}"
        rows.append({"rule": str(old.get("ruleId", "")), "level": str(old.get("level", "")),
                     "message": str((old.get("message") or {}).get("text", "")),
                     "where": where})
    return rows


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("kmeminit.sarif", "templates"),
                             autoescape=jinja2.select_autoescape(("html", "j2")),
                             trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    return env


def format_html(report: Report, extra: Inventories | None = None,
                title: str = "kmeminit report") -> str:
    """The whole page."""
    builder = _Builder(report, extra)
    views = [builder.finding(n, item) for n, item in enumerate(report.findings, 1)]
    tree = builder.tree
    rules = [{"id": meta.id, "name": meta.name, "level": meta.level.value,
              "precision": meta.precision, "short": meta.short, "full": meta.full,
              "doc": _markdown(meta.doc)} for meta in sorted(report.rules, key=lambda m: m.id)]
    by_rule = {row["key"]: row for row in _counts(views, "rule")}
    rule_rows = [{**rule, **by_rule.get(rule["id"], {c: 0 for c in (*_LEVELS, "total", "new",
                                                                    "unchanged",
                                                                    "suppressed")})}
                 for rule in rules]
    context: Mapping[str, Any] = {
        "title": title, "version": analyzer.version(), "report": report,
        "summary": summary_line(report, Level.NOTE), "table": rule_table(report),
        "findings": views, "rules": rules, "rule_rows": rule_rows,
        "files": _counts(views, "path"), "directories": _counts(views, "directory"),
        "levels": _LEVELS, "has_baseline": report.has_baseline,
        "any_suppressed": any(v.suppressed is not None for v in views),
        "reserved": _reserved_rows(extra.reserved if extra else None, tree),
        "origins": _origin_rows(extra.origins.sets, tree) if extra and extra.origins else None,
        "origins_pointer": extra.origins.pointer if extra and extra.origins else "",
        "notifications": [{"level": n.level.value, "message": n.message, "rule": n.rule or "",
                           "where": (tree.display(n.file) + (f":{n.line}" if n.line else ""))
                           if n.file else ""} for n in report.notifications],
        "absent": _absent_rows(report),
        "svg_style": svg.STYLE,
    }
    return _environment().get_template("report.html.j2").render(**context)


__all__ = ["format_html"]
