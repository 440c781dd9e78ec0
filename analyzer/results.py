"""Findings and rule metadata; the checkers' result, and the finished result (after
triage) that formatters render."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kmeminit.analyzer.model import Level, Location, Notification, SourceSuppression

# `[text](id)` in a message links to the related location `id` (SARIF's markup).
_LINK = re.compile(r"\[([^\]]*)\]\((\d+)\)")


def plain(message: str) -> str:
    """A message without its links to related locations: `[pfn_to_page(pfn)](1)` becomes
    `pfn_to_page(pfn)`, for text, JSON and HTML."""
    return _LINK.sub(r"\1", message)


def message_parts(message: str) -> list[tuple[str, int | None]]:
    """The message as (text, related id or None) pieces, for formatters that draw links."""
    parts: list[tuple[str, int | None]] = []
    pos = 0
    for match in _LINK.finditer(message):
        if match.start() > pos:
            parts.append((message[pos:match.start()], None))
        parts.append((match.group(1), int(match.group(2))))
        pos = match.end()
    if pos < len(message):
        parts.append((message[pos:], None))
    return parts


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
class CheckedConversion:
    """A mechanical fix, as the rule that found the problem describes it: the conversion
    `conversion(value)` at `conversion_at`, checked only by `guard(value)` at `guard_at`,
    becomes `replacement(value)` with a NULL check.  Source-independent: the triage stage
    turns it into edits of the text as analysed (analyzer/triage/fixes.py), or refuses
    when the code is not in a shape it rewrites safely."""

    guard: str
    guard_at: Location
    conversion: str
    conversion_at: Location
    value: str
    replacement: str


# What a rule can propose as a fix (one kind so far).
FixHint = CheckedConversion


@dataclass(frozen=True)
class Edit:
    """Replace the text from (line, col) up to, not including, (end_line, end_col) of
    `file` (1-based; columns count bytes as the compiler does) with `text`."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int
    text: str


@dataclass(frozen=True)
class Fix:
    """A concrete fix: a description and non-overlapping edits, in file order."""

    description: str
    edits: tuple[Edit, ...]


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
    fix: FixHint | None = None

    @property
    def message(self) -> str:
        return self.template.format(**dict(self.args))

    @property
    def text(self) -> str:
        """The message as plain text (no links to related locations)."""
        return plain(self.message)

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
        fix: FixHint | None = None,
        **args: str,
    ) -> Finding:
        return cls(rule, level, template, tuple(sorted((k, str(v)) for k, v in args.items())),
                   location, function, related, trace, fix)


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
    root_path: str = ""  # the source root relative to the checkout's top ('' at the top)


@dataclass(frozen=True)
class RunResult:
    """What the checkers found in one run, before triage."""

    rules: tuple[RuleMeta, ...]
    findings: tuple[Finding, ...]
    notifications: tuple[Notification, ...]
    invocation: Invocation
    extra: Mapping[str, str] = field(default_factory=dict)
    provenance: Provenance | None = None
    category: str = ""  # SARIF automationDetails.id (GitHub's upload category)
    # the `kmeminit: ignore` comments of the analysed files
    suppressions: tuple[SourceSuppression, ...] = ()


# A finding compared with a baseline (SARIF baselineState): `new` (its fingerprint is not
# in the baseline), `unchanged`, `updated` (the fingerprint is, but its level or message
# changed) or `absent` (a baseline result that no longer occurs).
BaselineState = Literal["new", "unchanged", "updated", "absent"]


@dataclass(frozen=True)
class Suppressed:
    """A suppression that applies to a finding: a `kmeminit: ignore` comment (SARIF kind
    `inSource`) or a suppressions file entry (`external`), with where it is written."""

    kind: Literal["inSource", "external"]
    justification: str
    file: str
    line: int


@dataclass(frozen=True)
class TriagedFinding:
    """A finding with what the triage stage decided about it."""

    finding: Finding
    path: str  # relative to the source root ('/' separators), or absolute outside it
    inside: bool  # below the source root: only these become SARIF results
    fingerprint: str  # kmeminit/v1
    line_hash: str | None  # GitHub's primaryLocationLineHash; None if the file is unreadable
    baseline_state: BaselineState | None = None  # None: no baseline given
    suppressions: tuple[Suppressed, ...] = ()  # those that apply, in-source ones first
    fix: Fix | None = None  # the finding's hint made concrete on the source as analysed
    unfixable: str | None = None  # why a hint gave no fix (the code's shape, a stale file)

    @property
    def suppressed(self) -> str | None:
        """The justification of the first suppression that applies, None if none does."""
        return self.suppressions[0].justification if self.suppressions else None

    @property
    def reported(self) -> bool:
        """Shown in text output and counted for the exit code: new (or no baseline given)
        and not suppressed."""
        return self.baseline_state in (None, "new") and not self.suppressions


@dataclass(frozen=True)
class AbsentResult:
    """A baseline result that no longer occurs (GitHub's "fixed"), as the baseline's SARIF
    had it."""

    sarif: Mapping[str, Any]


@dataclass(frozen=True)
class Counts:
    """How many findings a report holds, by what triage decided: the one count every
    format shows.  `new`, `unchanged`, `updated` and `absent` are baseline states (all 0
    without a baseline); `suppressed` counts findings in any state; `reported` those shown
    and counted for the exit code (new, or no baseline, and not suppressed)."""

    findings: int
    reported: int
    new: int
    unchanged: int
    updated: int
    absent: int
    suppressed: int


@dataclass(frozen=True)
class Report:
    """A finished result: what every formatter renders, in the order it is shown.

    `findings` holds every finding of the run, in (path, line, column, rule, message)
    order; `results` is what a code scanning run lists: the findings inside the source root
    and the baseline's results that no longer occur (absent: the baseline file's own SARIF,
    or `kmeminit diff`'s base findings), in that same order (an absent result by its URI).
    `baseline` names what the findings were compared with (a file, a revision), or is empty.
    """

    rules: tuple[RuleMeta, ...]
    findings: tuple[TriagedFinding, ...]
    results: tuple[TriagedFinding | AbsentResult, ...]
    notifications: tuple[Notification, ...]  # sorted
    invocation: Invocation
    extra: Mapping[str, str] = field(default_factory=dict)
    provenance: Provenance | None = None
    category: str = ""
    has_baseline: bool = False
    baseline: str = ""

    @property
    def reported(self) -> tuple[TriagedFinding, ...]:
        return tuple(t for t in self.findings if t.reported)

    @property
    def absent(self) -> tuple[TriagedFinding | AbsentResult, ...]:
        return tuple(r for r in self.results if isinstance(r, AbsentResult)
                     or r.baseline_state == "absent")

    def counts(self) -> Counts:
        states = [t.baseline_state for t in self.findings]
        return Counts(len(self.findings), len(self.reported), states.count("new"),
                      states.count("unchanged"), states.count("updated"), len(self.absent),
                      sum(1 for t in self.findings if t.suppressions))
