"""The triage stage: the checkers' result in, a finished `Report` out.

Between the checkers and the formatters, this is where a finding gets its identity: its
display path, its `kmeminit/v1` fingerprint and GitHub's line hash (from the source lines
as analysed, read here and nowhere else), what the baseline says about it and the
suppression that applies.  Findings and notifications are sorted here, once; formatters
render the report in the order it comes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from kmeminit.analyzer.model import Notification
from kmeminit.analyzer.paths import SourceTree
from kmeminit.analyzer.results import (
    AbsentResult,
    Finding,
    Report,
    RunResult,
    TriagedFinding,
)
from kmeminit.analyzer.triage import baseline as baselines
from kmeminit.analyzer.triage.baseline import Baseline
from kmeminit.analyzer.triage.fingerprints import kmeminit_fingerprint
from kmeminit.analyzer.triage.sources import Sources
from kmeminit.analyzer.triage.suppressions import Candidate, Suppression, apply_suppressions


@dataclasses.dataclass(frozen=True)
class TriageInputs:
    """What the stage compares a run with, besides its source root.

    `overlay` holds the contents of files as analysed where they differ from the disk
    (absolute path -> bytes): `kmeminit diff --head REV` analyses a revision that is not
    checked out.  `base` holds the fingerprints of the findings of `kmeminit diff`'s base
    revision: findings that have one are left out.  `report_unused` is False when only
    part of the tree was analysed, so an unmatched suppression proves nothing.
    """

    baseline: Baseline | None = None
    suppressions: tuple[Suppression, ...] | None = None
    overlay: Mapping[str, bytes] = dataclasses.field(default_factory=dict)
    base: frozenset[str] = frozenset()
    report_unused: bool = True
    today: dt.date = dataclasses.field(default_factory=dt.date.today)


class _Identity(NamedTuple):
    finding: Finding
    path: str
    inside: bool
    fingerprint: str
    line_hash: str | None


def _fingerprint(finding: Finding, tree: SourceTree, sources: Sources) -> tuple[str, str]:
    """The finding's display path and its fingerprint (which hashes that path)."""
    loc = finding.location
    path = tree.display(loc.file)
    return path, kmeminit_fingerprint(finding, path, sources.line(loc.file, loc.line))


def _identify(findings: Iterable[Finding], tree: SourceTree, sources: Sources
              ) -> list[_Identity]:
    out = []
    for finding in findings:
        loc = finding.location
        path, fingerprint = _fingerprint(finding, tree, sources)
        out.append(_Identity(finding, path, tree.relpath(loc.file) is not None, fingerprint,
                             sources.line_hash(loc.file, loc.line)))
    return out


def fingerprints(findings: Iterable[Finding], root: str,
                 overlay: Mapping[str, bytes] | None = None) -> list[str]:
    """The `kmeminit/v1` fingerprint of each finding, from the source lines below `root`
    as analysed (`overlay`: contents that differ from the disk)."""
    tree, sources = SourceTree(root), Sources(root, overlay)
    return [_fingerprint(f, tree, sources)[1] for f in findings]


def _order(item: TriagedFinding) -> tuple[str, int, int, str, str]:
    loc = item.finding.location
    return item.path, loc.line, loc.col, item.finding.rule, item.finding.message


def folded_notifications(notifications: Iterable[Notification]) -> list[Notification]:
    """Repeats as one notification with a count: a header diagnostic every TU that
    includes the header reports, a flag clang ignores in every TU.  The folded one names
    the first TU (by path) that said it and how many did."""
    groups: dict[tuple, list[Notification]] = {}
    for note in notifications:
        key = (note.level, note.message, note.file, note.line, note.rule, note.kind)
        groups.setdefault(key, []).append(note)
    out = []
    for same in groups.values():
        if len(same) == 1:
            out.append(same[0])
            continue
        tus = sorted({n.tu for n in same if n.tu})
        out.append(dataclasses.replace(same[0], tu=tus[0] if tus else None,
                                       count=sum(n.count for n in same), tus=len(tus)))
    return out


def sorted_notifications(notifications: Iterable[Notification]) -> list[Notification]:
    # Workers finish in any order; sorting makes two runs over the same tree identical.
    return sorted(notifications, key=lambda n: (n.file or "", n.line or 0, n.rule or "",
                                                n.level.rank, n.message))


def _suppress(found: Sequence[_Identity], inputs: TriageInputs
              ) -> tuple[list[str | None], list[Notification]]:
    if inputs.suppressions is None:
        return [None] * len(found), []
    candidates = [Candidate(i.fingerprint, i.finding.rule, i.path, i.finding.function)
                  for i in found]
    return apply_suppressions(inputs.suppressions, candidates, inputs.today,
                              inputs.report_unused)


def _decide(found: Sequence[_Identity], inputs: TriageInputs
            ) -> tuple[list[TriagedFinding], list[Notification]]:
    """Each finding with its baseline state and suppression, in report order; and the
    notifications about the suppressions file."""
    reasons, notes = _suppress(found, inputs)
    baseline = inputs.baseline
    findings = [TriagedFinding(i.finding, i.path, i.inside, i.fingerprint, i.line_hash,
                               baselines.state(baseline, i.fingerprint)
                               if baseline is not None else None, reason)
                for i, reason in zip(found, reasons, strict=True)]
    return sorted(findings, key=_order), notes


def _results(findings: Sequence[TriagedFinding], absent: Sequence[AbsentResult]
             ) -> tuple[TriagedFinding | AbsentResult, ...]:
    """The findings inside the source root and the absent results, merged by place; at
    the same place a result that still occurs comes first."""
    merged = heapq.merge(((_order(t), 0, t) for t in findings if t.inside),
                         ((baselines.where(a.sarif), 1, a) for a in absent),
                         key=lambda entry: entry[:2])
    return tuple(result for _, _, result in merged)


def triage(result: RunResult, inputs: TriageInputs | None = None) -> Report:
    """The finished report of `result`, its paths relative to its invocation's source root."""
    inputs = inputs or TriageInputs()
    root = result.invocation.source_root
    identified = _identify(result.findings, SourceTree(root), Sources(root, inputs.overlay))
    found = [i for i in identified if i.fingerprint not in inputs.base]
    findings, notes = _decide(found, inputs)
    absent: list[AbsentResult] = []
    if inputs.baseline is not None:
        absent = baselines.absent_results(inputs.baseline, {i.fingerprint for i in found})
    return Report(result.rules, tuple(findings), _results(findings, absent),
                  tuple(sorted_notifications(folded_notifications(
                      result.notifications + tuple(notes)))),
                  result.invocation, result.extra, result.provenance, result.category,
                  has_baseline=inputs.baseline is not None)


__all__ = ["TriageInputs", "fingerprints", "folded_notifications", "sorted_notifications",
           "triage"]
