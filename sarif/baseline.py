"""Baselines: compare a run with an earlier SARIF file by `kmeminit/v1` fingerprint.

Findings whose fingerprint the baseline holds are `unchanged`, the others `new`; the
baseline's results that no longer occur come back as `absent` (GitHub's "fixed").  Results
the baseline itself marked absent are history, not part of it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kmeminit.analyzer.results import RunResult
from kmeminit.sarif.fingerprints import FINGERPRINT_KEY
from kmeminit.sarif.paths import SourceTree


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


def apply_baseline(result: RunResult, baseline: Mapping[str, Mapping[str, Any]],
                   tree: SourceTree | None = None) -> RunResult:
    """`result` with its triage telling new from unchanged findings, plus the absent ones."""
    tree = tree or SourceTree.of(result)
    states = {}
    for finding in result.findings:
        fingerprint = tree.fingerprint(finding)
        states[fingerprint] = "unchanged" if fingerprint in baseline else "new"
    absent = tuple(baseline[fp] for fp in sorted(baseline) if fp not in states)
    triage = dataclasses.replace(result.triage, baseline=states, absent=absent)
    return dataclasses.replace(result, triage=triage)


__all__ = ["BaselineError", "apply_baseline", "read_baseline"]
