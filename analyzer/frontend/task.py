"""What to parse: one TU's file, clang arguments and the config's frontend settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kmeminit.analyzer.config import Config


@dataclass(frozen=True)
class ParseTask:
    file: str  # absolute source path
    args: tuple[str, ...]  # sanitised clang args: no compiler, no source, no -o/-c
    directory: str  # working directory the args are relative to
    macros: tuple[str, ...]  # frontend.macros: instantiations recorded as MacroUse facts
    section_markers: tuple[str, ...]  # frontend.section_markers
    skip_usrs: frozenset[str] = field(default_factory=frozenset)
    # (absolute path, contents) read in place of the files on disk: `kmeminit diff` parses
    # a TU as it was at another revision without checking that revision out.
    unsaved: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def for_config(cls, config: Config, file: str, args: tuple[str, ...], directory: str,
                   **kw: Any) -> ParseTask:
        return cls(file, args, directory, **frontend_options(config), **kw)


def frontend_options(config: Config) -> dict[str, tuple[str, ...]]:
    """The `ParseTask` settings the config decides; they are part of the store's cache key,
    so the config is their only source."""
    return {
        "macros": tuple(config.get("frontend", "macros", default=[])),
        "section_markers": tuple(config.get("frontend", "section_markers", default=[])),
    }
