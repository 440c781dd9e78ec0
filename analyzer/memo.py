"""Results that a run can take from the store instead of computing them again.

The rules are a function of their inputs: the stored facts of the analysed TUs and of the
header functions, the config, the rules that run and kmeminit's own code.  A run whose
inputs hash to the key of an earlier complete run takes its findings, notifications and
suppressions from the store and does not even load the program: a warm `make C=1` followed
by `kmeminit report`, an edit that leaves every TU's facts as they were (a comment, an
`#ifdef`'d-out line, a file no analysed TU includes), a `check` of a tree that a `diff` just
analysed.  An edit that changes one TU's facts misses, and the run is complete again.

The prefilter's demand (analyzer/prefilter.py) is memoised the same way, by the encoded
lexical scans of every file it reads: a file whose scan is unchanged cannot change the
choice of TUs.

A result is kept only when it is complete: no checker crashed.  `--recompute` and `--debug`
(re-raise checker exceptions) never take a stored result.  The store keeps the few newest
of each.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kmeminit.analyzer.model import Level, Notification, SourceSuppression, from_json, to_json

if TYPE_CHECKING:
    from kmeminit.analyzer.config import Config
    from kmeminit.analyzer.program import Program
    from kmeminit.analyzer.results import Finding
    from kmeminit.analyzer.store import FactStore

# the packages whose code decides a result (the frontend's is in the facts themselves)
_CODE = ("analyzer", "checkers", "config")


@cache
def _package_digest() -> str:
    """kmeminit's own code: an editable install changes it without changing the version."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.blake2b(digest_size=16)
    for package in _CODE:
        base = root / package
        if not base.is_dir():  # installed as kmeminit/analyzer, …: the same layout
            continue
        for path in sorted(base.rglob("*")):
            if path.suffix in (".py", ".yaml") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.hexdigest()


def code_digest(checkers: Iterable[Any]) -> str:
    """kmeminit's code and every rule's: the built-in ones and plugins, by their source."""
    digest = hashlib.blake2b(_package_digest().encode(), digest_size=16)
    for checker in sorted(checkers, key=lambda c: (c.id, type(c).__qualname__)):
        cls = type(checker)
        digest.update(f"{cls.__module__}.{cls.__qualname__}:{checker.id}:"
                      f"{checker.level.value}\0".encode())
        source = getattr(sys.modules.get(cls.__module__), "__file__", None)
        if source:
            try:
                digest.update(Path(source).read_bytes())
            except OSError:
                digest.update(b"unreadable")
    return digest.hexdigest()


def analysis_key(store: FactStore, files: list[str], config: Config,
                 checkers: list[Any]) -> str:
    """What the rules' result over these stored TUs depends on."""
    from kmeminit.analyzer import version

    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps([version(), code_digest(checkers), config.data],
                             sort_keys=True, default=str).encode())
    digest.update(store.facts_digest(files).encode())
    return digest.hexdigest()


@dataclass
class Analysis:
    """The rules' result over a program, and the program when it had to be loaded."""

    findings: list[Finding]
    notes: list[Notification]
    functions: int
    suppressions: tuple[SourceSuppression, ...]
    reused: bool
    _program: Program | None
    _load: Callable[[], Program]

    @property
    def program(self) -> Program:
        """The program (loaded now when the result came from the store)."""
        if self._program is None:
            self._program = self._load()
        return self._program

    def encode(self) -> dict[str, Any]:
        return {"findings": to_json(list(self.findings)), "notes": to_json(list(self.notes)),
                "functions": self.functions, "suppressions": to_json(list(self.suppressions))}


def analyse(store: FactStore, files: list[str], config: Config, checkers: list[Any],
            load: Callable[[], Program], debug: bool = False, progress: Any = None,
            say: Callable[[str], None] | None = None, reuse: bool = True) -> Analysis:
    """The rules over the program of the stored TUs `files` (`load` builds it): from the
    store when an earlier complete run had the same inputs (unless `reuse` is false or
    `debug` re-raises checker exceptions), else run and kept."""
    from kmeminit.analyzer.results import Finding
    from kmeminit.analyzer.rules import run_rules

    key = analysis_key(store, files, config, checkers)
    stored = store.memo("analysis", key) if reuse and not debug else None
    if stored is not None:
        try:
            reused = Analysis([from_json(Finding, f) for f in stored["findings"]],
                              [from_json(Notification, n) for n in stored["notes"]],
                              int(stored["functions"]),
                              tuple(from_json(SourceSuppression, s)
                                    for s in stored["suppressions"]), True, None, load)
        except (KeyError, TypeError, ValueError):  # a damaged row: computed again
            store.forget_memo("analysis", key)
        else:
            if say is not None:
                say("kmeminit: rules: the stored result of the same facts, config and rules")
            return reused
    program = load()
    findings, notes = run_rules(checkers, program, config, debug=debug, progress=progress)
    result = Analysis(findings, notes, len(program.functions),
                      tuple(program.suppressions.values()), False, program, load)
    if not any(n.level is Level.ERROR for n in notes):
        store.put_memo("analysis", key, result.encode())
    return result


__all__ = ["Analysis", "analyse", "analysis_key", "code_digest"]
