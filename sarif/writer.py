"""A finished result (analyzer.results.Report) -> SARIF 2.1.0.

The log is described once, with sarif-om's classes (`_Builder`).  Two factories realise it:
`_om` builds the sarif-om objects, which `_om_to_dict` serialises the way jschema_to_python's
`to_json` does (schema property names, unset and default-valued properties left out) except
that `level` is always kept: an absent result level means "the rule's default level", not
"warning", so dropping it would change a warning under an error rule.  `_plain` builds the
same dicts directly, several times faster; the tests assert both give identical JSON.

GitHub code scanning rejects uploads beyond its limits (MAX_* below; module constants so the
tests can shrink them).  The writer stays inside them by a deterministic truncation: results
are ranked (reported findings, then unchanged, suppressed and absent ones; errors before
warnings before notes; then path, line, column, rule) and the lowest-ranked are dropped,
with a warning notification in the log and returned to the caller for stderr.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import attr
import sarif_om as om

from kmeminit import analyzer
from kmeminit.analyzer.model import Level, Location, Notification
from kmeminit.analyzer.results import AbsentResult, Finding, Report, RuleMeta, TriagedFinding
from kmeminit.analyzer.triage.fingerprints import FINGERPRINT_KEY, LINE_HASH_KEY
from kmeminit.sarif.paths import SourceTree, file_uri, relative_uri

TOOL_NAME = "kmeminit"
INFORMATION_URI = "https://github.com/kmeminit/kmeminit"
SARIF_VERSION = "2.1.0"
SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
MAX_TRACE_STEPS = 1000
# GitHub code scanning's upload limits.
MAX_RESULTS = 25_000  # per run
MAX_LOCATIONS_PER_RESULT = 1_000  # locations plus relatedLocations
MAX_THREAD_FLOW_LOCATIONS = 10_000  # per result, over all its code flows
MAX_GZIP_BYTES = 10 * 1024 * 1024
MAX_TAGS_PER_RULE = 20
# GitHub code scanning's vocabulary for problem.severity.
_SEVERITY = {Level.ERROR: "error", Level.WARNING: "warning", Level.NOTE: "recommendation"}

Make = Callable[..., Any]


# Property order in the output: these first, in this order, then the rest in sarif-om's
# (alphabetical) order.  Readers of a log expect `version` before `runs` and `ruleId` first.
_ORDER: dict[type, tuple[str, ...]] = {
    om.SarifLog: ("version", "schema_uri", "runs"),
    om.Run: ("tool", "automation_details", "version_control_provenance", "invocations",
             "original_uri_base_ids", "artifacts", "results"),
    om.ToolComponent: ("name", "semantic_version", "version", "information_uri", "rules"),
    om.ReportingDescriptor: ("id", "name", "short_description", "full_description",
                             "default_configuration", "help", "properties"),
    om.MultiformatMessageString: ("text", "markdown"),
    om.Result: ("rule_id", "rule_index", "level", "message", "locations",
                "related_locations", "code_flows", "partial_fingerprints", "baseline_state",
                "suppressions"),
    om.Suppression: ("kind", "justification"),
    om.VersionControlDetails: ("repository_uri", "revision_id", "branch", "mapped_to"),
    om.Location: ("id", "physical_location", "logical_locations", "message"),
    om.LogicalLocation: ("name", "kind"),
    om.PhysicalLocation: ("artifact_location", "region"),
    om.ArtifactLocation: ("uri", "uri_base_id"),
    om.Region: ("start_line", "start_column", "end_line", "end_column"),
    om.CodeFlow: ("message", "thread_flows"),
    om.ThreadFlowLocation: ("location", "nesting_level"),
    om.Invocation: ("command_line", "arguments", "working_directory", "start_time_utc",
                    "end_time_utc", "execution_successful", "tool_execution_notifications"),
    om.Notification: ("level", "message", "locations", "descriptor", "associated_rule"),
}


@dataclass(frozen=True)
class _Table:
    """How one sarif-om class serialises: property order, schema names, defaults."""

    names: tuple[str, ...]
    position: dict[str, int]
    schema: dict[str, str]
    default: dict[str, Any]
    keep: frozenset[str]  # written even when equal to the default


@functools.cache
def _table(cls: type) -> _Table:
    first = _ORDER.get(cls, ())
    fields = sorted(attr.fields(cls), key=lambda f: (first.index(f.name) if f.name in first
                                                     else len(first)))
    default = {f.name: f.default.factory() if isinstance(f.default, attr.Factory) else f.default
               for f in fields}
    keep = {f.name for f in fields if f.name == "level" or f.default is attr.NOTHING}
    names = tuple(f.name for f in fields)
    return _Table(names, {n: i for i, n in enumerate(names)},
                  {f.name: f.metadata["schema_property_name"] for f in fields},
                  default, frozenset(keep))


def _om(cls: type, **kwargs: Any) -> Any:
    return cls(**kwargs)


def _plain(cls: type, **kwargs: Any) -> dict[str, Any]:
    table = _table(cls)
    out = {}
    for name in sorted(kwargs, key=table.position.__getitem__):
        value = kwargs[name]
        if value is not None and (name in table.keep or value != table.default[name]):
            out[table.schema[name]] = value
    return out


def _om_to_dict(obj: Any) -> Any:
    if attr.has(type(obj)):
        table = _table(type(obj))
        out = {}
        for name in table.names:
            value = getattr(obj, name)
            if value is not None and (name in table.keep or value != table.default[name]):
                out[table.schema[name]] = _om_to_dict(value)
        return out
    if isinstance(obj, list):
        return [_om_to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _om_to_dict(v) for k, v in obj.items()}
    return obj


# `[text](id)` links from a message to its related locations.
_LINKED = re.compile(r"\]\((\d+)\)")
_FENCE = re.compile(r"^\s*```.*$\n?", re.MULTILINE)
_HEADING = re.compile(r"^#{1,6}\s+", re.MULTILINE)


def _help_text(doc: str) -> str:
    """The rule doc as plain text: headings and code fences without their markup."""
    return _HEADING.sub("", _FENCE.sub("", doc))


def _rank(result: TriagedFinding | AbsentResult) -> tuple[int, int]:
    """Truncation order: reported findings, then unchanged, suppressed and absent ones;
    errors before warnings before notes."""
    if isinstance(result, AbsentResult):
        level = result.sarif.get("level", "warning")
        return 3, -(Level(level).rank if level in Level._value2member_map_ else 0)
    state = 2 if result.suppressed is not None else int(not result.reported)
    return state, -result.finding.level.rank


def _kept(results: tuple[TriagedFinding | AbsentResult, ...], limit: int
          ) -> list[TriagedFinding | AbsentResult]:
    """The `limit` highest-ranked results, in the report's order."""
    if limit >= len(results):
        return list(results)
    ranked = sorted(range(len(results)), key=lambda i: (*_rank(results[i]), i))
    return [results[i] for i in sorted(ranked[:limit])]


class _Builder:
    def __init__(self, report: Report, make: Make) -> None:
        self.report = report
        self.make = make
        self.tree = SourceTree(report.invocation.source_root)
        self.rules = sorted(report.rules, key=lambda r: r.id)
        self.rule_index = {r.id: i for i, r in enumerate(self.rules)}
        self.artifacts: dict[str, Any] = {}
        self.artifact_uris: dict[str, tuple[str, str | None]] = {}
        self.limit_notes: list[Notification] = []

    def log(self, keep: int | None = None, size_note: str | None = None) -> Any:
        make = self.make
        candidates = self.report.results
        limit = min(MAX_RESULTS, len(candidates) if keep is None else keep)
        if len(candidates) > MAX_RESULTS:
            self._limit_note(f"GitHub code scanning accepts at most {MAX_RESULTS} results per "
                             f"run: kept {limit} of {len(candidates)} (new findings first, "
                             "then errors, warnings, notes, by path and line)")
        if size_note:
            self._limit_note(size_note)
        results = [self._result(r) if isinstance(r, TriagedFinding) else self._absent(r.sarif)
                   for r in _kept(candidates, limit)]
        notes = list(self.report.notifications)
        notes += [self._outside_note(t) for t in self.report.findings if not t.inside]
        notes += self.limit_notes
        run = make(
            om.Run,
            tool=make(om.Tool, driver=self._driver()),
            automation_details=(make(om.RunAutomationDetails, id=self.report.category)
                                if self.report.category else None),
            version_control_provenance=self._provenance(),
            invocations=[self._invocation(notes)],
            original_uri_base_ids={
                SRCROOT: make(om.ArtifactLocation, uri=file_uri(self.tree.root, directory=True))},
            artifacts=self._artifacts(),
            results=results,
        )
        return make(om.SarifLog, runs=[run], version=SARIF_VERSION, schema_uri=SCHEMA_URI)

    def _limit_note(self, message: str, loc: Location | None = None,
                    rule: str | None = None) -> None:
        self.limit_notes.append(Notification(Level.WARNING, message,
                                             loc.file if loc else None,
                                             loc.line if loc else None, rule))

    def _driver(self) -> Any:
        return self.make(
            om.ToolComponent,
            name=TOOL_NAME,
            information_uri=INFORMATION_URI,
            semantic_version=analyzer.version(),
            version=analyzer.version(),
            rules=[self._rule(r) for r in self.rules],
        )

    def _rule(self, meta: RuleMeta) -> Any:
        make = self.make
        doc = meta.doc or meta.full
        return make(
            om.ReportingDescriptor,
            id=meta.id,
            name=meta.name,
            short_description=make(om.MultiformatMessageString, text=meta.short),
            full_description=make(om.MultiformatMessageString, text=meta.full),
            help=make(om.MultiformatMessageString, text=_help_text(doc), markdown=doc),
            default_configuration=make(om.ReportingConfiguration, level=meta.level.value),
            properties={"tags": list(meta.tags[:MAX_TAGS_PER_RULE]),
                        "precision": meta.precision,
                        "problem.severity": _SEVERITY[meta.level]},
        )

    def _provenance(self) -> list[Any] | None:
        vcs = self.report.provenance
        if vcs is None:
            return None
        mapped = self.make(om.ArtifactLocation, uri_base_id=SRCROOT) \
            if vcs.root_is_toplevel else None
        return [self.make(om.VersionControlDetails, repository_uri=vcs.repository_uri,
                          revision_id=vcs.revision_id, branch=vcs.branch, mapped_to=mapped)]

    def _artifacts(self) -> list[Any] | None:
        make = self.make
        out = []
        for uri, base in sorted(set(self.artifact_uris.values()), key=lambda u: u[0]):
            out.append(make(om.Artifact,
                            location=make(om.ArtifactLocation, uri=uri, uri_base_id=base)))
        return out or None

    def _message(self, finding: Finding) -> str:
        """The message, with related locations it does not link to appended as a second
        sentence: GitHub shows a related location only when the message links to it."""
        text = finding.message
        linked = {int(n) for n in _LINKED.findall(text)}
        extra = [f"[{r.message}]({r.id})" for r in finding.related if r.id not in linked]
        if extra:
            text = f"{text.rstrip()}{'' if text.rstrip().endswith('.') else '.'} " \
                   f"See also {', '.join(extra)}."
        return text

    def _result(self, item: TriagedFinding) -> Any:
        make = self.make
        finding, loc = item.finding, item.finding.location
        fingerprints = {FINGERPRINT_KEY: item.fingerprint}
        if item.line_hash:
            fingerprints[LINE_HASH_KEY] = item.line_hash
        related = list(finding.related)
        room = MAX_LOCATIONS_PER_RESULT - 1
        if len(related) > room:
            self._limit_note(f"{finding.rule} finding: kept {room} of {len(related)} related "
                             f"locations (GitHub accepts {MAX_LOCATIONS_PER_RESULT} locations "
                             "per result)", loc, finding.rule)
            related = related[:room]
        suppressions = None
        if item.suppressed is not None:
            suppressions = [make(om.Suppression, kind="external",
                                 justification=item.suppressed)]
        return make(
            om.Result,
            message=make(om.Message, text=self._message(finding)),
            rule_id=finding.rule,
            rule_index=self.rule_index.get(finding.rule),
            level=finding.level.value,
            locations=[self._location(loc, function=finding.function)],
            related_locations=[self._location(r.location, r.message, location_id=r.id)
                               for r in related] or None,
            code_flows=[self._code_flow(finding)] if finding.trace else None,
            partial_fingerprints=fingerprints,
            baseline_state=item.baseline_state,
            suppressions=suppressions,
        )

    def _absent(self, old: Mapping[str, Any]) -> dict[str, Any]:
        """A baseline result that no longer occurs, as the baseline had it."""
        out: dict[str, Any] = {"ruleId": old.get("ruleId")}
        if old.get("ruleId") in self.rule_index:
            out["ruleIndex"] = self.rule_index[old["ruleId"]]
        for key in ("level", "message", "locations", "relatedLocations",
                    "partialFingerprints"):
            if key in old:
                out[key] = old[key]
        out["baselineState"] = "absent"
        return out

    def _code_flow(self, finding: Finding) -> Any:
        make = self.make
        trace = finding.trace
        cap = min(MAX_TRACE_STEPS, MAX_THREAD_FLOW_LOCATIONS)
        if len(trace) > MAX_THREAD_FLOW_LOCATIONS:
            self._limit_note(f"{finding.rule} finding: trace cut to {cap} of {len(trace)} "
                             f"steps (GitHub accepts {MAX_THREAD_FLOW_LOCATIONS} thread-flow "
                             "locations per result)", finding.location, finding.rule)
        steps = [
            make(om.ThreadFlowLocation,
                 location=self._location(s.location, s.message, function=s.function),
                 nesting_level=s.depth)
            for s in trace[:cap]
        ]
        message = None
        if len(trace) > cap:
            message = make(om.Message, text=f"trace truncated to its first {cap} "
                                            f"of {len(trace)} steps")
        return make(om.CodeFlow, thread_flows=[make(om.ThreadFlow, locations=steps)],
                    message=message)

    def _location(self, loc: Location, message: str | None = None, function: str | None = None,
                  location_id: int | None = None) -> Any:
        make = self.make
        logical = None
        if function:
            logical = [make(om.LogicalLocation, name=function, kind="function")]
        return make(
            om.Location,
            id=location_id,
            physical_location=self._physical(loc.file, self._region(loc)),
            logical_locations=logical,
            message=make(om.Message, text=message) if message is not None else None,
        )

    def _physical(self, file: str, region: Any) -> Any:
        return self.make(om.PhysicalLocation, artifact_location=self._artifact(file),
                         region=region)

    def _artifact(self, file: str) -> Any:
        # Shared between the results of one file: building it is a third of the run time.
        if file not in self.artifacts:
            rel = self.tree.relpath(file)
            if rel is None:
                artifact = self.make(om.ArtifactLocation, uri=file_uri(os.path.realpath(file)))
            else:
                artifact = self.make(om.ArtifactLocation, uri=relative_uri(rel),
                                     uri_base_id=SRCROOT)
                self.artifact_uris[file] = (relative_uri(rel), SRCROOT)
            self.artifacts[file] = artifact
        return self.artifacts[file]

    def _region(self, loc: Location) -> Any:
        if loc.line < 1:
            return None
        end_line = max(loc.end_line, loc.line)
        ordered = end_line > loc.line or loc.end_col >= loc.col
        return self.make(
            om.Region,
            start_line=loc.line,
            start_column=loc.col if loc.col >= 1 else None,
            end_line=end_line,
            end_column=loc.end_col if loc.end_col >= 1 and ordered else None,
        )

    def _outside_note(self, item: TriagedFinding) -> Notification:
        finding, loc = item.finding, item.finding.location
        return Notification(
            Level.WARNING,
            f"{finding.rule} finding in {finding.function or 'file scope'} is outside the "
            f"source root {self.tree.root}; not reported as a result: {finding.message}",
            file=os.path.realpath(loc.file), line=loc.line, rule=finding.rule)

    def _invocation(self, notes: list[Notification]) -> Any:
        inv = self.report.invocation
        make = self.make
        return make(
            om.Invocation,
            execution_successful=inv.successful,
            command_line=inv.command_line,
            arguments=list(inv.arguments),
            working_directory=make(om.ArtifactLocation,
                                   uri=file_uri(inv.working_directory, directory=True)),
            start_time_utc=inv.start_time,
            end_time_utc=inv.end_time,
            tool_execution_notifications=[self._notification(n) for n in notes] or None,
        )

    def _notification(self, note: Notification) -> Any:
        make = self.make
        locations = None
        if note.file:
            region = make(om.Region, start_line=note.line) if note.line else None
            locations = [make(om.Location, physical_location=self._physical(note.file, region))]
        descriptor = rule = None
        if note.rule:
            descriptor = make(om.ReportingDescriptorReference, id=note.rule)
            rule = make(om.ReportingDescriptorReference, id=note.rule,
                        index=self.rule_index.get(note.rule))
        return make(
            om.Notification,
            message=make(om.Message, text=note.message),
            level=note.level.value,
            locations=locations,
            descriptor=descriptor,
            associated_rule=rule,
        )


def dumps(log: Any) -> str:
    """The text of a SARIF (or JSON report) file: indented JSON, valid UTF-8.  A file name
    that is not UTF-8 on disk reaches strings such as the command line as surrogate
    escapes; in the text they become U+FFFD (URIs keep the exact bytes, percent-encoded)."""
    text = json.dumps(log, indent=2, ensure_ascii=False) + "\n"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def _gzip_size(text: str) -> int:
    return len(gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0))


def _build(report: Report, fast: bool, keep: int | None = None,
           size_note: str | None = None) -> tuple[dict[str, Any], list[Notification]]:
    builder = _Builder(report, _plain if fast else _om)
    log = builder.log(keep, size_note)
    return (log if fast else _om_to_dict(log)), builder.limit_notes


def build_sarif(report: Report, *, fast: bool = True
                ) -> tuple[dict[str, Any], list[Notification]]:
    """The SARIF log as a JSON-ready dict, within GitHub's limits, and the warnings about
    what was dropped to stay within them (already in the log; for stderr)."""
    log, notes = _build(report, fast)
    text = dumps(log)
    # Uncompressed size bounds the compressed one: only a big log needs gzipping to check.
    if len(text.encode("utf-8")) <= MAX_GZIP_BYTES or _gzip_size(text) <= MAX_GZIP_BYTES:
        return log, notes
    total = len(log["runs"][0]["results"])
    keep, size = total, _gzip_size(text)
    while size > MAX_GZIP_BYTES and keep > 0:
        keep = min(keep - 1, int(keep * MAX_GZIP_BYTES / size * 0.95))
        note = (f"the SARIF file would exceed GitHub's limit of {MAX_GZIP_BYTES} bytes "
                f"gzipped: kept {keep} of {total} results (new findings first, then errors, "
                "warnings, notes, by path and line)")
        log, notes = _build(report, fast, keep, note)
        size = _gzip_size(dumps(log))
    return log, notes


def to_sarif(report: Report, *, fast: bool = True) -> dict[str, Any]:
    """The SARIF log as a JSON-ready dict.  `fast=False` goes through sarif-om objects."""
    return build_sarif(report, fast=fast)[0]

