"""Rules: the checker protocol, rule metadata and its checks, loading the built-in rules and
plugins, and running them.

The built-in rules are the package `kmeminit.checkers` (its BUILTIN_CHECKERS tuple),
loaded by name like a plugin: the engine never imports rule code.  Plugins register in the
`kmeminit.checkers` entry-point group (value: `package.module:CheckerClass`).  A broken
plugin or a crashing checker becomes a Notification naming it; the run goes on.

A checker module exposes one class:

    class PfnBeforeMemmap:
        id = "KMI003"
        name = "pfn-before-memmap"           # kebab-case, stable like the id
        level = Level.WARNING                # default; `rules.KMI003.level` overrides it
        precision = "high"                   # very-high | high | medium | low
        tags = ("correctness", "memory-hotplug")
        short = "One sentence."
        full = "One paragraph."
        config_keys = ("functions",)         # keys it reads under `rules.KMI003`

        def check(self, program, config) -> Iterator[Finding]: ...

`check` is pure: it reads the program model and the config and yields complete Findings
using `self.level` (the effective level after config overrides).  The module docstring is
the rule's documentation, with the sections in REQUIRED_SECTIONS as markdown headings.
"""

from __future__ import annotations

import importlib
import inspect
import re
import traceback
from collections.abc import Iterable, Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any, ClassVar, Protocol

from kmeminit.analyzer.model import Level, Notification
from kmeminit.analyzer.results import Finding, RuleMeta

REQUIRED_SECTIONS = ("What it finds", "Why it matters in the kernel", "Example", "Fix",
                     "Known false positives", "Precision")
PRECISIONS = ("very-high", "high", "medium", "low")
BUILTIN_ID = re.compile(r"KMI\d{3}")
PLUGIN_ID = re.compile(r"[A-Z][A-Z0-9]*\d{3}")
RESERVED_PREFIX = "KMI"  # plugin ids may never collide with a future built-in
RULE_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
COMMON_RULE_KEYS = ("enabled", "level")  # understood for every rule by the loader
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


class Checker(Protocol):
    id: ClassVar[str]
    name: ClassVar[str]
    level: Level
    precision: ClassVar[str]
    tags: ClassVar[tuple[str, ...]]
    short: ClassVar[str]
    full: ClassVar[str]
    config_keys: ClassVar[tuple[str, ...]]
    # Optional: the prefilter's rule families (analyzer/prefilter.py: events, walkers,
    # reserved, origins) whose TUs decide this rule's verdicts.  A rule that names them is
    # run again only when the facts of those TUs change (analyzer/memo.py); without it,
    # when any analysed TU changes.

    def check(self, program: Any, config: Any) -> Iterator[Finding]: ...


def rule_doc(checker_cls: type) -> str:
    """The rule documentation: the docstring of the module that defines the checker."""
    module = inspect.getmodule(checker_cls)
    return inspect.cleandoc(module.__doc__) if module and module.__doc__ else ""


def rule_meta(checker_cls: type, level_override: Level | None = None) -> RuleMeta:
    return RuleMeta(
        id=checker_cls.id,
        name=checker_cls.name,
        level=level_override or checker_cls.level,
        precision=checker_cls.precision,
        tags=tuple(checker_cls.tags),
        short=checker_cls.short,
        full=checker_cls.full,
        doc=rule_doc(checker_cls),
    )


def doc_problems(doc: str) -> list[str]:
    """Missing or out-of-order sections of a rule doc (markdown headings)."""
    headings = [h.strip("*_ ").lower() for h in _HEADING.findall(doc)]
    wanted = [s.lower() for s in REQUIRED_SECTIONS]
    missing = [s for s, w in zip(REQUIRED_SECTIONS, wanted, strict=True) if w not in headings]
    if missing:
        return [f"doc lacks section(s): {', '.join(missing)}"]
    found = [h for h in headings if h in wanted]
    if sorted(found, key=wanted.index) != found:
        return [f"doc sections must come in the order: {', '.join(REQUIRED_SECTIONS)}"]
    return []


def _is_str_tuple(value: Any) -> bool:
    return isinstance(value, tuple) and all(isinstance(v, str) and v for v in value)


def checker_problems(checker_cls: Any, builtin: bool) -> list[str]:
    """Everything wrong with a checker class's metadata and docs; empty if it is valid."""
    if not isinstance(checker_cls, type):
        return [f"{checker_cls!r} is not a class"]
    rule_id = getattr(checker_cls, "id", None)
    problems = []
    if not isinstance(rule_id, str):
        problems.append("no string `id`")
    elif builtin and not BUILTIN_ID.fullmatch(rule_id):
        problems.append(f"id '{rule_id}' does not match KMI<3 digits>")
    elif not builtin and not PLUGIN_ID.fullmatch(rule_id):
        problems.append(f"id '{rule_id}' does not match [A-Z][A-Z0-9]*<3 digits>")
    elif not builtin and rule_id.startswith(RESERVED_PREFIX):
        problems.append(f"id '{rule_id}': the prefix {RESERVED_PREFIX} is reserved for "
                        "built-in rules")
    name = getattr(checker_cls, "name", None)
    if not isinstance(name, str) or not RULE_NAME.fullmatch(name):
        problems.append(f"name {name!r} is not kebab-case")
    if not isinstance(getattr(checker_cls, "level", None), Level):
        problems.append("level is not an analyzer.model.Level")
    if getattr(checker_cls, "precision", None) not in PRECISIONS:
        problems.append(f"precision must be one of: {', '.join(PRECISIONS)}")
    for attr in ("short", "full"):
        text = getattr(checker_cls, attr, None)
        if not isinstance(text, str) or not text.strip():
            problems.append(f"no `{attr}` description")
    if not _is_str_tuple(getattr(checker_cls, "tags", None)):
        problems.append("tags must be a tuple of strings")
    keys = getattr(checker_cls, "config_keys", None)
    if not (keys == () or _is_str_tuple(keys)):
        problems.append("config_keys must be a tuple of strings")
    if not callable(getattr(checker_cls, "check", None)):
        problems.append("no check(program, config) method")
    return problems + doc_problems(rule_doc(checker_cls))


# -- loading and running -------------------------------------------------------------

ENTRY_POINT_GROUP = "kmeminit.checkers"
BUILTIN_PACKAGE = "kmeminit.checkers"  # its BUILTIN_CHECKERS tuple lists the rules


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


def builtin_checkers() -> tuple[type, ...]:
    """The built-in rule classes, in id order (imported on first use)."""
    return tuple(importlib.import_module(BUILTIN_PACKAGE).BUILTIN_CHECKERS)


def _builtins() -> dict[str, str]:
    taken: dict[str, str] = {}
    for cls in builtin_checkers():
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


def build_rules(enabled: set[str] | None, config: Any, enable: set[str] | None = None,
                  disable: set[str] | None = None
                  ) -> tuple[list[Checker], list[Notification]]:
    """Checker instances to run, in id order, and what went wrong loading them.

    `enabled` (rule ids or names) wins over `rules.<ID>.enabled` in the config; None means
    every rule the config does not disable, plus `enable`; `disable` is taken out last.
    """
    taken = _builtins()
    plugins, notes = _plugins(taken)
    classes = sorted(list(builtin_checkers()) + plugins, key=lambda c: c.id)
    by_name = {c.id: c.id for c in classes} | {c.name.upper(): c.id for c in classes}
    asked = [s for s in (enabled, enable, disable) if s]
    unknown = sorted({r for s in asked for r in s if r.upper() not in by_name})
    if unknown:
        notes.append(Notification(Level.ERROR, f"unknown rule id(s): {', '.join(unknown)}"))

    def ids(rules: set[str] | None) -> set[str]:
        return {by_name[r.upper()] for r in rules or () if r.upper() in by_name}

    known = {c.id for c in classes}
    for rule_id in _configured_rules(config) - known:
        notes.append(_config_note(config, Level.WARNING,
                                  f"rules.{rule_id}: no such rule is installed", rule_id))
    checkers = []
    for cls in classes:
        on = cls.id in ids(enabled) if enabled is not None else (
            cls.id in ids(enable) or rule_config(config, cls.id).get("enabled", True))
        if not on or cls.id in ids(disable):
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


def rule_label(checker: Any) -> str:
    """A rule as progress names it: its id and name."""
    return f"{checker.id} {getattr(checker, 'name', '')}".strip()


def run_rules(checkers: Iterable[Checker], program: Any, config: Any, debug: bool = False,
                 progress: Any = None) -> tuple[list[Finding], list[Notification]]:
    """All findings, plus a notification per checker that crashed or yielded garbage.

    A crashing checker contributes nothing (its findings so far could be a misleading half);
    `debug` re-raises instead, for a traceback.  `progress` (index_task.Progress) is told
    when each rule starts and ends.
    """
    findings: list[Finding] = []
    notes: list[Notification] = []
    if hasattr(program, "apply_config"):  # a Program (tests pass stand-ins)
        program.apply_config(config)
    for checker in checkers:
        if progress is not None:
            progress.begin(rule_label(checker))
        try:
            found = list(checker.check(program, config))
        except Exception as exc:
            if debug:
                raise
            notes.append(Notification(Level.ERROR, f"checker {checker.id} crashed and was "
                                                   f"skipped: {_one_line(exc)}", rule=checker.id))
            continue
        finally:
            if progress is not None:
                progress.step(checker.id)
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
