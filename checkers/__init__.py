"""Loading and running checkers: the built-ins listed below plus plugins registered in the
`kmeminit.checkers` entry-point group (value: `package.module:CheckerClass`).

A broken plugin or a crashing checker becomes a Notification naming it; the run goes on.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any

from kmeminit.analyzer.model import Level, Notification
from kmeminit.analyzer.results import Finding
from kmeminit.checkers.base import COMMON_RULE_KEYS, Checker, checker_problems, rule_meta

ENTRY_POINT_GROUP = "kmeminit.checkers"

# BUILTIN_CHECKERS is defined at the end of this file: the rule modules import helpers
# from this package, so they are imported once everything above exists.


class CheckerError(Exception):
    """A built-in checker is malformed: a bug in kmeminit, not in the user's setup."""


def rule_config(config: Any, rule_id: str) -> Mapping[str, Any]:
    """The `rules.<ID>` mapping of an analyzer.config.Config (or a plain dict, or None)."""
    if config is None:
        return {}
    if isinstance(config, Mapping):
        section = config.get("rules", {}).get(rule_id, {})
    else:
        section = config.get("rules", rule_id, default={})
    return section if isinstance(section, Mapping) else {}


def _config_note(config: Any, level: Level, message: str, *path: str) -> Notification:
    where = config.where("rules", *path) if hasattr(config, "where") else ""
    file, _, line = where.rpartition(":")
    if file and line.isdigit():
        return Notification(level, message, file=file, line=int(line))
    return Notification(level, message)


def _plugins(taken: dict[str, str]) -> tuple[list[type], list[Notification]]:
    found, notes = [], []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value)):
        origin = f"plugin '{ep.name}' ({ep.value})"
        try:
            cls = ep.load()
        except Exception as exc:  # noqa: BLE001 - any import failure is the plugin's
            notes.append(Notification(Level.ERROR, f"{origin} failed to load: {_one_line(exc)}"))
            continue
        problems = checker_problems(cls, builtin=False)
        if not problems and cls.id in taken:
            problems = [f"rule id {cls.id} is already used by {taken[cls.id]}"]
        if problems:
            rule_id = getattr(cls, "id", None)
            notes.append(Notification(Level.ERROR, f"{origin} rejected: {'; '.join(problems)}",
                                      rule=rule_id if isinstance(rule_id, str) else None))
            continue
        taken[cls.id] = origin
        found.append(cls)
    return found, notes


def _builtins() -> dict[str, str]:
    taken: dict[str, str] = {}
    for cls in BUILTIN_CHECKERS:
        problems = checker_problems(cls, builtin=True)
        if cls.id in taken:
            problems.append(f"duplicate id {cls.id}")
        if problems:
            raise CheckerError(f"built-in checker {cls.__module__}.{cls.__name__}: "
                               f"{'; '.join(problems)}")
        taken[cls.id] = f"built-in {cls.__module__}"
    return taken


def _configure(cls: type, config: Any) -> tuple[Checker | None, list[Notification]]:
    """An instance with its effective level, or None if config disables it."""
    section = rule_config(config, cls.id)
    notes = []
    allowed = COMMON_RULE_KEYS + tuple(cls.config_keys)
    for key in section:
        if key not in allowed:
            notes.append(_config_note(config, Level.ERROR,
                                      f"unknown key '{key}' in rules.{cls.id} (expected one "
                                      f"of: {', '.join(allowed)})", cls.id, key))
    level = None
    if "level" in section:
        try:
            level = Level(section["level"])
        except ValueError:
            notes.append(_config_note(config, Level.ERROR,
                                      f"rules.{cls.id}.level must be note, warning or error, "
                                      f"got {section['level']!r}", cls.id, "level"))
    try:
        checker = cls()
    except Exception as exc:  # noqa: BLE001 - a plugin's constructor is its own business
        notes.append(Notification(Level.ERROR, f"checker {cls.id} could not be created: "
                                               f"{_one_line(exc)}", rule=cls.id))
        return None, notes
    if level is not None:
        checker.level = level
    return checker, notes


def load_checkers(enabled: set[str] | None, config: Any
                  ) -> tuple[list[Checker], list[Notification]]:
    """Checker instances to run, in id order, and what went wrong loading them.

    `enabled` (rule ids) wins over `rules.<ID>.enabled` in the config; None means every
    rule the config does not disable.
    """
    taken = _builtins()
    plugins, notes = _plugins(taken)
    classes = sorted(list(BUILTIN_CHECKERS) + plugins, key=lambda c: c.id)
    known = {c.id for c in classes}
    if enabled is not None and enabled - known:
        notes.append(Notification(Level.ERROR,
                                  f"unknown rule id(s): {', '.join(sorted(enabled - known))}"))
    for rule_id in _configured_rules(config) - known:
        notes.append(_config_note(config, Level.WARNING,
                                  f"rules.{rule_id}: no such rule is installed", rule_id))
    checkers = []
    for cls in classes:
        on = cls.id in enabled if enabled is not None else rule_config(config, cls.id).get(
            "enabled", True)
        if not on:
            continue
        checker, problems = _configure(cls, config)
        notes += problems
        if checker is not None:
            checkers.append(checker)
    return checkers, notes


def _configured_rules(config: Any) -> set[str]:
    if config is None:
        return set()
    rules = config.get("rules", {}) if isinstance(config, Mapping) else config.get(
        "rules", default={})
    return set(rules) if isinstance(rules, Mapping) else set()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" (at {where[0].filename}:{where[0].lineno})" if where else ""
    detail = f": {text[0]}" if text else ""
    return f"{type(exc).__name__}{detail}{at}"


def run_checkers(checkers: Iterable[Checker], program: Any, config: Any, debug: bool = False
                 ) -> tuple[list[Finding], list[Notification]]:
    """All findings, plus a notification per checker that crashed or yielded garbage.

    A crashing checker contributes nothing (its findings so far could be a misleading half);
    `debug` re-raises instead, for a traceback.
    """
    findings: list[Finding] = []
    notes: list[Notification] = []
    if hasattr(program, "apply_config"):  # a Program (tests pass stand-ins)
        program.apply_config(config)
    for checker in checkers:
        try:
            found = list(checker.check(program, config))
        except Exception as exc:
            if debug:
                raise
            notes.append(Notification(Level.ERROR, f"checker {checker.id} crashed and was "
                                                   f"skipped: {_one_line(exc)}", rule=checker.id))
            continue
        for item in found:
            if isinstance(item, Finding) and item.rule == checker.id:
                findings.append(item)
                continue
            if debug:
                raise TypeError(f"checker {checker.id} yielded {item!r}")
            notes.append(Notification(Level.ERROR, f"checker {checker.id} yielded something "
                                                   f"that is not one of its findings: "
                                                   f"{type(item).__name__}", rule=checker.id))
    return findings, notes


# Explicit, in id order: a rule is added here in the same change that adds its module.
from kmeminit.checkers.kmi001_online_before_init import OnlineBeforeInit  # noqa: E402
from kmeminit.checkers.kmi002_deferred_init_window import DeferredInitWindow  # noqa: E402
from kmeminit.checkers.kmi003_pfn_walker_uninit_memmap import PfnWalkerUninitMemmap  # noqa: E402
from kmeminit.checkers.kmi004_altmap_pgmap_proxy import AltmapPgmapProxy  # noqa: E402
from kmeminit.checkers.kmi005_altmap_unsafe_container_of import AltmapUnsafeContainerOf  # noqa: E402, E501
from kmeminit.checkers.kmi006_pg_reserved_transition import PgReservedTransition  # noqa: E402
from kmeminit.checkers.kmi007_pg_reserved_reader import PgReservedReader  # noqa: E402

BUILTIN_CHECKERS: tuple[type, ...] = (
    OnlineBeforeInit,
    DeferredInitWindow,
    PfnWalkerUninitMemmap,
    AltmapPgmapProxy,
    AltmapUnsafeContainerOf,
    PgReservedTransition,
    PgReservedReader,
)

__all__ = ["BUILTIN_CHECKERS", "ENTRY_POINT_GROUP", "CheckerError", "load_checkers",
           "rule_config", "rule_meta", "run_checkers"]
