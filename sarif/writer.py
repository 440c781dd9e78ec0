"""RunResult -> SARIF 2.1.0, written atomically.

The log is described once, with sarif-om's classes (`_Builder`).  Two factories realise it:
`_om` builds the sarif-om objects, which `_om_to_dict` serialises the way jschema_to_python's
`to_json` does (schema property names, unset and default-valued properties left out) except
that `level` is always kept: an absent result level means "the rule's default level", not
"warning", so dropping it would change a warning under an error rule.  `_plain` builds the
same dicts directly, several times faster; the tests assert both give identical JSON.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import attr
import sarif_om as om

import analyzer
from analyzer.fsutil import atomic_write_text
from analyzer.model import Level, Location, Notification
from analyzer.results import Finding, RuleMeta, RunResult, Step
from sarif.fingerprints import FINGERPRINT_KEY, LINE_HASH_KEY
from sarif.paths import SourceTree, file_uri, relative_uri, sorted_findings, sorted_notifications

TOOL_NAME = "kmeminit"
INFORMATION_URI = "https://github.com/kmeminit/kmeminit"
SARIF_VERSION = "2.1.0"
SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
MAX_TRACE_STEPS = 1000
# GitHub code scanning's vocabulary for problem.severity.
_SEVERITY = {Level.ERROR: "error", Level.WARNING: "warning", Level.NOTE: "recommendation"}

Make = Callable[..., Any]


# Property order in the output: these first, in this order, then the rest in sarif-om's
# (alphabetical) order.  Readers of a log expect `version` before `runs` and `ruleId` first.
_ORDER: dict[type, tuple[str, ...]] = {
    om.SarifLog: ("version", "schema_uri", "runs"),
    om.Run: ("tool", "invocations", "original_uri_base_ids", "results"),
    om.ToolComponent: ("name", "semantic_version", "version", "information_uri", "rules"),
    om.ReportingDescriptor: ("id", "name", "short_description", "full_description",
                             "default_configuration", "help", "properties"),
    om.MultiformatMessageString: ("text", "markdown"),
    om.Result: ("rule_id", "rule_index", "level", "message", "locations",
                "related_locations", "code_flows", "partial_fingerprints"),
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


class _Builder:
    def __init__(self, result: RunResult, make: Make) -> None:
        self.result = result
        self.make = make
        self.tree = SourceTree(result.invocation.source_root)
        self.rules = sorted(result.rules, key=lambda r: r.id)
        self.rule_index = {r.id: i for i, r in enumerate(self.rules)}
        self.artifacts: dict[str, Any] = {}

    def log(self) -> Any:
        make = self.make
        inside, outside = [], []
        for finding in sorted_findings(self.result.findings, self.tree):
            has_path = self.tree.relpath(finding.location.file) is not None
            (inside if has_path else outside).append(finding)
        notes = sorted_notifications(self.result.notifications)
        notes += [self._outside_note(f) for f in outside]
        run = make(
            om.Run,
            tool=make(om.Tool, driver=self._driver()),
            invocations=[self._invocation(notes)],
            original_uri_base_ids={
                SRCROOT: make(om.ArtifactLocation, uri=file_uri(self.tree.root, directory=True))},
            results=[self._result(f) for f in inside],
        )
        return make(om.SarifLog, runs=[run], version=SARIF_VERSION, schema_uri=SCHEMA_URI)

    def _driver(self) -> Any:
        return self.make(
            om.ToolComponent,
            name=TOOL_NAME,
            information_uri=INFORMATION_URI,
            semantic_version=analyzer.__version__,
            version=analyzer.__version__,
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
            help=make(om.MultiformatMessageString, text=doc, markdown=doc),
            default_configuration=make(om.ReportingConfiguration, level=meta.level.value),
            properties={"tags": list(meta.tags), "precision": meta.precision,
                        "problem.severity": _SEVERITY[meta.level]},
        )

    def _result(self, finding: Finding) -> Any:
        make = self.make
        loc = finding.location
        fingerprints = {FINGERPRINT_KEY: self.tree.fingerprint(finding)}
        line_hash = self.tree.line_hash(loc.file, loc.line)
        if line_hash:
            fingerprints[LINE_HASH_KEY] = line_hash
        related = [self._location(r.location, r.message, location_id=r.id)
                   for r in finding.related]
        return make(
            om.Result,
            message=make(om.Message, text=finding.message),
            rule_id=finding.rule,
            rule_index=self.rule_index.get(finding.rule),
            level=finding.level.value,
            locations=[self._location(loc, function=finding.function)],
            related_locations=related or None,
            code_flows=[self._code_flow(finding.trace)] if finding.trace else None,
            partial_fingerprints=fingerprints,
        )

    def _code_flow(self, trace: tuple[Step, ...]) -> Any:
        make = self.make
        steps = [
            make(om.ThreadFlowLocation,
                 location=self._location(s.location, s.message, function=s.function),
                 nesting_level=s.depth)
            for s in trace[:MAX_TRACE_STEPS]
        ]
        message = None
        if len(trace) > MAX_TRACE_STEPS:
            message = make(om.Message, text=f"trace truncated to its first {MAX_TRACE_STEPS} "
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

    def _outside_note(self, finding: Finding) -> Notification:
        loc = finding.location
        return Notification(
            Level.WARNING,
            f"{finding.rule} finding in {finding.function or 'file scope'} is outside the "
            f"source root {self.tree.root}; not reported as a result: {finding.message}",
            file=os.path.realpath(loc.file), line=loc.line, rule=finding.rule)

    def _invocation(self, notes: list[Notification]) -> Any:
        inv = self.result.invocation
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


def to_sarif(result: RunResult, *, fast: bool = True) -> dict[str, Any]:
    """The SARIF log as a JSON-ready dict.  `fast=False` goes through sarif-om objects."""
    if fast:
        return _Builder(result, _plain).log()
    return _om_to_dict(_Builder(result, _om).log())


def write_sarif(result: RunResult, path: str, *, fast: bool = True) -> None:
    write_json_atomic(to_sarif(result, fast=fast), path)


def write_json_atomic(data: Any, path: str) -> None:
    """Write `data` as indented JSON, atomically (see analyzer.fsutil)."""
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
