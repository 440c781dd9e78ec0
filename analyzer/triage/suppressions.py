"""Suppressions: `.kmeminit-suppressions.yaml` at the top of the source tree.

    suppressions:
      - fingerprint: "3b0f...e1"        # kmeminit/v1, from the SARIF or JSON output
        reason: pgmap is live here, checked by the caller
      - rule: KMI003
        path: mm/memremap.c             # relative to the source root; glob patterns allowed
        function: pagemap_range
        reason: memmap initialised by move_pfn_range_to_zone() first
        expires: 2026-06-30             # optional: reported again from the next day on

A reason is mandatory.  Suppressed findings stay in SARIF (with a `suppressions` entry of
kind `external` carrying the reason) but out of the text output and the exit code.  Entries
that match nothing, and expired ones, are reported as notifications naming their line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from kmeminit.analyzer.config import ConfigError, load_yaml
from kmeminit.analyzer.model import Level, Notification

SUPPRESSIONS_FILE = ".kmeminit-suppressions.yaml"
_KEYS = ("fingerprint", "rule", "path", "function", "reason", "expires")
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


@dataclasses.dataclass(frozen=True)
class Suppression:
    file: str
    line: int
    reason: str
    fingerprint: str | None = None
    rule: str | None = None
    path: str | None = None
    function: str | None = None
    expires: dt.date | None = None

    def matches(self, fingerprint: str, rule: str, path: str, function: str | None) -> bool:
        if self.fingerprint is not None:
            return self.fingerprint == fingerprint
        return (self.rule == rule and function == self.function
                and fnmatch.fnmatchcase(path, self.path or ""))

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and today > self.expires


def _line(origins: dict[tuple[str, ...], str], *key: str) -> int:
    where = origins.get(key, "")
    _, _, line = where.rpartition(":")
    return int(line) if line.isdigit() else 1


def _expiry(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{where}: 'expires' must be a date (YYYY-MM-DD), got {value!r}"
                          ) from None


def _entry(path: Path, item: Any, index: int, origins: dict) -> Suppression:
    key = ("suppressions", f"[{index}]")
    line = _line(origins, *key)
    where = f"{path}:{line}"
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: a suppression must be a mapping")
    for name in item:
        if name not in _KEYS:
            raise ConfigError(f"{path}:{_line(origins, *key, name)}: unknown key '{name}' in "
                              f"a suppression (expected one of: {', '.join(_KEYS)})")
    for name, value in item.items():
        if name != "expires" and not (isinstance(value, str) and value.strip()):
            hint = " (quote it)" if isinstance(value, (int, float)) else ""
            raise ConfigError(f"{path}:{_line(origins, *key, name)}: '{name}' must be a "
                              f"non-empty string{hint}")
    if "reason" not in item:
        raise ConfigError(f"{where}: a suppression needs a 'reason'")
    by_place = [k for k in ("rule", "path", "function") if k in item]
    if "fingerprint" in item:
        if by_place:
            raise ConfigError(f"{where}: give either 'fingerprint' or 'rule', 'path' and "
                              "'function', not both")
        if not _FINGERPRINT.fullmatch(item["fingerprint"]):
            raise ConfigError(f"{path}:{_line(origins, *key, 'fingerprint')}: 'fingerprint' "
                              "must be a kmeminit/v1 fingerprint (64 hex digits)")
    elif len(by_place) != 3:
        raise ConfigError(f"{where}: a suppression needs 'fingerprint', or all of 'rule', "
                          "'path' and 'function'")
    expires = None
    if "expires" in item:
        expires = _expiry(item["expires"], f"{path}:{_line(origins, *key, 'expires')}")
    rule = item.get("rule")
    return Suppression(str(path), line, item["reason"].strip(), item.get("fingerprint"),
                       rule.upper() if rule else None, item.get("path"), item.get("function"),
                       expires)


def load_suppressions(path: Path) -> list[Suppression]:
    """The entries of a suppressions file; ConfigError (file:line) when it is malformed."""
    data, origins = load_yaml(path)
    if not data:
        return []
    unknown = [k for k in data if k != "suppressions"]
    if unknown:
        raise ConfigError(f"{path}:{_line(origins, unknown[0])}: unknown key '{unknown[0]}' "
                          "(expected: suppressions)")
    items = data["suppressions"]
    if items is None:
        return []
    if not isinstance(items, list):
        raise ConfigError(f"{path}:{_line(origins, 'suppressions')}: 'suppressions' must be "
                          "a list")
    return [_entry(path, item, i, origins) for i, item in enumerate(items)]


class Candidate(NamedTuple):
    """What a suppression entry can match a finding by."""

    fingerprint: str
    rule: str
    path: str  # as the user sees it: relative to the source root
    function: str | None


def apply_suppressions(entries: Sequence[Suppression], findings: Sequence[Candidate],
                       today: dt.date, report_unused: bool = True
                       ) -> tuple[list[str | None], list[Notification]]:
    """The justification suppressing each finding (None: not suppressed), and a
    notification per expired entry and (when `report_unused`, i.e. the whole tree was
    analysed) per entry that matched nothing.  Expired entries suppress nothing."""
    active = [e for e in entries if not e.expired(today)]
    used: set[Suppression] = set()
    reasons: list[str | None] = []
    for finding in findings:
        entry = next((e for e in active if e.matches(*finding)), None)
        if entry is not None:
            used.add(entry)
        reasons.append(entry.reason if entry is not None else None)
    notes = [Notification(Level.WARNING, f"suppression expired on {e.expires.isoformat()} "
                          f"and no longer applies (reason was: {e.reason})", e.file, e.line)
             for e in entries if e.expired(today)]
    if report_unused:
        notes += [Notification(Level.NOTE, "suppression matches no finding; remove it if the "
                               "finding is gone", e.file, e.line)
                  for e in active if e not in used]
    return reasons, notes


__all__ = ["SUPPRESSIONS_FILE", "Candidate", "Suppression", "apply_suppressions",
           "load_suppressions"]
