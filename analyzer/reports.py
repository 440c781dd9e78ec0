"""Typed results of the inventory commands, for their formatters: the PG_reserved report
(`kmeminit reserved`) and the origin inventory of a pointer type (`kmeminit origins`).

Plain frozen data with absolute paths; nothing here imports the engine, so formatters
depend on these types only.  Field order is output order (the JSON rendering is
`dataclasses.asdict`).
"""

from __future__ import annotations

from dataclasses import dataclass

from kmeminit.analyzer.model import Location
from kmeminit.analyzer.results import Step

# -- value origins -----------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Origin:
    """Where a pointer can come from.  kind: null | embedded | heap | stack | global |
    unknown; detail: for embedded the `record.field`, for heap the allocator, for
    stack/global the variable, for unknown why."""

    kind: str
    detail: str = ""

    def __str__(self) -> str:
        return {"null": "NULL", "embedded": f"embedded in {self.detail}",
                "heap": f"standalone heap object ({self.detail})",
                "stack": f"standalone stack object '{self.detail}'",
                "global": f"standalone global object '{self.detail}'",
                }.get(self.kind, f"unknown ({self.detail})")

    @property
    def standalone(self) -> bool:
        return self.kind in ("heap", "stack", "global")


@dataclass(frozen=True)
class OriginSet:
    """One variable of the tracked type with every origin reaching it and a witness chain
    per origin (origin first, the variable last)."""

    variable: str  # "parameter 'altmap'", "parameter params->altmap", "struct R.altmap"
    function: str | None
    location: Location | None
    origins: tuple[tuple[Origin, tuple[Step, ...]], ...]

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted({o.kind for o, _ in self.origins}))


@dataclass(frozen=True)
class OriginsReport:
    pointer: str  # "struct vmem_altmap *"
    sets: tuple[OriginSet, ...]


# -- PG_reserved ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteRow:
    """A direct PG_reserved set or clear; `id` is `function@line`."""

    id: str
    op: str  # set | clear
    callee: str
    function: str
    via: str  # call | macro | bitop | wrapper
    atomic: bool
    file: str
    line: int
    col: int


@dataclass(frozen=True)
class ReaderRow:
    id: str
    callee: str
    function: str
    walker: bool  # inside a pfn walker
    entries: tuple[str, ...]  # entry points reaching it, by name
    file: str
    line: int
    col: int


@dataclass(frozen=True)
class ChainRow:
    """A call on the shortest chain (or, last, the site) and the conditions guarding it."""

    function: str
    callee: str
    conditions: tuple[str, ...]
    file: str
    line: int
    col: int


@dataclass(frozen=True)
class ReachRow:
    """A site as reached from one entry point."""

    site: str
    op: str
    callee: str
    function: str
    file: str
    line: int
    col: int
    chains: int
    effect: str  # left reserved | cleared | either | unchanged
    conditions: tuple[str, ...]
    chain: tuple[ChainRow, ...]


@dataclass(frozen=True)
class EntryRow:
    kind: str
    name: str
    file: str
    line: int
    effect: str
    sites: tuple[ReachRow, ...]
    readers: tuple[str, ...]  # reader ids


@dataclass(frozen=True)
class WrapperRow:
    function: str
    op: str
    unconditional: bool
    direct: bool


@dataclass(frozen=True)
class WhatIfDrop:
    query: str
    sites: tuple[str, ...]
    readers: tuple[tuple[str, str], ...]  # (reader id, "after" | "walker")


@dataclass(frozen=True)
class ReservedReport:
    entries: tuple[EntryRow, ...]
    unreached: tuple[ReachRow, ...]
    sites: tuple[SiteRow, ...]
    readers: tuple[ReaderRow, ...]
    wrappers: tuple[WrapperRow, ...]
    what_if_drop: WhatIfDrop | None = None


# -- both, for the HTML report ---------------------------------------------------------------


@dataclass(frozen=True)
class Inventories:
    """The inventories behind a run's findings, for the HTML report to show and link:
    the PG_reserved report (KMI006/KMI007) and the altmap origins (KMI004/KMI005); None
    when those rules did not run."""

    reserved: ReservedReport | None = None
    origins: OriginsReport | None = None
