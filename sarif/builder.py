"""The SARIF log of a finished result, as sarif-om objects (the SARIF model).

One `_Builder` per log: rules sorted by id (every enabled rule, fired or not), the results
the report lists (absent baseline results stay the baseline's JSON), notifications (those
of the report, findings outside the source root, and what GitHub's limits dropped),
artifacts and run metadata.  A result's per-result caps (related locations, trace steps,
tags) are GitHub's limits too; see sarif/limits.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import sarif_om as om

from kmeminit import analyzer
from kmeminit.analyzer.model import Level, Location, Notification
from kmeminit.analyzer.paths import SourceTree
from kmeminit.analyzer.results import Finding, Fix, Report, RuleMeta, TriagedFinding
from kmeminit.analyzer.triage.fingerprints import FINGERPRINT_KEY, LINE_HASH_KEY
from kmeminit.sarif import limits
from kmeminit.sarif.paths import file_uri, relative_uri
from kmeminit.sarif.text import repeats

TOOL_NAME = "kmeminit"
INFORMATION_URI = "https://github.com/kmeminit/kmeminit"
SARIF_VERSION = "2.1.0"
SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
# GitHub code scanning's vocabulary for problem.severity.
_SEVERITY = {Level.ERROR: "error", Level.WARNING: "warning", Level.NOTE: "recommendation"}


# `[text](id)` links from a message to its related locations.
_LINKED = re.compile(r"\]\((\d+)\)")
_FENCE = re.compile(r"^\s*```.*$\n?", re.MULTILINE)
_HEADING = re.compile(r"^#{1,6}\s+", re.MULTILINE)


def _help_text(doc: str) -> str:
    """The rule doc as plain text: headings and code fences without their markup."""
    return _HEADING.sub("", _FENCE.sub("", doc))


class _Builder:
    def __init__(self, report: Report) -> None:
        self.report = report
        self.tree = SourceTree(report.invocation.source_root)
        self.rules = sorted(report.rules, key=lambda r: r.id)
        self.rule_index = {r.id: i for i, r in enumerate(self.rules)}
        self.artifacts: dict[str, om.ArtifactLocation] = {}
        self.artifact_uris: dict[str, tuple[str, str | None]] = {}
        self.limit_notes: list[Notification] = []

    def log(self, keep: int | None = None, size_note: str | None = None) -> om.SarifLog:
        candidates = self.report.results
        for note in (limits.too_many_results(len(candidates), keep), size_note):
            if note:
                self._limit_note(note)
        results = [self._result(r) if isinstance(r, TriagedFinding) else self._absent(r.sarif)
                   for r in limits.kept(candidates, keep)]
        notes = list(self.report.notifications)
        notes += [self._outside_note(t) for t in self.report.findings if not t.inside]
        notes += self.limit_notes
        run = om.Run(
            tool=om.Tool(driver=self._driver()),
            automation_details=(om.RunAutomationDetails(id=self.report.category)
                                if self.report.category else None),
            version_control_provenance=self._provenance(),
            invocations=[self._invocation(notes)],
            original_uri_base_ids={
                SRCROOT: om.ArtifactLocation(uri=file_uri(self.tree.root, directory=True))},
            artifacts=self._artifacts(),
            results=results,
        )
        return om.SarifLog(runs=[run], version=SARIF_VERSION, schema_uri=SCHEMA_URI)

    def _limit_note(self, message: str, loc: Location | None = None,
                    rule: str | None = None) -> None:
        self.limit_notes.append(Notification(Level.WARNING, message,
                                             loc.file if loc else None,
                                             loc.line if loc else None, rule))

    def _driver(self) -> om.ToolComponent:
        return om.ToolComponent(
            name=TOOL_NAME,
            information_uri=INFORMATION_URI,
            semantic_version=analyzer.version(),
            version=analyzer.version(),
            rules=[self._rule(r) for r in self.rules],
        )

    def _rule(self, meta: RuleMeta) -> om.ReportingDescriptor:
        doc = meta.doc or meta.full
        return om.ReportingDescriptor(
            id=meta.id,
            name=meta.name,
            short_description=om.MultiformatMessageString(text=meta.short),
            full_description=om.MultiformatMessageString(text=meta.full),
            help=om.MultiformatMessageString(text=_help_text(doc), markdown=doc),
            default_configuration=om.ReportingConfiguration(level=meta.level.value),
            properties={"tags": list(meta.tags[:limits.MAX_TAGS_PER_RULE]),
                        "precision": meta.precision,
                        "problem.severity": _SEVERITY[meta.level]},
        )

    def _provenance(self) -> list[om.VersionControlDetails] | None:
        vcs = self.report.provenance
        if vcs is None:
            return None
        mapped = om.ArtifactLocation(uri_base_id=SRCROOT) if vcs.root_is_toplevel else None
        return [om.VersionControlDetails(repository_uri=vcs.repository_uri,
                                         revision_id=vcs.revision_id, branch=vcs.branch,
                                         mapped_to=mapped)]

    def _artifacts(self) -> list[om.Artifact] | None:
        out = []
        for uri, base in sorted(set(self.artifact_uris.values()), key=lambda u: u[0]):
            out.append(om.Artifact(location=om.ArtifactLocation(uri=uri, uri_base_id=base)))
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

    def _result(self, item: TriagedFinding) -> om.Result:
        finding, loc = item.finding, item.finding.location
        fingerprints = {FINGERPRINT_KEY: item.fingerprint}
        if item.line_hash:
            fingerprints[LINE_HASH_KEY] = item.line_hash
        related = list(finding.related)
        room = limits.MAX_LOCATIONS_PER_RESULT - 1
        if len(related) > room:
            self._limit_note(f"{finding.rule} finding: kept {room} of {len(related)} related "
                             f"locations (GitHub accepts {limits.MAX_LOCATIONS_PER_RESULT} "
                             "locations per result)", loc, finding.rule)
            related = related[:room]
        suppressions = [om.Suppression(kind=s.kind, justification=s.justification)
                        for s in item.suppressions] or None
        return om.Result(
            message=om.Message(text=self._message(finding)),
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
            fixes=[self._fix(item.fix)] if item.fix is not None else None,
        )

    def _fix(self, fix: Fix) -> om.Fix:
        """SARIF's fix: per file, replacements of regions (an empty region inserts)."""
        files: dict[str, list[om.Replacement]] = {}
        for edit in fix.edits:
            region = om.Region(start_line=edit.line, start_column=edit.col,
                               end_line=edit.end_line, end_column=edit.end_col)
            inserted = om.ArtifactContent(text=edit.text) if edit.text else None
            files.setdefault(edit.file, []).append(
                om.Replacement(deleted_region=region, inserted_content=inserted))
        return om.Fix(description=om.Message(text=fix.description),
                      artifact_changes=[om.ArtifactChange(artifact_location=self._artifact(f),
                                                          replacements=r)
                                        for f, r in files.items()])

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

    def _code_flow(self, finding: Finding) -> om.CodeFlow:
        trace = finding.trace
        cap = min(limits.MAX_TRACE_STEPS, limits.MAX_THREAD_FLOW_LOCATIONS)
        if len(trace) > limits.MAX_THREAD_FLOW_LOCATIONS:
            self._limit_note(f"{finding.rule} finding: trace cut to {cap} of {len(trace)} "
                             f"steps (GitHub accepts {limits.MAX_THREAD_FLOW_LOCATIONS} "
                             "thread-flow locations per result)", finding.location, finding.rule)
        steps = [
            om.ThreadFlowLocation(
                location=self._location(s.location, s.message, function=s.function),
                nesting_level=s.depth)
            for s in trace[:cap]
        ]
        message = None
        if len(trace) > cap:
            message = om.Message(text=f"trace truncated to its first {cap} "
                                      f"of {len(trace)} steps")
        return om.CodeFlow(thread_flows=[om.ThreadFlow(locations=steps)], message=message)

    def _location(self, loc: Location, message: str | None = None, function: str | None = None,
                  location_id: int | None = None) -> om.Location:
        logical = None
        if function:
            logical = [om.LogicalLocation(name=function, kind="function")]
        return om.Location(
            id=location_id,
            physical_location=self._physical(loc.file, self._region(loc)),
            logical_locations=logical,
            message=om.Message(text=message) if message is not None else None,
        )

    def _physical(self, file: str, region: om.Region | None) -> om.PhysicalLocation:
        return om.PhysicalLocation(artifact_location=self._artifact(file), region=region)

    def _artifact(self, file: str) -> om.ArtifactLocation:
        # Shared between the results of one file: building it is a third of the run time.
        if file not in self.artifacts:
            rel = self.tree.relpath(file)
            if rel is None:
                artifact = om.ArtifactLocation(uri=file_uri(os.path.realpath(file)))
            else:
                artifact = om.ArtifactLocation(uri=relative_uri(rel), uri_base_id=SRCROOT)
                self.artifact_uris[file] = (relative_uri(rel), SRCROOT)
            self.artifacts[file] = artifact
        return self.artifacts[file]

    def _region(self, loc: Location) -> om.Region | None:
        if loc.line < 1:
            return None
        end_line = max(loc.end_line, loc.line)
        ordered = end_line > loc.line or loc.end_col >= loc.col
        return om.Region(
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

    def _invocation(self, notes: list[Notification]) -> om.Invocation:
        inv = self.report.invocation
        return om.Invocation(
            execution_successful=inv.successful,
            command_line=inv.command_line,
            arguments=list(inv.arguments),
            working_directory=om.ArtifactLocation(
                uri=file_uri(inv.working_directory, directory=True)),
            start_time_utc=inv.start_time,
            end_time_utc=inv.end_time,
            tool_execution_notifications=[self._notification(n) for n in notes] or None,
        )

    def _notification(self, note: Notification) -> om.Notification:
        locations = None
        if note.file:
            region = om.Region(start_line=note.line) if note.line else None
            locations = [om.Location(physical_location=self._physical(note.file, region))]
        descriptor = rule = None
        if note.rule:
            descriptor = om.ReportingDescriptorReference(id=note.rule)
            rule = om.ReportingDescriptorReference(id=note.rule,
                                                   index=self.rule_index.get(note.rule))
        properties = None
        if note.tu:  # which TU said it, and how often it was said (repeats are folded)
            properties = {"translationUnit": self.tree.display(note.tu),
                          "translationUnits": note.tus, "count": note.count}
        return om.Notification(
            message=om.Message(text=note.message + repeats(note, self.tree)),
            level=note.level.value,
            locations=locations,
            descriptor=descriptor,
            associated_rule=rule,
            properties=properties,
        )


def build_log(report: Report, keep: int | None = None, size_note: str | None = None
              ) -> tuple[om.SarifLog, list[Notification]]:
    """The log, keeping at most `keep` results (None: as many as GitHub accepts), and the
    warnings about what GitHub's limits made it drop (`size_note` first, if given)."""
    builder = _Builder(report)
    return builder.log(keep, size_note), builder.limit_notes
