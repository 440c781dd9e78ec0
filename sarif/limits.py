"""GitHub code scanning's upload limits, and staying within them.

GitHub rejects uploads beyond its limits (MAX_* below; module constants, read at call
time, so the tests can shrink them).  The writer stays inside them by a deterministic
truncation: results are ranked (reported findings, then unchanged, suppressed and absent
ones; errors before warnings before notes; then the report's order) and the lowest-ranked
are dropped, with a warning notification in the log, also returned for stderr.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Any

from kmeminit.analyzer.model import Level, Notification
from kmeminit.analyzer.results import AbsentResult, TriagedFinding

MAX_RESULTS = 25_000  # per run
MAX_LOCATIONS_PER_RESULT = 1_000  # locations plus relatedLocations
MAX_THREAD_FLOW_LOCATIONS = 10_000  # per result, over all its code flows
MAX_GZIP_BYTES = 10 * 1024 * 1024
MAX_TAGS_PER_RULE = 20
MAX_TRACE_STEPS = 1000  # ours, not GitHub's: a longer trace helps nobody

Result = TriagedFinding | AbsentResult
# A build of the log keeping at most `keep` results (None: all), with a note saying why.
Build = Callable[[int | None, str | None], tuple[Any, str, list[Notification]]]


def _rank(result: Result) -> tuple[int, int]:
    if isinstance(result, AbsentResult):
        level = result.sarif.get("level", "warning")
        return 3, -(Level(level).rank if level in Level._value2member_map_ else 0)
    if result.baseline_state == "absent":
        return 3, -result.finding.level.rank
    state = 2 if result.suppressions else int(not result.reported)
    return state, -result.finding.level.rank


def kept(results: tuple[Result, ...], keep: int | None) -> list[Result]:
    """The highest-ranked results, at most MAX_RESULTS and `keep`, in the report's order."""
    limit = min(MAX_RESULTS, len(results) if keep is None else keep)
    if limit >= len(results):
        return list(results)
    ranked = sorted(range(len(results)), key=lambda i: (*_rank(results[i]), i))
    return [results[i] for i in sorted(ranked[:limit])]


def too_many_results(total: int, keep: int | None) -> str | None:
    """The warning when a run has more results than GitHub accepts."""
    if total <= MAX_RESULTS:
        return None
    limit = min(MAX_RESULTS, total if keep is None else keep)
    return (f"GitHub code scanning accepts at most {MAX_RESULTS} results per run: kept "
            f"{limit} of {total} (new findings first, then errors, warnings, notes, by "
            "path and line)")


def gzip_size(text: str) -> int:
    return len(gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0))


def within_size(build: Build) -> tuple[Any, str, list[Notification]]:
    """The log (JSON-ready), its text and its limit notes, with as many results dropped as
    it takes to stay within MAX_GZIP_BYTES gzipped."""
    log, text, notes = build(None, None)
    # Uncompressed size bounds the compressed one: only a big log needs gzipping to check.
    if len(text.encode("utf-8")) <= MAX_GZIP_BYTES:
        return log, text, notes
    total, size = len(log["runs"][0]["results"]), gzip_size(text)
    keep = total
    while size > MAX_GZIP_BYTES and keep > 0:
        keep = min(keep - 1, int(keep * MAX_GZIP_BYTES / size * 0.95))
        note = (f"the SARIF file would exceed GitHub's limit of {MAX_GZIP_BYTES} bytes "
                f"gzipped: kept {keep} of {total} results (new findings first, then errors, "
                "warnings, notes, by path and line)")
        log, text, notes = build(keep, note)
        size = gzip_size(text)
    return log, text, notes
