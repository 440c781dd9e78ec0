"""A finished result (analyzer.results.Report) -> the SARIF file, within GitHub's limits.

The log is built once, as sarif-om objects (sarif/builder.py), serialised by one walk
(sarif/serialise.py), and rebuilt with fewer results only when its gzipped size is beyond
GitHub's limit (sarif/limits.py).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kmeminit.analyzer.model import Notification
from kmeminit.analyzer.results import Report
from kmeminit.sarif import limits
from kmeminit.sarif.builder import build_log
from kmeminit.sarif.serialise import dumps, to_json


@dataclass(frozen=True)
class SarifFile:
    """The log as JSON-ready data, its text, and the warnings about what GitHub's limits
    made it drop (already in the log; for stderr)."""

    log: dict[str, Any]
    text: str
    notes: list[Notification]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """A log holds some thirty objects per result and not one reference cycle: refcounting
    frees them all, and the cyclic collector's passes over them cost several times more
    than building them (bench/sarif.py, 25,000 traced results: building and walking the
    log take 6.3 s with the collector, 1.2 s without)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build_sarif(report: Report) -> SarifFile:
    def build(keep: int | None, size_note: str | None
              ) -> tuple[dict[str, Any], str, list[Notification]]:
        log, notes = build_log(report, keep, size_note)
        data = to_json(log)
        return data, dumps(data), notes

    with _collector_paused():
        return SarifFile(*limits.within_size(build))


def to_sarif(report: Report) -> dict[str, Any]:
    """The SARIF log as JSON-ready data."""
    return build_sarif(report).log
