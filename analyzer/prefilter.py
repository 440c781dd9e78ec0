"""Whole-tree prefilter: parse only the TUs the rules can care about.

1. A TU is relevant when its .c file, or a header it includes directly with quotes (the
   kernel's private headers: "internal.h"), mentions a configured symbol: the event,
   entry, pfn, PG_reserved and altmap names of the config (with their aliases), minus
   `prefilter.ignore` (names every file uses), plus `prefilter.symbols`.  A regular
   expression over bytes; results are cached by content hash for the run, so a header
   shared by many TUs is scanned once.  Angle-bracket headers are not scanned: nearly
   every TU includes <linux/mm.h>, and their inline functions reach the store through
   any parsed TU that includes them.
2. The relevant TUs are indexed; the slice is every function that mentions a symbol plus
   its callers in the indexed code.  Un-indexed TUs that define a function the slice calls
   (a definition at column 0, kernel style) or that call a non-static slice function by
   name are added and indexed, and so on until no TU is added or `prefilter.max_rounds`
   rounds have run.  Each round is logged to stderr.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import networkx as nx

from analyzer.compdb import CompileEntry
from analyzer.config import Config
from analyzer.program import Program
from analyzer.store import FactStore

_INCLUDE = re.compile(rb'^[ \t]*#[ \t]*include[ \t]*"([^"\n]+)"', re.M)
_IDENT = re.compile(r"[A-Za-z_]\w*")


def config_symbols(config: Config) -> frozenset[str]:
    """The names whose mention makes a TU relevant."""
    names: set[str] = set()
    for section in ("events", "event_stores", "entries"):
        for values in (config.get(section, default={}) or {}).values():
            names.update(values)
    for key in ("converters", "online_guards", "weak_guards"):
        names.update(config.get("pfn", key, default=[]) or [])
    for values in (config.get("reserved", default={}) or {}).values():
        names.update(values)
    types = [config.get("altmap", "pointer", default=""),
             config.get("altmap", "container", default="")]
    types += list(config.get("origins", default={}) or {})
    for text in types:
        names.update(w for w in _IDENT.findall(text or "") if w not in ("struct", "union"))
    names.update(config.get("prefilter", "symbols", default=[]) or [])
    names = set(config.names(sorted(names)))
    return frozenset(names - set(config.get("prefilter", "ignore", default=[]) or []))


def _words(names: Iterable[str]) -> re.Pattern[bytes]:
    alternatives = b"|".join(re.escape(n.encode()) for n in sorted(names, key=len, reverse=True))
    return re.compile(rb"\b(?:" + alternatives + rb")\b")


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


class TextScan:
    """Which files mention the symbols, cached by content hash."""

    def __init__(self, symbols: frozenset[str]) -> None:
        self.pattern = _words(symbols) if symbols else None
        self._by_hash: dict[bytes, bool] = {}

    def file_mentions(self, path: str) -> tuple[bool, bytes | None]:
        data = _read(path)
        if data is None or self.pattern is None:
            return False, data
        digest = hashlib.blake2b(data, digest_size=16).digest()
        if digest not in self._by_hash:
            self._by_hash[digest] = self.pattern.search(data) is not None
        return self._by_hash[digest], data

    def mentions(self, entry: CompileEntry) -> bool:
        hit, data = self.file_mentions(entry.file)
        if hit or data is None:
            return hit
        return any(self.file_mentions(h)[0] for h in _quote_includes(entry, data))


def _quote_includes(entry: CompileEntry, data: bytes) -> list[str]:
    """The files a .c includes with quotes, resolved like the preprocessor does (its own
    directory, then -iquote and -I directories)."""
    dirs = [os.path.dirname(entry.file)]
    args = entry.clang_args
    for i, arg in enumerate(args):
        if arg in ("-iquote", "-I") and i + 1 < len(args):
            dirs.append(args[i + 1])
        elif arg.startswith("-I") and len(arg) > 2:
            dirs.append(arg[2:])
    found = []
    for name in _INCLUDE.findall(data):
        rel = os.fsdecode(name)
        for d in dirs:
            path = os.path.join(d, rel)
            if os.path.isfile(path):
                found.append(path)
                break
    return found


@dataclass
class PrefilterReport:
    total: int
    initial: int = 0
    rounds: list[tuple[int, int]] = field(default_factory=list)  # (by callee, by caller)
    kept: int = 0

    def summary(self) -> str:
        grown = "; ".join(f"round {n}: +{a + b} ({a} define callees, {b} call the slice)"
                          for n, (a, b) in enumerate(self.rounds, 1))
        return (f"kmeminit: prefilter: {self.initial} of {self.total} TUs mention configured "
                f"symbols{'; ' + grown if grown else ''}; {self.kept} TUs analysed")


def slice_names(program: Program, symbols: frozenset[str]) -> tuple[set[str], set[str]]:
    """(names the slice calls that no indexed TU defines, non-static slice function names)
    for a program: the slice is what mentions a symbol, plus its callers."""
    graph = program.graph
    seeds = {usr for usr, fn in program.functions.items()
             if fn.name in symbols or any(c.callee in symbols for c in fn.calls)
             or any(m.name in symbols for m in fn.macros)}
    members = _ancestors(graph, seeds)
    callees: set[str] = set()
    callers: set[str] = set()
    for usr in members:
        fn = program.functions.get(usr)
        if fn is None:
            continue
        if fn.linkage == "external" and not fn.from_header:
            callers.add(fn.name)
        for _, target in graph.out_edges(usr):
            if graph.nodes[target]["external"]:
                callees.add(graph.nodes[target]["name"])
    return callees, callers


def _ancestors(graph: nx.DiGraph, seeds: set[str]) -> set[str]:
    """The seeds and every node with a call path to one (one reverse traversal)."""
    seen = {s for s in seeds if s in graph}
    stack = list(seen)
    while stack:
        for caller in graph.predecessors(stack.pop()):
            if caller not in seen:
                seen.add(caller)
                stack.append(caller)
    return seen


def _grow(pending: list[CompileEntry], callees: set[str], callers: set[str]
          ) -> tuple[list[CompileEntry], list[CompileEntry]]:
    """Un-indexed TUs defining one of `callees` (at column 0), or calling one of `callers`."""
    define = (re.compile(rb"^[A-Za-z_][^;{}\n]*\b(?:" + b"|".join(
        re.escape(n.encode()) for n in sorted(callees)) + rb")\s*\(", re.M) if callees else None)
    call = (re.compile(rb"\b(?:" + b"|".join(re.escape(n.encode()) for n in sorted(callers))
                       + rb")\s*\(") if callers else None)
    by_callee, by_caller = [], []
    for entry in pending:
        data = _read(entry.file)
        if data is None:
            continue
        if define is not None and define.search(data):
            by_callee.append(entry)
        elif call is not None and call.search(data):
            by_caller.append(entry)
    return by_callee, by_caller


def prefilter_index(entries: list[CompileEntry], store: FactStore, config: Config,
                    index: Callable[[list[CompileEntry]], object],
                    log: Callable[[str], None] | None = None
                    ) -> tuple[list[CompileEntry], PrefilterReport]:
    """Index the relevant TUs of `entries` (through `index`, called once per round with the
    TUs to add); returns them, in database order, and what was done."""
    def say(message: str) -> None:
        (log or (lambda m: print(m, file=sys.stderr)))(message)

    symbols = config_symbols(config)
    scan = TextScan(symbols)
    report = PrefilterReport(len(entries))
    chosen = {e.file for e in entries if scan.mentions(e)}
    report.initial = len(chosen)
    index([e for e in entries if e.file in chosen])
    searched_callees: set[str] = set()
    searched_callers: set[str] = set()
    for n in range(1, int(config.get("prefilter", "max_rounds", default=4)) + 1):
        program = Program.from_store(store, sorted(chosen))
        callees, callers = slice_names(program, symbols)
        callees -= searched_callees
        callers -= searched_callers
        searched_callees |= callees
        searched_callers |= callers
        pending = [e for e in entries if e.file not in chosen]
        by_callee, by_caller = _grow(pending, callees, callers)
        report.rounds.append((len(by_callee), len(by_caller)))
        say(f"kmeminit: prefilter round {n}: {len(callees)} callees, {len(callers)} callers "
            f"searched; +{len(by_callee) + len(by_caller)} TUs")
        if not by_callee and not by_caller:
            break
        chosen |= {e.file for e in by_callee + by_caller}
        index(by_callee + by_caller)
    kept = [e for e in entries if e.file in chosen]
    report.kept = len(kept)
    say(report.summary())
    return kept, report
