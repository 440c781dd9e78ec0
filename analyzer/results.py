"""Findings, rule metadata and the plain result that formatters consume."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kmeminit.analyzer.model import Level, Location, Notification


@dataclass(frozen=True)
class Step:
    """One step of a finding's trace (a SARIF threadFlow location).  `depth` is the call
    depth from the entry point, for SARIF nestingLevel."""

    location: Location
    message: str
    depth: int = 0
    function: str | None = None


@dataclass(frozen=True)
class Related:
    """A related location referenced from the message as `[text](id)`."""

    id: int
    location: Location
    message: str


@dataclass(frozen=True)
class Finding:
    """A finding, complete when created.  `template` is the message with its volatile parts
    as `{placeholders}` and `args` their values; `message` is the rendered text.  The
    fingerprint uses the template, so renaming a variable does not make a finding new."""

    rule: str
    level: Level
    template: str
    args: tuple[tuple[str, str], ...]
    location: Location
    function: str | None
    related: tuple[Related, ...] = ()
    trace: tuple[Step, ...] = ()

    @property
    def message(self) -> str:
        return self.template.format(**dict(self.args))

    @classmethod
    def make(
        cls,
        rule: str,
        level: Level,
        template: str,
        location: Location,
        function: str | None,
        related: tuple[Related, ...] = (),
        trace: tuple[Step, ...] = (),
        **args: str,
    ) -> Finding:
        return cls(rule, level, template, tuple(sorted((k, str(v)) for k, v in args.items())),
                   location, function, related, trace)


@dataclass(frozen=True)
class RuleMeta:
    """Metadata of one rule, as a checker declares it (level possibly overridden by config)."""

    id: str
    name: str
    level: Level
    precision: str  # very-high | high | medium | low
    tags: tuple[str, ...]
    short: str
    full: str
    doc: str  # the checker module's docstring (markdown): What it finds, Why, Example, ...


@dataclass(frozen=True)
class Invocation:
    command_line: str
    arguments: tuple[str, ...]
    working_directory: str
    start_time: str  # ISO 8601 UTC
    end_time: str
    successful: bool
    source_root: str


@dataclass(frozen=True)
class Provenance:
    """The git checkout the source root belongs to (SARIF versionControlProvenance)."""

    repository_uri: str
    revision_id: str
    branch: str | None = None
    root_is_toplevel: bool = False  # the source root is the checkout's top directory


@dataclass(frozen=True)
class Triage:
    """What a baseline and a suppressions file say about a run's findings, keyed by their
    `kmeminit/v1` fingerprint.  Kept beside the findings because findings are never patched.

    `baseline` maps each finding's fingerprint to "new" or "unchanged" (None: no baseline);
    `absent` holds the baseline's SARIF results that no longer occur, as JSON objects;
    `suppressed` maps fingerprints to the justification of the entry that suppresses them.
    """

    baseline: Mapping[str, str] | None = None
    absent: tuple[Mapping[str, Any], ...] = ()
    suppressed: Mapping[str, str] = field(default_factory=dict)

    def reported(self, fingerprint: str) -> bool:
        """Shown in text output and counted for the exit code: new and not suppressed."""
        unchanged = self.baseline is not None and self.baseline.get(fingerprint) == "unchanged"
        return not unchanged and fingerprint not in self.suppressed


@dataclass(frozen=True)
class RunResult:
    rules: tuple[RuleMeta, ...]
    findings: tuple[Finding, ...]
    notifications: tuple[Notification, ...]
    invocation: Invocation
    extra: dict[str, str] = field(default_factory=dict)
    triage: Triage = field(default_factory=Triage)
    provenance: Provenance | None = None
    category: str = ""  # SARIF automationDetails.id (GitHub's upload category)
    # Contents of the files as analysed where they differ from the disk (absolute path ->
    # bytes): `kmeminit diff --head REV` analyses a revision that is not checked out.
    sources: Mapping[str, bytes] = field(default_factory=dict)
