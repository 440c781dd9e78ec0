"""The program as it was at another git revision, without checking that revision out.

The fact store describes the working tree.  At revision R, a TU whose own file and every
file it includes are the same as in the working tree has the same facts: they are reused.
Only the TUs that include a file differing between R and the working tree are parsed again,
with libclang reading R's version of the differing files from memory (unsaved files).
Those facts go to an in-memory store, never into the working tree's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from kmeminit.analyzer import vcs
from kmeminit.analyzer.compdb import CompileEntry
from kmeminit.analyzer.config import Config
from kmeminit.analyzer.index import index_entries
from kmeminit.analyzer.index_task import IndexStats
from kmeminit.analyzer.model import Function, TUFacts
from kmeminit.analyzer.program import Program, collector_paused
from kmeminit.analyzer.store import FactStore, args_digest


class Facts:
    """The working tree's facts, decoded on first use (a side whose result comes from the
    store needs none) and then shared by the programs of both sides."""

    def __init__(self, store: FactStore, files: list[str]) -> None:
        self.store, self.files = store, files

    @cached_property
    def tus(self) -> dict[str, TUFacts]:
        with collector_paused():  # as Program.from_store decodes
            return {tu.file: tu for tu in self.store.iter_tus(self.files)}

    @cached_property
    def headers(self) -> list[Function]:
        with collector_paused():
            return list(self.store.header_functions())

    def program(self, files: list[str] | None = None) -> Program:
        """The program of every TU, or of `files` (only those are decoded then)."""
        if files is None:
            tus = list(self.tus.values())
        elif "tus" in self.__dict__:  # decoded already
            tus = [self.tus[f] for f in files if f in self.tus]
        else:
            with collector_paused():
                tus = list(self.store.iter_tus(files))
        with collector_paused():
            return Program.from_tus(tus, self.headers)


@dataclass
class Revision:
    """A revision's program and what it took to build it."""

    rev: str  # commit id
    program: Program
    sources: dict[str, bytes]  # files differing from the working tree: their content at rev
    changed: list[str]  # every file differing from the working tree (absolute paths)
    reparsed: list[str]  # TUs parsed again for this revision
    stats: IndexStats = field(default_factory=IndexStats)


def affected(entries: list[CompileEntry], store: FactStore, changed: set[str]
             ) -> tuple[list[CompileEntry], list[str]]:
    """(entries to parse again, files of the TUs whose stored facts still hold)."""
    again, kept = [], []
    for entry in entries:
        state = store.tu_state(entry.file)
        includes = {path for path, _ in state.includes} if state else None
        if includes is None or entry.file in changed or includes & changed:
            again.append(entry)
        else:
            kept.append(entry.file)
    return again, kept


def program_at(top: str, rev: str, entries: list[CompileEntry], store: FactStore,
               facts: Facts, config: Config, jobs: int, timeout: float) -> Revision:
    """The program of `entries` at commit `rev` of the checkout `top`.  `store` is the
    working tree's, brought up to date by the caller, and `facts` its decoded content: they
    serve every TU that is unchanged at `rev`, and every header function of an unchanged
    header (the TUs parsed again do not even walk those)."""
    changed = vcs.changed_files(top, rev)
    changed_set = set(changed)
    sources = {}
    for path in changed:
        data = vcs.file_at(top, rev, path)
        if data is not None:
            sources[path] = data
    # A TU whose source did not exist at rev is not part of that revision's program.
    present = [e for e in entries if e.file not in changed_set or e.file in sources]
    again, kept = affected(present, store, changed_set)
    headers = [fn for fn in facts.headers if fn.file not in changed_set]
    scratch = FactStore(Path(":memory:"))
    stats = IndexStats()
    if again:
        stats = index_entries(again, scratch, config, jobs, timeout,
                              unsaved=tuple(sorted(sources.items())),
                              known_usrs=frozenset(fn.usr for fn in headers))
    tus = [facts.tus[f] for f in kept if f in facts.tus]
    tus += scratch.iter_tus([e.file for e in again])
    with collector_paused():
        program = Program.from_tus(tus, list(scratch.header_functions()) + headers)
    scratch.close()
    return Revision(rev, program, sources, changed, [e.file for e in again], stats)


def revision_key(revision: str, entries: list[CompileEntry], config: Config,
                 checkers: list[Any]) -> str:
    """What the findings of a git revision depend on besides the revision itself: the TUs
    selected (before the prefilter), their arguments, the config, the rules that ran and
    kmeminit.  `kmeminit diff` keeps the base side's fingerprints under it, and `check`
    those of a working tree that is HEAD, so the base side need not be analysed again."""
    from kmeminit.analyzer import version

    rules = sorted(f"{type(c).__module__}.{type(c).__qualname__}:{c.id}:{c.level.value}"
                   for c in checkers)
    salt = json.dumps([version(), revision, rules, config.data], sort_keys=True, default=str)
    return args_digest(tuple(f"{e.file}\0{args_digest(e.clang_args)}"
                             for e in sorted(entries, key=lambda e: e.file)), salt)


def unchanged_since(top: str, rev: str, entries: list[CompileEntry], store: FactStore
                    ) -> bool:
    """Whether the working tree is `rev` for these TUs: none of their files, nothing an
    analysed one includes, and no header at all (the prefilter reads them) differ."""
    changed = set(vcs.changed_files(top, rev))
    if any(path.endswith(".h") for path in changed):
        return False
    for entry in entries:
        state = store.tu_state(entry.file)
        if entry.file in changed or state and any(p in changed for p, _ in state.includes):
            return False
    return True


__all__ = ["Facts", "Revision", "affected", "program_at", "revision_key", "unchanged_since"]
