"""The checker protocol, rule metadata and the checks a checker class must pass.

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

import inspect
import re
from collections.abc import Iterator
from typing import Any, ClassVar, Protocol

from kmeminit.analyzer.model import Level
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
