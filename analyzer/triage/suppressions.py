"""Suppressions: a suppressions file at the top of the source tree, and `kmeminit: ignore`
comments in the source.

    # kmeminit-suppressions.yaml (the old name .kmeminit-suppressions.yaml still works)
    suppressions:
      - fingerprint: "3b0f...e1"        # kmeminit/v1, from the SARIF or JSON output
        reason: pgmap is live here, checked by the caller
      - rule: KMI003                    # a rule alone: every KMI003 finding
        reason: reviewed for this tree; see the thread of 2026-03-02
        expires: 2026-06-30             # optional: reported again from the next day on
      - rule: KMI007
        path: drivers/staging/*         # relative to the source root; a glob, or a directory/
        function: "*_show"              # a glob too
        reason: sysfs readers of online memory blocks

    /* kmeminit: ignore KMI003 memmap initialised by move_pfn_range_to_zone() first */

An entry names a fingerprint, or any of rule, path and function (each it names must
match).  A reason is mandatory, an expiry optional.  A comment suppresses the findings of
the rules it names on its own line (when code shares the line) or on the next.  Suppressed
findings stay in SARIF (`suppressions` of kind `external` or `inSource`, with the reason)
but out of the text output and the exit code.  Entries and comments that suppress nothing,
and expired entries, are reported as notifications naming their line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from kmeminit.analyzer.config import ConfigError, load_yaml
from kmeminit.analyzer.model import BAD_INPUT, Level, Notification, SourceSuppression
from kmeminit.analyzer.results import Suppressed

# Not a dot file: the kernel's .gitignore ignores `.*`, so git would refuse to add it.
SUPPRESSIONS_FILE = "kmeminit-suppressions.yaml"
OLD_SUPPRESSIONS_FILE = ".kmeminit-suppressions.yaml"
_KEYS = ("fingerprint", "rule", "path", "function", "reason", "expires")
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
_RULE = re.compile(r"[A-Za-z][A-Za-z0-9]*[0-9]{3}")


@dataclasses.dataclass(frozen=True)
class Suppression:
    """One entry of a suppressions file; the patterns it does not give match anything."""

    file: str
    line: int
    reason: str
    fingerprint: str | None = None
    rule: str | None = None
    path: str | None = None  # glob over the path relative to the source root
    function: str | None = None  # glob over the enclosing function's name
    expires: dt.date | None = None

    def matches(self, fingerprint: str, rule: str, path: str, function: str | None) -> bool:
        if self.fingerprint is not None:
            return self.fingerprint == fingerprint
        return ((self.rule is None or self.rule == rule)
                and (self.path is None or path_matches(self.path, path))
                and (self.function is None
                     or fnmatch.fnmatchcase(function or "", self.function)))

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and today > self.expires


def path_matches(pattern: str, path: str) -> bool:
    """A glob over the whole relative path (`*` crosses `/`); a pattern ending in `/`
    names a directory and matches everything below it."""
    pattern = pattern.removeprefix("./")
    if pattern.endswith("/"):
        return path.startswith(pattern) or fnmatch.fnmatchcase(path, pattern + "*")
    return fnmatch.fnmatchcase(path, pattern)


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
            raise ConfigError(f"{where}: give either 'fingerprint' or any of 'rule', 'path' "
                              "and 'function', not both")
        if not _FINGERPRINT.fullmatch(item["fingerprint"]):
            raise ConfigError(f"{path}:{_line(origins, *key, 'fingerprint')}: 'fingerprint' "
                              "must be a kmeminit/v1 fingerprint (64 hex digits)")
    elif not by_place:
        raise ConfigError(f"{where}: a suppression needs 'fingerprint', or any of 'rule', "
                          "'path' and 'function'")
    if "rule" in item and not _RULE.fullmatch(item["rule"].strip()):
        raise ConfigError(f"{path}:{_line(origins, *key, 'rule')}: 'rule' must be a rule "
                          f"id such as KMI003, got {item['rule']!r}")
    expires = None
    if "expires" in item:
        expires = _expiry(item["expires"], f"{path}:{_line(origins, *key, 'expires')}")
    rule = item.get("rule")
    return Suppression(str(path), line, item["reason"].strip(), item.get("fingerprint"),
                       rule.strip().upper() if rule else None, item.get("path"),
                       item.get("function"), expires)


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


def find_suppressions_file(root: str, toplevel: str | None) -> Path | None:
    """The suppressions file of a tree: in the source root, else at the top of the git
    checkout holding it; ConfigError when one directory holds both the new and the old
    name (which one is meant?)."""
    for directory in dict.fromkeys(d for d in (root, toplevel) if d):
        new, old = Path(directory) / SUPPRESSIONS_FILE, Path(directory) / OLD_SUPPRESSIONS_FILE
        if new.is_file() and old.is_file():
            raise ConfigError(f"{old}: both {SUPPRESSIONS_FILE} and {OLD_SUPPRESSIONS_FILE} "
                              f"exist in {directory}; keep one (git refuses to add the dot file "
                              "in a kernel tree)")
        for candidate in (new, old):
            if candidate.is_file():
                return candidate
    return None


class Candidate(NamedTuple):
    """What a suppression can match a finding by."""

    fingerprint: str
    rule: str
    path: str  # as the user sees it: relative to the source root
    function: str | None
    file: str  # absolute and symlink-resolved, as a comment records it
    line: int


def _comment_notes(comments: Iterable[SourceSuppression], used: set[SourceSuppression],
                   report_unused: bool) -> list[Notification]:
    notes = []
    for c in comments:
        if c.error:
            notes.append(Notification(Level.ERROR, f"malformed suppression comment: {c.error}",
                                      c.file, c.line, kind=BAD_INPUT))
        elif report_unused and c not in used:
            notes.append(Notification(
                Level.NOTE, f"'kmeminit: ignore {','.join(c.rules)}' suppresses nothing on "
                f"line {c.target}; remove it if the finding is gone", c.file, c.line))
    return notes


def apply_suppressions(entries: Sequence[Suppression], findings: Sequence[Candidate],
                       today: dt.date, report_unused: bool = True,
                       comments: Sequence[SourceSuppression] = ()
                       ) -> tuple[list[tuple[Suppressed, ...]], list[Notification]]:
    """The suppressions that apply to each finding (comments first, then the first file
    entry that matches), and the notifications: malformed comments (errors, exit 2), expired
    entries, and (when `report_unused`, i.e. the whole tree was analysed) entries and
    comments that suppress nothing.  Expired entries suppress nothing."""
    active = [e for e in entries if not e.expired(today)]
    at: dict[tuple[str, int], list[SourceSuppression]] = {}
    for c in comments:
        if not c.error:
            at.setdefault((os.path.realpath(c.file), c.target), []).append(c)
    used: set[Suppression] = set()
    used_comments: set[SourceSuppression] = set()
    applied: list[tuple[Suppressed, ...]] = []
    for finding in findings:
        here = [c for c in at.get((finding.file, finding.line), ()) if finding.rule in c.rules]
        used_comments.update(here)
        found = [Suppressed("inSource", c.reason, c.file, c.line) for c in here]
        entry = next((e for e in active if e.matches(*finding[:4])), None)
        if entry is not None:
            used.add(entry)
            found.append(Suppressed("external", entry.reason, entry.file, entry.line))
        applied.append(tuple(found))
    notes = [Notification(Level.WARNING, f"suppression expired on {e.expires.isoformat()} "
                          f"and no longer applies (reason was: {e.reason})", e.file, e.line)
             for e in entries if e.expired(today)]
    if report_unused:
        notes += [Notification(Level.NOTE, "suppression matches no finding; remove it if the "
                               "finding is gone", e.file, e.line)
                  for e in active if e not in used]
    notes += _comment_notes(comments, used_comments, report_unused)
    return applied, notes


__all__ = ["OLD_SUPPRESSIONS_FILE", "SUPPRESSIONS_FILE", "Candidate", "Suppression",
           "apply_suppressions", "find_suppressions_file", "load_suppressions", "path_matches"]
