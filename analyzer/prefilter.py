"""Whole-tree prefilter: parse only the TUs the rules can care about, in one batch.

1. A TU is relevant when its .c file, or a header it includes directly with quotes (the
   kernel's private headers: "internal.h"), mentions a configured symbol: the event,
   entry, pfn, PG_reserved and altmap names of the config (with their aliases), minus
   `prefilter.ignore` (names every file uses), plus `prefilter.symbols`.  Mentions are
   read from the same lexical index as the growth (comments and strings do not count;
   each file is read once, each content scanned once).
2. The set grows along calls until no relevant TU is added.  The growth runs on a lexical
   call index of the whole database (analyzer/lexindex.py: kernel-style function bodies,
   every included header's inline functions and macros, ops-table stores), which costs a
   few seconds where parsing costs minutes, so there are no parse rounds: each rule family
   states which functions its verdicts depend on (`lexical_demand`), the closure is taken
   to a fixpoint (at most `prefilter.max_rounds` call levels), and the TUs defining those
   functions are parsed together with the relevant ones.  What was added, and why, is
   logged to stderr.

The lexical index over-approximates calls (both #ifdef arms, every same-named function)
and follows calls through a struct field only for fields with at most
`prefilter.max_fanout` stored functions in the database (generic dispatch such as a driver
`probe` or a notifier is not followed); configured `services` are leaves, as in the
program's call graph.  Calls the preprocessor builds from pasted names are not seen.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from kmeminit.analyzer.calltrace import HELD, MULTI, PAGE, CallTrace, Patched, StoredTrace
from kmeminit.analyzer.compdb import CompileEntry
from kmeminit.analyzer.config import Config
from kmeminit.analyzer.lexindex import (
    SCANNER,
    Item,
    LexFile,
    LexFunction,
    LexIndex,
    ScanCache,
    content_hash,
    contribution,
    decode_scan,
    encode_scan,
    scan_file,
    scan_text,
)
from kmeminit.analyzer.store import FactStore, HashCache
from kmeminit.analyzer.watch import Absent, signature, trusted

_IDENT = re.compile(r"[A-Za-z_]\w*")


def family_symbols(config: Config) -> dict[str, frozenset[str]]:
    """The names whose mention makes a TU relevant, by the rule family that looks them up
    (the families of `lexical_demand`): the event names for the ordering rules, the pfn
    converters and guards for the walkers, the PG_reserved names, the altmap types.  The
    entry points (which every family classifies callers by) and `prefilter.symbols` count
    for every family; `prefilter.ignore` for none."""
    def words(texts: list[str]) -> set[str]:
        return {w for text in texts for w in _IDENT.findall(text or "")
                if w not in ("struct", "union")}

    common = set(config.get("prefilter", "symbols", default=[]) or [])
    for values in (config.get("entries", default={}) or {}).values():
        common.update(values)
    own: dict[str, set[str]] = {"events": set(), "walkers": set(), "reserved": set(),
                                "origins": set()}
    for section in ("events", "event_stores"):
        for values in (config.get(section, default={}) or {}).values():
            own["events"].update(values)
    for key in ("converters", "online_guards", "weak_guards"):
        own["walkers"].update(config.get("pfn", key, default=[]) or [])
    for values in (config.get("reserved", default={}) or {}).values():
        own["reserved"].update(values)
    own["origins"] = words([config.get("altmap", "pointer", default=""),
                            config.get("altmap", "container", default="")]
                           + list(config.get("origins", default={}) or {}))
    ignore = set(config.get("prefilter", "ignore", default=[]) or [])
    return {family: frozenset(set(config.names(sorted(names | common))) - ignore)
            for family, names in own.items()}


def config_symbols(config: Config) -> frozenset[str]:
    """The names whose mention makes a TU relevant (to some rule family)."""
    return frozenset().union(*family_symbols(config).values())


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def config_names(config: Config, section: str, *keys: str) -> set[str]:
    values = config.get(section, default={}) or {}
    chosen = [values.get(k, []) or [] for k in keys] if keys else list(values.values())
    return set(config.names(sorted({n for names in chosen for n in names})))


def lexical_demand(lex: LexIndex, config: Config, walker_keys: set[str] | None = None
                   ) -> dict[str, set[str]]:
    """The functions (lexical keys) each rule family needs parsed besides the TUs that
    mention configured symbols, so that its verdicts are those of the whole database:

    events     every caller chain of a function with an ordering event (KMI001, KMI002:
               their summaries, and which functions are uncalled entries)
    reserved   for each configured entry point and each function holding a PG_reserved
               site or reader it reaches, the functions on its shortest call chains (one
               level of slack, as the lexical calls over-approximate), and for each
               function on a chain to a site, a shortest chain from one of its callees
               to a set and one to a clear (KMI006, KMI007: chains, conditions, entries
               reaching a reader, net effects); not every function between an entry and
               a site, which in a full build is most of the kernel
    walkers    for each function converting pfns with pfn_to_page(): either a caller chain
               up to an uncalled function that is neither `__init` nor a hotplug / device
               entry (so it is not boot-only nor hotplug-owned), or, when there is none,
               all its callers; and the callees it may pass a struct page to (KMI003)
    origins    callers of functions taking or returning the tracked pointer or a struct
               holding it (KMI004, KMI005: where the altmap comes from)
    """
    events = config_names(config, "events")
    stores = config_names(config, "event_stores")
    entries = config_names(config, "entries")
    bits = config_names(config, "reserved", "bits")
    storing = lex.defining(stores, "stores")
    out: dict[str, set[str]] = {}
    out["events"] = lex.up(lex.keys_named(events) | storing, use="events")
    out["reserved"] = reserved_demand(lex, config, lex.keys_named(entries), bits)
    keys = walker_keys if walker_keys is not None else walkers(lex, config)
    out["walkers"] = walker_demand(lex, config, keys)
    types = _altmap_types(config)
    typed = lex.defining(types, "signature")
    out["origins"] = typed | {c for k in typed for c in lex.callers_of(k)}
    if lex.trace is not None:
        lex.trace.families = {family: set(keys) for family, keys in out.items()}
    return out


# Call levels a chain may be longer than the shortest lexical one and still be demanded:
# the lexical calls over-approximate, so the parsed program's shortest chain may be a
# level longer than the lexical index's.
CHAIN_SLACK = 1


def reserved_holders(lex: LexIndex, config: Config, bits: set[str]) -> dict[str, set[str]]:
    """The functions that may hold a PG_reserved site, per operation (set, clear, read):
    the callers of the accessors, of configured wrappers that nothing defines (wrappers
    that are defined hold a site themselves), and the functions naming the bit."""
    names = {"set": config_names(config, "reserved", "set"),
             "clear": config_names(config, "reserved", "clear"),
             "read": config_names(config, "reserved", "readers")}
    for op in ("set", "clear"):
        names[op] |= {w for w in config_names(config, "reserved", f"wrappers_{op}")
                      if not lex.defs.get(w)}
    accessors = set().union(*names.values())
    bitwise = _mentioning(lex, bits)
    out = {}
    for op, wanted in names.items():
        callers = {c for k in lex.keys_named(wanted) for c in lex.callers_of(k)}
        out[op] = {k for k in callers | bitwise if k.split("@", 1)[0] not in accessors}
    return out


def reserved_demand(lex: LexIndex, config: Config, entries: set[str], bits: set[str]
                    ) -> set[str]:
    """What KMI006/KMI007 state depends on: per (entry, site or reader) the shortest
    chain and its conditions, and for a site the net effect, i.e. which transitions the
    chain's functions can still make after the call on it.  For that, each function on a
    chain to a site gets a witness per operation: the shortest chain from its nearest
    callee to a function holding a set (a clear).  An operation the lexical index cannot
    reach from there is not possible at all; the witnesses are what makes a possible one
    visible.  (A function off these chains whose every path sets or clears could still
    change an effect; docs/bench.md measures the result against the whole database.)"""
    holders = reserved_holders(lex, config, bits)
    # (the chains are all that is read of these walks: see analyzer/calltrace.py)
    from_entry = {e: lex.levels([e], paths=False, use=f"entry:{e}")
                  for e in sorted(entries) if lex.defs.get(e)}
    to_holder = {h: lex.levels([h], up=True, paths=False, use=f"holder:{h}")
                 for h in sorted(set().union(*holders.values()))}
    sites = holders["set"] | holders["clear"]
    need: set[str] = set()
    on_site_chains: set[str] = set()
    for entry, down in from_entry.items():
        for holder, up in to_holder.items():
            if holder not in down:
                continue
            bound = down[holder][0] + CHAIN_SLACK
            # on a chain: as far from the entry plus to the holder as the bound allows
            # (read from the smaller of the two walks)
            chain = {k for k in (up if len(up) < len(down) else down)
                     if k in down and k in up and down[k][0] + up[k][0] <= bound}
            need |= chain
            if holder in sites:
                on_site_chains |= chain
            if lex.trace is not None:
                lex.trace.chains[(entry, holder)] = chain
    defined_sites = {holder for holder in sites if holder in lex.defs}
    need |= defined_sites
    if lex.trace is not None:
        lex.trace.sites, lex.trace.defined_sites = set(sites), defined_sites
    witnesses: set[str] = set()
    for op in ("set", "clear"):
        to_op = lex.levels(holders[op], up=True)
        if lex.trace is not None:
            lex.trace.witness_walks.append(lex.trace.walk_index(to_op))
        walked: set[str] = set()
        for key in sorted(on_site_chains):
            node = lex.nearest_callee(key, to_op)
            while node is not None and node not in walked:
                walked.add(node)
                node = to_op[node][1]
        witnesses |= walked
    return need | witnesses


def walkers(lex: LexIndex, config: Config) -> set[str]:
    """Functions (not macros) that convert pfns with a conversion that is not an online
    check, and those named in `prefilter.walkers` (conversions the lexical index cannot
    see: see `walker_names`)."""
    unsafe = (config_names(config, "pfn", "converters")
              - config_names(config, "pfn", "online_guards"))
    named = lex.keys_named(config_names(config, "prefilter", "walkers"))
    # (a named function with a macro in another #ifdef arm is still one)
    return {k for k in _mentioning(lex, unsafe) if not any(fn.macro for fn in lex.defs[k])} \
        | {k for k in named if not all(fn.macro for fn in lex.defs.get(k, ())) or
           not lex.defs.get(k)}


def walker_units(lex: LexIndex, config: Config, known: set[str],
                 keys: set[str] | None = None) -> dict[str, frozenset[str] | None]:
    """Each walker's own part of the walkers' demand (by name, the functions of that name
    together): the TUs of `known` defining it and what `walker_demand` needs for it alone.
    KMI003's verdicts on a walker read only these (bench/units.py checks it on a whole
    kernel), so a run keeps the findings of each walker whose TUs are unchanged
    (analyzer/memo.py).  Each walk asks the index only what the family's walks asked, and
    is not part of the demand's trace.  After changed calls (`_carried`) a walker whose
    TUs define an end of one has None: its own demand may have changed, and the rule
    takes its family's TUs for it until the demand is computed afresh."""
    by_name: dict[str, set[str]] = {}
    for key in keys if keys is not None else walkers(lex, config):
        by_name.setdefault(key.split("@", 1)[0], set()).add(key)
    trace, lex.trace = lex.trace, None
    try:
        return {name: frozenset(lex.files_defining(walker_demand(lex, config, keys) | keys)
                                & known)
                for name, keys in sorted(by_name.items())}
    finally:
        lex.trace = trace


def walker_names(lex: LexIndex, config: Config, keys: set[str] | None = None
                 ) -> frozenset[str]:
    """The names the walkers' demand treats as pfn walkers: the lexical walkers and every
    name of `prefilter.walkers`, defined or not.  A function the rules find converting
    pfns under another name is a walker the demand did not know (see `learn_walkers`)."""
    keys = keys if keys is not None else walkers(lex, config)
    return frozenset({k.split("@", 1)[0] for k in keys}
                     | config_names(config, "prefilter", "walkers"))


# -- walkers the lexical index cannot see ------------------------------------------------
#
# A function that converts pfns only through a helper (`pfn_folio()`, a static inline of a
# header) or a macro (`pfn_to_nid()`) names no converter, so the demand does not hold its
# callers, and without them KMI003 may take the top of a caller chain for an uncalled
# root, or miss a caller's guarantee.  The rule tells which functions convert once it has
# run; the names the demand did not know are kept in the store (memo `pfn-walkers`, by the
# config) and join `prefilter.walkers` from then on, and the run that
# found them computes its demand again with them (cli/session.py: a second round).

def _learned_key(config: Config) -> str:
    """By the config alone: the names stay learned across kmeminit's versions (a name
    that no longer converts only demands a walker's TUs more)."""
    head = json.dumps(config.data, sort_keys=True, default=str)
    return hashlib.blake2b(head.encode(), digest_size=16).hexdigest()


def learned_walkers(store: FactStore, config: Config) -> frozenset[str]:
    """The walkers earlier runs found that the lexical index cannot see."""
    stored = store.memo("pfn-walkers", _learned_key(config))
    if not isinstance(stored, list) or not all(isinstance(n, str) for n in stored):
        return frozenset()
    return frozenset(stored)


def learn_walkers(store: FactStore, config: Config, names: set[str] | frozenset[str]
                  ) -> frozenset[str]:
    """Keep these names with the walkers learned before; returns them all."""
    learned = learned_walkers(store, config) | frozenset(names)
    store.put_memo("pfn-walkers", _learned_key(config), sorted(learned))
    return learned


def demand_config(config: Config, store: FactStore) -> Config:
    """The config the demand is computed with: `prefilter.walkers` with the walkers learned
    in this store added (the rules' own config stays as it is: what they find does not
    depend on the TUs' choice, only on the TUs chosen)."""
    learned = learned_walkers(store, config)
    if not learned:
        return config
    data = dict(config.data)
    section = dict(data.get("prefilter") or {})
    section["walkers"] = sorted(set(section.get("walkers") or []) | learned)
    data["prefilter"] = section
    return replace(config, data=data)


def walker_demand(lex: LexIndex, config: Config, keys: set[str]) -> set[str]:
    """What KMI003's verdicts on these functions depend on: for each, a caller chain up to
    a root that is neither `__init` nor a hotplug / device entry (all its callers when
    there is none), its callers up to `caller_levels` levels (the caller guarantee asks
    every one of them, and the finding names those that prove nothing), and the callees it
    may pass a struct page to."""
    hot = config_names(config, "entries", "hotplug", "device")
    from kmeminit.analyzer.rules import rule_config

    # the rule's own default: checkers/kmi003_pfn_walker_uninit_memmap.py
    levels = int(rule_config(config, "KMI003").get("caller_levels", 2))
    need = set(lex.levels(keys, up=True, limit=levels, paths=False))
    for avoid in (lex.is_init, lambda k: k.split("@", 1)[0] in hot):
        for key in sorted(keys):
            if avoid(key):
                continue
            chain = lex.path_to_root(key, avoid)
            need |= set(chain) if chain is not None else lex.up([key], avoid, use="walkers")
    # (the predicate named for the trace: analyzer/calltrace.py)
    page_callees = lex.down(keys, lex.page_param, use="walkers", predicate="follow:page")
    return need | page_callees


def _mentioning(lex: LexIndex, words: set[str]) -> set[str]:
    return lex.defining(words, "mentions")


def _altmap_types(config: Config) -> set[str]:
    return {w for t in [config.get("altmap", "pointer", default=""),
                        config.get("altmap", "container", default=""),
                        *(config.get("origins", default={}) or {})]
            for w in _IDENT.findall(t or "") if w not in ("struct", "union")}


_INCLUDE_LINE = re.compile(rb'[ \t]*#[ \t]*include[ \t]*([<"])([^>"\n]+)[>"]')


def _includes(text: bytes) -> list[tuple[bytes, bytes]]:
    """(`<` or `"`, name) of every `#include` line, in order: the lines holding the word,
    each matched from its start (the same as a multi-line regex over every line, which
    cost the prefilter a quarter of a second over a whole kernel's headers)."""
    out = []
    find = text.find
    at = find(b"include")
    while at != -1:
        match = _INCLUDE_LINE.match(text, text.rfind(b"\n", 0, at) + 1)
        if match is not None and match.end() > at:
            out.append((match[1], match[2]))
        end = find(b"\n", at)
        if end == -1:
            break
        at = find(b"include", end)
    return out


def _search_dirs(entry: CompileEntry) -> tuple[tuple[str, ...], tuple[str, ...], list[str]]:
    """(quote dirs, angle dirs, forced includes) of a compile entry, as the preprocessor
    searches them."""
    quote: list[str] = []
    angle: list[str] = []
    forced: list[str] = []
    args = entry.clang_args
    i = 0
    while i < len(args):
        arg = args[i]
        if arg[:2] not in ("-I", "-i"):  # most of a kernel command line: skipped at once
            i += 1
            continue
        for flag, where in (("-iquote", quote), ("-I", angle), ("-isystem", angle),
                            ("-idirafter", angle), ("-include", forced)):
            if arg == flag and i + 1 < len(args):
                where.append(os.path.join(entry.directory, args[i + 1]))
                i += 1
                break
            if arg.startswith(flag) and len(arg) > len(flag) and flag != "-include":
                where.append(os.path.join(entry.directory, arg[len(flag):]))
                break
        i += 1
    return tuple(quote + angle), tuple(angle), forced


class Includes:
    """#include resolution as the preprocessor searches, memoised for one run."""

    def __init__(self, absent: Absent | None = None) -> None:
        self._found: dict[tuple[bytes, bytes, str, tuple[str, ...]], str | None] = {}
        self.absent = absent  # records every path looked for and not found

    def resolve(self, kind: bytes, name: bytes, here: str, dirs: tuple[str, ...]
                ) -> str | None:
        key = (kind, name, here, dirs)
        if key not in self._found:
            rel = os.fsdecode(name)
            found = None
            for d in ((here,) if kind == b'"' else ()) + dirs:
                path = os.path.normpath(os.path.join(d, rel))
                if os.path.isfile(path):
                    found = path
                    break
                if self.absent is not None:
                    self.absent.add(path)
            self._found[key] = found
        return self._found[key]


def vocabulary(config: Config) -> frozenset[str]:
    """Every configured name the prefilter and its demand ever look up in a scan's
    identifiers, mentions, stores and signatures (config_symbols before `ignore`, and the
    bit operations): a stored scan keeps only these, and loads ten times faster."""
    names: set[str] = set()
    for section in ("events", "event_stores", "entries", "pfn", "reserved"):
        for values in (config.get(section, default={}) or {}).values():
            names.update(values)
    names.update(_altmap_types(config))
    names.update(config.get("prefilter", "symbols", default=[]) or [])
    return config.names(sorted(names)) | config_symbols(config)


class StoredScans:
    """The lexical index's scans kept in the fact store between runs (by path, content
    hash, scanner version and vocabulary): kmeminit-cc scans each TU it skips, `report`
    and the prefilter then only read files."""

    def __init__(self, store: FactStore, config: Config) -> None:
        self.store = store
        self.vocabulary = vocabulary(config)
        digest = hashlib.blake2b("\0".join(sorted(self.vocabulary)).encode(), digest_size=8)
        self.version = f"{SCANNER}:{digest.hexdigest()}"
        self.new: list[tuple[str, str, str, bytes]] = []
        self._fresh: dict[tuple[str, str], bytes] = {}  # the new ones' blobs

    def get(self, path: str, digest: str) -> LexFile | None:
        blob = self._stored(path, digest)
        return decode_scan(blob) if blob is not None else None

    def put(self, path: str, digest: str, lex: LexFile) -> None:
        self.new.append((path, digest, self.version, encode_scan(lex, self.vocabulary)))
        self._fresh[path, digest] = self.new[-1][3]

    def _stored(self, path: str, digest: str) -> bytes | None:
        fresh = self._fresh.get((path, digest))
        return fresh if fresh is not None else self.store.lex_scan(path, digest, self.version)

    def blob(self, path: str, text: bytes, digest: str) -> bytes:
        """The encoded scan of this text of `path` (scanned now when it is not stored):
        what the prefilter looks up in it, so an edit that leaves it unchanged (a
        comment, a line of code naming nothing configured) leaves it equal."""
        blob = self._stored(path, digest)
        if blob is None:
            self.put(path, digest, scan_text(path, text))
            blob = self.new[-1][3]
        return blob

    def flush(self) -> None:
        self.store.put_lex_scans(self.new)
        self.new, self._fresh = [], {}


@dataclass(frozen=True)
class LexicalEntry:
    """What kmeminit-cc records of a TU it does not parse: the content hashes of its .c
    file and private headers (the files whose mentions are the TU's), and whether they
    mention a configured symbol."""

    files: tuple[tuple[str, str], ...]  # (path, content hash), the .c file first
    relevant: bool


def lexical_entry(entry: CompileEntry, config: Config, scans: ScanCache | None = None
                  ) -> LexicalEntry | None:
    """The TU's lexical entry (None when its source cannot be read): its .c file and the
    headers it includes with quotes, scanned as `build_lexindex` scans them."""
    data = _read(entry.file)
    if data is None:
        return None
    quote, _, _ = _search_dirs(entry)
    here, includes = os.path.dirname(entry.file), Includes()
    texts = {entry.file: data}
    for kind, name in _includes(data):
        found = includes.resolve(kind, name, here, quote) if kind == b'"' else None
        if found is not None and found not in texts and (text := _read(found)) is not None:
            texts[found] = text
    symbols = config_symbols(config)
    files, relevant = [], False
    for path, text in texts.items():
        digest = content_hash(text)
        files.append((path, digest))
        relevant = relevant or bool(scan_file(path, text, scans, digest).idents & symbols)
    return LexicalEntry(tuple(files), relevant)


def lexical_files(entries: list[CompileEntry], includes: Includes | None = None
                  ) -> Iterator[tuple[str, bytes, str | None, bool]]:
    """What the lexical index reads, in order: (path, text, owner, header) for every TU's
    .c file, the quoted headers it includes (owned by the TU) and every header reachable
    through includes (owned by none), each header once.  `includes` resolves them (and
    records what it did not find)."""
    seen_headers: set[str] = set()
    includes = includes or Includes()
    resolve = includes.resolve
    for entry in entries:
        data = _read(entry.file)
        if data is None:
            if includes.absent is not None:
                includes.absent.add(entry.file)
            continue
        yield entry.file, data, None, False
        quote, angle, forced = _search_dirs(entry)
        todo = [(entry.file, data)] + [(f, None) for f in forced]
        while todo:
            path, text = todo.pop()
            if text is None:
                if path in seen_headers:
                    continue
                seen_headers.add(path)
                text = _read(path)
                if text is None:
                    if includes.absent is not None:
                        includes.absent.add(path)
                    continue
                yield path, text, None, True
            here = os.path.dirname(path)
            for kind, name in _includes(text):
                found = resolve(kind, name, here, quote if kind == b'"' else angle)
                if found is None:
                    continue
                if path == entry.file and kind == b'"':
                    # the TU's private header ("internal.h"): its mentions and
                    # definitions are the TU's
                    private = _read(found)
                    if private is not None:
                        yield found, private, entry.file, False
                if found not in seen_headers:
                    todo.append((found, None))


def build_lexindex(entries: list[CompileEntry], config: Config,
                   scans: ScanCache | None = None,
                   files: Sequence[LexicalRow] | None = None) -> LexIndex:
    """The lexical call index of every TU's .c file and the quoted headers it includes
    (charged to the TU), plus every header reachable through includes (charged to none).
    `files`, what `lexical_files` would read as a demand key found it (DemandKey.files),
    spares reading the files and their include lines again when `scans` holds the scan
    of every one."""
    lex = LexIndex(max_fanout=int(config.get("prefilter", "max_fanout", default=4)),
                   leaves=frozenset(config.names(config.get("services", default=[]) or [])),
                   scans=scans, vocabulary=vocabulary(config))
    if files is not None and scans is not None:
        found: dict[str, LexFile | None] = {}  # one scan per content, as `add` keeps
        for path, _, _, digest in files:
            if digest not in found:
                found[digest] = scans.get(path, digest)
        if None not in found.values():
            for path, owner, header, digest in files:
                scan = found[digest]
                assert scan is not None
                lex.add_scan(path, scan, owner=owner, header=header)
            return lex
    for path, text, owner, header in lexical_files(entries):
        lex.add(path, text, owner=owner, header=header)
    return lex


class LexicalRow(NamedTuple):
    """A file the lexical index reads (see lexical_files), with its text's content hash."""

    path: str
    owner: str | None
    header: bool
    digest: str


@dataclass
class PrefilterReport:
    total: int
    initial: int = 0
    added: dict[str, int] = field(default_factory=dict)  # rule family → TUs it added
    levels: int = 0  # call levels the growth followed (its fixpoint, or the bound)
    bounded: bool = False  # stopped by prefilter.max_rounds before the fixpoint
    kept: int = 0
    # rule family → the TUs its verdicts depend on (together, the TUs analysed)
    scopes: dict[str, frozenset[str]] = field(default_factory=dict)
    carried: int = 0  # files edited since the last demand, which their edits cannot change
    updated: bool = False  # ... or whose changed calls it was updated from (calltrace.py)
    # the names its walkers' demand treated as pfn walkers (walker_names)
    walkers: frozenset[str] = frozenset()
    # each of them → the TUs its own demand needs (walker_units); a walker's is None when
    # a changed call may have changed it (its TUs define an end of one: see `_carried`),
    # all of them when the changed calls' ends are not known
    units: dict[str, frozenset[str] | None] | None = None

    def summary(self) -> str:
        grown = ", ".join(f"+{n} for {why}" for why, n in self.added.items() if n)
        stop = (f"stopped at the bound of {self.levels} call levels" if self.bounded
                else f"fixpoint after {self.levels} call levels")
        files = f"{self.carried} file{'s' if self.carried != 1 else ''}"
        kept = ("" if not self.carried else
                f" (updated from the calls the edits of {files} changed)" if self.updated
                else f" (as before: the edits of {files} reach nothing the demand asked "
                     "about)")
        return (f"kmeminit: prefilter: {self.initial} of {self.total} TUs mention configured "
                f"symbols; grown along calls ({stop}): {grown or 'nothing added'}; "
                f"{self.kept} TUs analysed{kept}")


def prefilter_index(entries: list[CompileEntry], store: FactStore, config: Config,
                    index: Callable[[list[CompileEntry]], object],
                    log: Callable[[str], None] | None = None, reuse: bool = True,
                    hashes: HashCache | None = None, defer: bool = False
                    ) -> tuple[list[CompileEntry], PrefilterReport]:
    """Choose the relevant TUs of `entries` and index them (one call of `index`); returns
    them, in database order, and what was done.  The choice comes from the store when
    the same scans led to it before (unless `reuse` is false).  `hashes` gets the content
    hash of every file the demand's key found unchanged or read, so that the index need
    not read them again to check the TUs' stored facts.  With `defer` the key's recording
    is written when the run has time (see demand_key)."""
    def say(message: str) -> None:
        (log or (lambda m: print(m, file=sys.stderr)))(message)

    report = PrefilterReport(len(entries))
    scans = StoredScans(store, config)
    demand = demand_key(entries, store, scans, config, defer=defer)
    if hashes is not None:
        hashes.seed(demand.contents)
    key = demand.key
    stored = store.memo("demand", key) if reuse else None
    queried: list[str] | None = None  # what a carried demand asked (None: as before)
    trace: dict[str, Any] | None = None  # and what it took from the call relation
    carried_calls = False  # and whether the edits changed calls it asked about
    if stored is None and reuse and demand.changed and demand.previous is not None:
        carried = _carried(store, scans, demand, config)
        if carried is not None:
            stored, queried, trace, report.updated, carried_calls = carried
            report.carried = len({path for path, *_ in demand.changed})
    try:  # every scan as when this demand was computed
        chosen = set(stored["chosen"]) if stored is not None else None
        if stored is not None:
            report.initial, report.added = int(stored["initial"]), dict(stored["added"])
            report.levels, report.bounded = int(stored["levels"]), bool(stored["bounded"])
            order = list(stored["chosen"])
            report.scopes = {str(family): frozenset(order[int(i)] for i in indices)
                             for family, indices in stored["scopes"].items()}
            report.walkers = frozenset(str(n) for n in stored["walkers"])
            report.units = None if stored["units"] is None else {
                str(name): None if indices is None else frozenset(order[int(i)]
                                                                  for i in indices)
                for name, indices in stored["units"].items()}
    except (KeyError, TypeError, ValueError, IndexError):  # a damaged row: computed again
        store.forget_memo("demand", key)
        chosen, report.carried = None, 0
    if chosen is None:
        from kmeminit.analyzer.program import collector_paused, spare

        report.added = {}
        with collector_paused():  # a few million acyclic objects
            lex = build_lexindex(entries, config, scans, demand.files)
            lex.queried, lex.trace = set(), CallTrace()
            chosen = _demand(entries, lex, config, report)
            asked = lex.queried
            write = _trace_writer(store, key, lex, sorted({e.file for e in entries}))
            lex.trace = None
            # the trace (0.3 s on a whole kernel) is written when the run has time, and
            # at the latest before the index is freed
            spare(lex, write)
            store.defer(write) if defer else write()
            del lex
        stored = _stored_demand(chosen, report)
        store.put_memo("demand", key, stored)
        store.put_memo("demand-queried", key, sorted(asked))
    elif report.carried and demand.previous is not None:
        store.put_memo("demand", key, stored)
        if queried is None:  # the same questions
            store.copy_memo("demand-queried", demand.previous, key)
        else:
            store.put_memo("demand-queried", key, queried)
        if trace is not None:  # written when the run has time (a whole kernel's: 0.1 s)
            data = trace

            def write() -> None:
                store.put_memo("demand-trace", key, data)

            store.defer(write) if defer else write()
        elif not carried_calls:  # the same trace
            store.copy_memo("demand-trace", demand.previous, key)
    scans.flush()
    kept = [e for e in entries if e.file in chosen]
    report.kept = len(kept)
    say(report.summary())
    index(kept)
    return kept, report


def _trace_writer(store: FactStore, key: str, lex: LexIndex, tus: list[str]
                  ) -> Callable[[], None]:
    """A write of the demand's trace (memo `demand-trace`), once: it lets go of the index
    and the trace when done, wherever it is still held."""
    assert lex.trace is not None
    held = [(lex, lex.trace)]

    def write() -> None:
        if held:
            index, trace = held.pop()
            data = trace.encode(index.answers(), index.files_of, tus, key_flags(index))
            if data is not None:
                store.put_memo("demand-trace", key, data)

    return write


def key_flags(lex: LexIndex) -> Callable[[str], int]:
    """A key's flags for the trace (calltrace.PAGE for the walks' predicates; MULTI and
    HELD for removed calls), asking nothing (see LexIndex.queried)."""
    def flags(key: str) -> int:
        out = PAGE if lex.takes_page(key) else 0
        # (a call through a field or variable reaches only callees stored there: HELD)
        if len({fn.file for fn in lex.defs.get(key, ())}) != 1:
            out |= MULTI
        if lex.held_in.get(key) or lex.stored_in.get(key):
            out |= HELD
        return out

    return flags


def _stored_demand(chosen: set[str], report: PrefilterReport) -> dict[str, Any]:
    """The demand memo's row for this choice and report."""
    order = sorted(chosen)
    at = {file: i for i, file in enumerate(order)}
    return {"chosen": order, "initial": report.initial, "added": report.added,
            "levels": report.levels, "bounded": report.bounded,
            "scopes": {family: sorted(at[f] for f in files)
                       for family, files in report.scopes.items()},
            "walkers": sorted(report.walkers),
            "units": None if report.units is None else {
                name: None if files is None else sorted(at[f] for f in files if f in at)
                for name, files in sorted(report.units.items())}}


def _units_after_calls(before: dict[str, Any], after: dict[str, Any],
                       touched: set[str] | None) -> Any:
    """The walker units of demand row `after`, from those of `before`, after changed
    calls whose ends are defined in the TUs `touched` (None: not known).  A walker's own
    demand can change with a call only where its walks met an end of it, and every key
    those walks meet on a level walk or the chain they keep is in its demand
    (walker_demand), so its TUs hold the TUs defining that end: the others stay as they
    were.  A walker whose TUs hold one gets None (its family's TUs, until the demand is
    computed afresh), and so does one whose TUs the new row no longer chooses."""
    units = before.get("units")
    if not isinstance(units, dict) or touched is None:
        return None
    was, now = before["chosen"], {f: i for i, f in enumerate(after["chosen"])}
    out: dict[str, Any] = {}
    for name, indices in units.items():
        files = None if indices is None else [was[int(i)] for i in indices]
        out[name] = None if files is None or any(f in touched or f not in now
                                                 for f in files) \
            else sorted(now[f] for f in files)
    return out


def _carried(store: FactStore, scans: StoredScans, demand: DemandKey, config: Config
             ) -> tuple[dict[str, Any], list[str] | None, dict[str, Any] | None, bool,
                        bool] | None:
    """The previous demand, what it asked and what it took from the call relation, when
    the files edited since cannot change it, else None.

    The demand is a function of what it asked the lexical index (the keys, fields and
    variables it looked up or was answered with, kept as memo `demand-queried`), of the
    seeds it found by scanning every definition (configured names, and definitions
    mentioning, storing or typed with a configured word), and of which TUs mention a
    configured symbol.  An edit changes the index only at the names of the items
    (definitions, calls, stores) that differ between the file's two scans: when none of
    them was asked about, no differing definition could be a seed, and the file's
    configured mentions are the same, every answer is the same, and so is the demand.
    (Adding a helper, or a call between functions the demand never reached, is such an
    edit.)  An edit that adds or removes calls the demand did ask about keeps it too when
    the recorded walks and answers (memo `demand-trace`, analyzer/calltrace.py) stay the
    same: a call to a function its walks already reach as near, say.  Anything else on
    the demand's own paths computes it again, unless the trace can follow the changed
    calls (StoredTrace.patch: added calls, and removed calls the index no longer has,
    in the walks from entries and PG_reserved holders, from the set and clear sites and
    the events' callers, updated from the recorded answers).  The result:
    the demand, what it asked (None: as before), its trace when the changed calls
    changed it (else the previous one holds), whether it was updated, whether calls
    it asked about changed (and then the walkers' units: `_units_after_calls`)."""
    previous = store.memo("demand", demand.previous)
    queried = store.memo("demand-queried", demand.previous)
    if previous is None or not isinstance(queried, list):
        return None
    recorded_row = previous
    asked = set(queried)
    queried = None  # the same questions, unless changed calls' ends are new
    added: set[tuple[str, str]] = set()
    removed: set[tuple[str, str]] = set()
    for path, owner, header, before, after in demand.changed:
        old, new = scans.get(path, before), scans.get(path, after)
        if old is None or new is None:
            return None  # a scan no longer stored: nothing to compare with
        calls = call_changes(asked, scans.vocabulary, path, owner, header, old, new)
        if calls is None:
            return None
        added |= calls[0]
        removed |= calls[1]
    added, removed = index_steps(added, config), index_steps(removed, config)
    trace = None
    updated = False
    touched: set[str] | None = None
    if added or removed:
        data = store.memo("demand-trace", demand.previous)
        if data is None:
            return None
        try:
            recorded = StoredTrace(data)
            touched = recorded.tus_of(set().union(*added, *removed))
            if recorded.keeps(added, removed, CHAIN_SLACK):
                trace = recorded.carried(added, removed)  # None: none is kept
            elif previous.get("bounded") is False:
                patched = recorded.patch(added, removed, CHAIN_SLACK)
                if patched is None:
                    return None
                previous, trace, updated = (_patched_demand(patched, previous["walkers"]),
                                            patched.trace, True)
            else:
                return None
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):  # damaged
            store.forget_memo("demand-trace", demand.previous)
            return None
        # the answers that changed hold the changed calls' ends now
        ends = set().union(*added, *removed)
        queried = None if ends <= asked else sorted(asked | ends)
        previous = dict(previous, units=_units_after_calls(recorded_row, previous, touched))
    return previous, queried, trace, updated, bool(added or removed)


def index_steps(calls: set[tuple[str, str]], config: Config) -> set[tuple[str, str]]:
    """The calls (caller, callee) that are steps of the lexical index: none to or from a
    configured service (LexIndex.leaves)."""
    leaves = frozenset(config.names(config.get("services", default=[]) or []))
    return {(x, y) for x, y in calls
            if x.split("@", 1)[0] not in leaves and y.split("@", 1)[0] not in leaves}


def _patched_demand(patched: Patched, walkers: list[str]) -> dict[str, Any]:
    """The demand memo's row for a demand updated from the calls' trace: _demand's
    growth, over the families' keys the trace gives, and the previous row's `walkers`
    (a change of calls alone changes no mention: call_changes)."""
    report = PrefilterReport(0, walkers=frozenset(str(n) for n in walkers), units=None)
    scopes = {family: set(files) for family, files in patched.initial.items()}
    chosen = set().union(*scopes.values())
    report.initial = len(chosen)
    for why, files in patched.files.items():
        report.added[why] = len(files - chosen)
        chosen |= files
        scopes.setdefault(why, set()).update(files)
    report.levels, report.bounded = patched.depth, False
    report.scopes = {family: frozenset(files) for family, files in scopes.items()}
    return _stored_demand(chosen, report)


def call_changes(asked: set[str], vocabulary: frozenset[str], path: str,
                 owner: str | None, header: bool, old: LexFile, new: LexFile
                 ) -> tuple[set[tuple[str, str]], set[tuple[str, str]]] | None:
    """What an edit of `path` (charged to `owner`, or a `header`) from scan `old` to
    `new` changes of what a demand that asked the lexical index about `asked` depends
    on: None when it may change anything but calls (a configured mention of the TU, a
    possible seed, an item asked about other than a call), else the calls (caller,
    callee) added and removed that the demand asked about (see `_carried`)."""
    if not header and old.idents & vocabulary != new.idents & vocabulary:
        return None  # which TUs mention a configured symbol
    before = contribution(path, old, owner, header)
    after = contribution(path, new, owner, header)
    changed = before ^ after
    # a definition whose calls alone changed: its call items say what changed (not a
    # macro's: whether it takes a page is whether a function it calls does)
    defs: dict[str, list[Item]] = {}
    for item in changed:
        if item.kind == "def":
            defs.setdefault(item.names[0], []).append(item)
    calls_only = set()
    for items in defs.values():
        if len(items) == 2 and items[0].fn is not None and items[1].fn is not None and \
                not items[0].fn.macro and \
                _without_calls(items[0].fn) == _without_calls(items[1].fn):
            calls_only.update(items)
    added: set[tuple[str, str]] = set()
    removed: set[tuple[str, str]] = set()
    for item in changed - calls_only:
        if item.kind == "call":
            if asked.intersection(item.names):
                (added if item in after else removed).add((item.names[0], item.names[1]))
            continue
        if asked.intersection(item.names):
            return None
        fn = item.fn
        if fn is not None and (fn.name in vocabulary or (
                fn.mentions | fn.stores | fn.signature) & vocabulary):
            return None  # it could be a seed
    return added, removed


def _without_calls(fn: LexFunction) -> LexFunction:
    return fn._replace(calls=frozenset(), line=0)


def _demand(entries: list[CompileEntry], lex: LexIndex, config: Config,
            report: PrefilterReport) -> set[str]:
    """The TUs of `entries` the rules need: those mentioning a configured symbol, grown
    along calls by each rule family's demand (`report` tells how, and keeps each family's
    own TUs: the ones mentioning its symbols and the ones its demand adds)."""
    known = {e.file for e in entries}
    scopes = {family: {tu for name in names for tu in lex.mentioned_in.get(name, ())} & known
              for family, names in family_symbols(config).items()}
    chosen = set().union(*scopes.values())
    report.initial = len(chosen)
    if lex.trace is not None:
        lex.trace.initial = {family: set(files) for family, files in scopes.items()}
    lex.max_levels = int(config.get("prefilter", "max_rounds", default=32))
    walker_keys = walkers(lex, config)  # (asked once: the three below share them)
    for why, keys in lexical_demand(lex, config, walker_keys).items():
        files = lex.files_defining(keys) & known
        report.added[why] = len(files - chosen)
        chosen |= files
        scopes[why] |= files
    report.levels, report.bounded = lex.deepest, lex.bounded
    report.scopes = {family: frozenset(files) for family, files in scopes.items()}
    report.walkers = walker_names(lex, config, walker_keys)
    report.units = walker_units(lex, config, known, walker_keys)
    return chosen


class DemandKey(NamedTuple):
    """The demand's key, and when it comes from a recording of an earlier run: that run's
    key and the files whose scans changed since, as (path, owner, header, content hash
    then, content hash now)."""

    key: str
    previous: str | None = None
    changed: tuple[tuple[str, str | None, bool, str, str], ...] = ()
    # what the lexical index reads, in order, with each text's content hash as this run
    # found it (read, or its stat signature unchanged since it was: analyzer/watch.py)
    files: tuple[LexicalRow, ...] = ()

    @property
    def contents(self) -> dict[str, str]:
        """The content hash of every file read."""
        return {row.path: row.digest for row in self.files}


def demand_key(entries: list[CompileEntry], store: FactStore, scans: StoredScans,
               config: Config, defer: bool = False) -> DemandKey:
    """What the demand depends on: the TUs, the scan of every file the lexical index reads
    and how it is charged, the config and kmeminit's code (analyzer/memo.py).

    Reading every file of a whole kernel to hash its scan costs most of a second, so the
    files read, their stat signatures, scans and include lines are kept with the key
    (memo `demand-files`, by the TUs and their include paths): files whose signatures are
    unchanged are not read again, a changed file whose include lines are unchanged is read
    alone, and anything else (an include line edited, a file deleted, a header appearing
    where an include was looked for: analyzer/watch.py) reads every file again.  With
    `defer`, the recording of files read again is written when the run has time
    (FactStore.defer)."""
    from kmeminit.analyzer import version
    from kmeminit.analyzer.memo import code_digest

    head = json.dumps([version(), code_digest(()), config.data, scans.version,
                       [e.file for e in entries]], default=str).encode()
    where = hashlib.blake2b(head, digest_size=16)
    for e in entries:  # the include paths decide which files are read
        where.update("\0".join((e.file, e.directory, *e.clang_args, "\n")).encode(
            errors="surrogateescape"))
    watch_key = where.hexdigest()
    recorded = store.memo("demand-files", watch_key)
    if recorded is not None:
        try:
            key, rows = _recorded_key(head, recorded, scans)
        except (KeyError, TypeError, ValueError, IndexError):  # a damaged row
            store.forget_memo("demand-files", watch_key)
        else:
            if key is not None:
                if rows is not None:  # some files were read again: their new signatures
                    # (against the old beginning: a file read now stays racy, and is read
                    # each time until every file is read again); written when the run
                    # has time (a run that ends first reads them again next time)
                    def record() -> None:
                        store.put_memo("demand-files", watch_key,
                                       dict(recorded, rows=rows, key=key.key))
                    store.defer(record) if defer else record()
                return key
    began, absent = time.time_ns(), Absent()
    # streamed: the texts of a whole kernel's files are not all kept
    rows = []
    digest = hashlib.blake2b(head, digest_size=16)
    scanned: dict[str, bytes] = {}  # a private header comes once per owner
    for path, text, owner, header in lexical_files(entries, Includes(absent)):
        content = content_hash(text)
        of_scan = scanned.get(content + path)
        if of_scan is None:
            blob = scans.blob(path, text, content)
            of_scan = scanned[content + path] = hashlib.blake2b(blob, digest_size=16).digest()
        _key_row(digest, path, owner, header, of_scan)
        rows.append([path, owner or "", int(header), signature(path), of_scan.hex(),
                     _includes_digest(text), content])
    key = digest.hexdigest()
    store.put_memo("demand-files", watch_key, {"began": began, "rows": rows,
                                               "absent": absent.encode(), "key": key})
    return DemandKey(key, files=_files(rows))


def _files(rows: list[list[Any]]) -> tuple[LexicalRow, ...]:
    return tuple(LexicalRow(row[0], row[1] or None, bool(row[2]), row[6]) for row in rows)


def _key_row(digest: Any, path: str, owner: str | None, header: bool,
             of_scan: bytes) -> None:
    digest.update(_key_bytes(path, owner, header, of_scan))


def _key_bytes(path: str, owner: str | None, header: bool, of_scan: bytes) -> bytes:
    """What a file's row adds to the demand key."""
    return f"\0{path}\0{owner or ''}\0{int(header)}\0".encode(
        errors="surrogateescape") + of_scan


def _includes_digest(text: bytes) -> str:
    return hashlib.blake2b(repr(_includes(text)).encode(), digest_size=8).hexdigest()


def _recorded_key(head: bytes, recorded: dict[str, Any], scans: StoredScans
                  ) -> tuple[DemandKey | None, list[list[Any]] | None]:
    """The demand key from a recording of the files read (see demand_key): (key, the
    rows to record again when a file was read again, else None), or (None, None) when
    every file must be read again."""
    began = int(recorded["began"])
    if not Absent.unchanged(recorded["absent"], began):
        return None, None
    previous = str(recorded["key"])  # the key of the rows as recorded
    rows, reread, changed = recorded["rows"], False, []
    # path → (signature, scan digest in hex, content hash) as this run found it (a
    # private header has a row per owner as well as its own)
    seen: dict[str, tuple[Any, str, str]] = {}
    keyed: list[bytes] = []  # what _key_row gives the digest, row by row, in one update
    for row in rows:
        path, owner, header, sig, scan_hex, includes_hex, content = row
        if not isinstance(path, str):  # a damaged row (an int would stat a descriptor)
            raise TypeError(f"recorded path {path!r}")
        found = seen.get(path)
        if found is None:
            now = signature(path)
            if trusted(sig, now, began):
                found = seen[path] = (sig, bytes.fromhex(scan_hex).hex(), content)
            else:
                text = _read(path)
                if text is None or _includes_digest(text) != includes_hex:
                    return None, None
                new_content = content_hash(text)
                blob = scans.blob(path, text, new_content)
                found = seen[path] = (now, hashlib.blake2b(blob, digest_size=16).hexdigest(),
                                      new_content)
                reread = True
        row[3], of_scan, row[6] = found
        if of_scan != scan_hex:
            changed.append((path, owner or None, bool(header), content, row[6]))
        row[4] = of_scan
        keyed.append(_key_bytes(path, owner or None, bool(header), bytes.fromhex(of_scan)))
    digest = hashlib.blake2b(head, digest_size=16)
    digest.update(b"".join(keyed))
    return (DemandKey(digest.hexdigest(), previous, tuple(changed), _files(rows)),
            rows if reread else None)
