"""Baselines: compare a run with an earlier SARIF file by `kmeminit/v1` fingerprint.

Findings whose fingerprint the baseline holds are `unchanged`, or `updated` when their
level or message differs from the baseline's; the others are `new`; the baseline's results
that no longer occur come back as `absent` (GitHub's "fixed").  Results the baseline itself
marked absent are history, not part of it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Set
from pathlib import Path
from typing import Any

from kmeminit.analyzer.results import AbsentResult, BaselineState, Finding
from kmeminit.analyzer.triage.fingerprints import FINGERPRINT_KEY

Baseline = Mapping[str, Mapping[str, Any]]  # SARIF results by kmeminit/v1 fingerprint


class BaselineError(Exception):
    """An unusable baseline file; str() is one line naming the file (and line)."""


def read_baseline(path: Path) -> dict[str, Mapping[str, Any]]:
    """The baseline's results by `kmeminit/v1` fingerprint (later results win)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read baseline: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BaselineError(f"{path}: baseline is not UTF-8 text") from None
    try:
        log = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}:{exc.lineno}: baseline is not valid JSON: {exc.msg}"
                            ) from None
    runs = log.get("runs") if isinstance(log, dict) else None
    if not isinstance(runs, list):
        raise BaselineError(f"{path}: baseline is not a SARIF log (no 'runs' array)")
    out: dict[str, Mapping[str, Any]] = {}
    for r, run in enumerate(runs):
        results = run.get("results", []) if isinstance(run, dict) else None
        if not isinstance(results, list):
            raise BaselineError(f"{path}: run {r} of the baseline has no 'results' array")
        for i, res in enumerate(results):
            prints = res.get("partialFingerprints") if isinstance(res, dict) else None
            fingerprint = prints.get(FINGERPRINT_KEY) if isinstance(prints, dict) else None
            if not isinstance(fingerprint, str):
                raise BaselineError(f"{path}: result {i} of run {r} has no {FINGERPRINT_KEY} "
                                    "fingerprint (not written by kmeminit?)")
            if res.get("baselineState") != "absent":
                out[fingerprint] = res
    return out


# The SARIF writer adds the related locations a message does not link to as a second
# sentence (sarif/builder.py): the message the finding had is what comes before it.
_SEE_ALSO = (" See also [", ". See also [")


def _same_message(sarif_text: str, message: str) -> bool:
    if sarif_text == message:
        return True
    rest = sarif_text[len(message.rstrip()):] if sarif_text.startswith(message.rstrip()) else ""
    return rest.startswith(_SEE_ALSO)


def state(baseline: Baseline, fingerprint: str, finding: Finding) -> BaselineState:
    old = baseline.get(fingerprint)
    if old is None:
        return "new"
    message = old.get("message")
    text = message.get("text", "") if isinstance(message, dict) else ""
    if old.get("level", "warning") == finding.level.value and _same_message(text,
                                                                          finding.message):
        return "unchanged"
    return "updated"


def absent_results(baseline: Baseline, present: Set[str]) -> list[AbsentResult]:
    """The baseline's results whose fingerprint is not `present`, in (URI, line, column,
    rule, message) order (by fingerprint where those are equal)."""
    gone = [AbsentResult(baseline[fp]) for fp in sorted(baseline) if fp not in present]
    return sorted(gone, key=lambda a: where(a.sarif))


def where(result: Mapping[str, Any]) -> tuple[str, int, int, str, str]:
    """A SARIF result's (URI, line, column, rule, message), for ordering; what it lacks, or
    holds in a shape kmeminit never writes, is empty or 0."""
    try:
        physical = result["locations"][0]["physicalLocation"]
        region = physical.get("region", {})
        uri, line, col = (str(physical["artifactLocation"]["uri"]),
                          int(region.get("startLine", 0)), int(region.get("startColumn", 0)))
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        uri, line, col = "", 0, 0
    message = result.get("message")
    text = message.get("text", "") if isinstance(message, dict) else ""
    return uri, line, col, str(result.get("ruleId", "")), str(text)


__all__ = ["Baseline", "BaselineError", "absent_results", "read_baseline", "state", "where"]
