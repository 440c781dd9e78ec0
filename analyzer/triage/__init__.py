"""The triage stage: the checkers' result in, a finished `Report` out.

Between the checkers and the formatters, this is where a finding gets its identity: its
display path, its `kmeminit/v1` fingerprint and GitHub's line hash (from the source lines
as analysed, read here and nowhere else), what the baseline says about it (a baseline
file, or `kmeminit diff`'s base revision), the suppressions that apply, and its fix hint
made concrete on that source (fixes.py).  Findings and notifications are sorted here,
once; formatters render the report in the order it comes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from kmeminit.analyzer.model import Notification, replace
from kmeminit.analyzer.paths import SourceTree
from kmeminit.analyzer.results import (
    AbsentResult,
    BaselineState,
    Finding,
    Fix,
    Report,
    RunResult,
    Suppressed,
    TriagedFinding,
)
from kmeminit.analyzer.triage import baseline as baselines
from kmeminit.analyzer.triage.baseline import Baseline
from kmeminit.analyzer.triage.fingerprints import kmeminit_fingerprint
from kmeminit.analyzer.triage.fixes import Fixer, NoFix
from kmeminit.analyzer.triage.sources import Sources
from kmeminit.analyzer.triage.suppressions import Candidate, Suppression, apply_suppressions


@dataclasses.dataclass(frozen=True)
class BaseRun:
    """`kmeminit diff`'s base revision: its findings, the contents of the files that differ
    there from the disk (absolute path -> bytes), and its name as the user gave it."""

    findings: tuple[Finding, ...]
    overlay: Mapping[str, bytes]
    label: str


@dataclasses.dataclass(frozen=True)
class TriageInputs:
    """What the stage compares a run with, besides its source root.

    The findings are compared with `baseline` (a SARIF file, named `baseline_label`) or
    with `base` (`kmeminit diff`'s base revision), not both.  `overlay` holds the contents
    of files as analysed where they differ from the disk (absolute path -> bytes):
    `kmeminit diff --head REV` analyses a revision that is not checked out.
    `report_unused` is False when only part of the tree was analysed, so a suppression
    that matches nothing proves nothing.  `line_hashes`: GitHub's primaryLocationLineHash
    of each finding is computed (only SARIF carries it; it hashes each file up to its last
    finding, a tenth of a `diff`).
    """

    baseline: Baseline | None = None
    suppressions: tuple[Suppression, ...] | None = None
    overlay: Mapping[str, bytes] = dataclasses.field(default_factory=dict)
    base: BaseRun | None = None
    report_unused: bool = True
    today: dt.date = dataclasses.field(default_factory=dt.date.today)
    baseline_label: str = "the baseline"
    line_hashes: bool = True


class _Identity(NamedTuple):
    finding: Finding
    path: str
    inside: bool
    fingerprint: str
    line_hash: str | None
    fix: Fix | None = None
    unfixable: str | None = None


def _fingerprint(finding: Finding, tree: SourceTree, sources: Sources) -> tuple[str, str]:
    """The finding's display path and its fingerprint (which hashes that path)."""
    loc = finding.location
    path = tree.display(loc.file)
    return path, kmeminit_fingerprint(finding, path, sources.line(loc.file, loc.line))


def _identify(findings: Iterable[Finding], tree: SourceTree, sources: Sources,
              hashes: bool = True) -> list[_Identity]:
    out = []
    fixer = Fixer(sources)
    findings = list(findings)
    if hashes:
        for finding in findings:
            sources.expect(finding.location.file, finding.location.line)
    for finding in findings:
        loc = finding.location
        path, fingerprint = _fingerprint(finding, tree, sources)
        fix, why = _fix(finding, fixer)
        out.append(_Identity(finding, path, tree.relpath(loc.file) is not None, fingerprint,
                             sources.line_hash(loc.file, loc.line) if hashes else None, fix,
                             why))
    return out


def _fix(finding: Finding, fixer: Fixer) -> tuple[Fix | None, str | None]:
    if finding.fix is None:
        return None, None
    try:
        return fixer.fix(finding.fix), None
    except NoFix as exc:
        return None, str(exc)


def fingerprints(findings: Iterable[Finding], root: str,
                 overlay: Mapping[str, bytes] | None = None) -> list[str]:
    """The `kmeminit/v1` fingerprint of each finding, from the source lines below `root`
    as analysed (`overlay`: contents that differ from the disk)."""
    tree, sources = SourceTree(root), Sources(root, overlay)
    return [_fingerprint(f, tree, sources)[1] for f in findings]


def _order(item: TriagedFinding) -> tuple[str, int, int, str, str]:
    loc = item.finding.location
    return item.path, loc.line, loc.col, item.finding.rule, item.finding.message


def _place(result: TriagedFinding | AbsentResult) -> tuple[str, int, int, str, str]:
    return baselines.where(result.sarif) if isinstance(result, AbsentResult) else _order(result)


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
        out.append(replace(same[0], tu=tus[0] if tus else None,
                           count=sum(n.count for n in same), tus=len(tus)))
    return out


def sorted_notifications(notifications: Iterable[Notification]) -> list[Notification]:
    # Workers finish in any order; sorting makes two runs over the same tree identical.
    return sorted(notifications, key=lambda n: (n.file or "", n.line or 0, n.rule or "",
                                                n.level.rank, n.message))


def _suppress(found: Sequence[_Identity], result: RunResult, inputs: TriageInputs
              ) -> tuple[list[tuple[Suppressed, ...]], list[Notification]]:
    real: dict[str, str] = {}

    def resolved(file: str) -> str:
        if file not in real:
            real[file] = os.path.realpath(file)
        return real[file]

    candidates = [Candidate(i.fingerprint, i.finding.rule, i.path, i.finding.function,
                            resolved(i.finding.location.file), i.finding.location.line)
                  for i in found]
    return apply_suppressions(inputs.suppressions or (), candidates, inputs.today,
                              inputs.report_unused, result.suppressions)


def _states(found: Sequence[_Identity], base: Sequence[_Identity] | None,
            inputs: TriageInputs) -> list[BaselineState | None]:
    """Each finding's baseline state: against the baseline file, or the base revision (the
    same fingerprint with the same level and message is unchanged, else updated)."""
    if inputs.baseline is not None:
        return [baselines.state(inputs.baseline, i.fingerprint, i.finding) for i in found]
    if base is None:
        return [None] * len(found)
    known: dict[str, set[tuple[str, str]]] = {}
    for b in base:
        known.setdefault(b.fingerprint, set()).add((b.finding.level.value, b.finding.message))
    return ["new" if i.fingerprint not in known
            else "unchanged" if (i.finding.level.value, i.finding.message) in known[i.fingerprint]
            else "updated" for i in found]


def _absent(found: Sequence[_Identity], base: Sequence[_Identity] | None,
            inputs: TriageInputs) -> list[TriagedFinding | AbsentResult]:
    """The baseline's results whose fingerprint no finding has."""
    present = {i.fingerprint for i in found}
    if inputs.baseline is not None:
        return list(baselines.absent_results(inputs.baseline, present))
    gone = [TriagedFinding(b.finding, b.path, b.inside, b.fingerprint, b.line_hash, "absent")
            for b in base or () if b.fingerprint not in present]
    return sorted((g for g in gone if g.inside), key=_order)


def _results(findings: Sequence[TriagedFinding],
             absent: Sequence[TriagedFinding | AbsentResult]
             ) -> tuple[TriagedFinding | AbsentResult, ...]:
    """The findings inside the source root and the absent results, merged by place; at
    the same place a result that still occurs comes first."""
    merged = heapq.merge(((_order(t), 0, t) for t in findings if t.inside),
                         ((_place(a), 1, a) for a in absent),
                         key=lambda entry: entry[:2])
    return tuple(result for _, _, result in merged)


def triage(result: RunResult, inputs: TriageInputs | None = None) -> Report:
    """The finished report of `result`, its paths relative to its invocation's source root."""
    inputs = inputs or TriageInputs()
    if inputs.baseline is not None and inputs.base is not None:
        raise ValueError("a run is compared with a baseline file or a base revision, not both")
    root = result.invocation.source_root
    tree = SourceTree(root)
    hashes = inputs.line_hashes
    found = _identify(result.findings, tree, Sources(root, inputs.overlay), hashes)
    base = None
    if inputs.base is not None:
        base = _identify(inputs.base.findings, tree, Sources(root, inputs.base.overlay),
                         hashes)
    applied, notes = _suppress(found, result, inputs)
    findings = sorted((TriagedFinding(i.finding, i.path, i.inside, i.fingerprint, i.line_hash,
                                      state, suppressed, i.fix, i.unfixable)
                       for i, state, suppressed in zip(found, _states(found, base, inputs),
                                                       applied, strict=True)), key=_order)
    compared = inputs.baseline is not None or base is not None
    label = inputs.base.label if inputs.base is not None else inputs.baseline_label
    return Report(result.rules, tuple(findings),
                  _results(findings, _absent(found, base, inputs)),
                  tuple(sorted_notifications(folded_notifications(
                      result.notifications + tuple(notes)))),
                  result.invocation, result.extra, result.provenance, result.category,
                  has_baseline=compared, baseline=label if compared else "")


__all__ = ["BaseRun", "TriageInputs", "fingerprints", "folded_notifications",
           "sorted_notifications", "triage"]
