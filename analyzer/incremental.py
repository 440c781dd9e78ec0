"""What a change can affect: the rule families to re-check, and on which TUs.

`kmeminit diff` wants the findings the head adds to the base.  A rule family whose verdicts
depend on no function the change touched adds none, and need not run at all.  What each
family depends on is what the prefilter parses for it (`lexical_demand`, on the lexical
call index of the whole selection):

    events     KMI001, KMI002: callers of functions with ordering events, up to the roots
    sites      KMI006: functions between an entry point and a PG_reserved set/clear site
    readers    KMI007: functions between an entry point and a PG_reserved reader
    walkers    KMI003: per function, a caller chain up to a root and the callees it hands a
               struct page to
    origins    KMI004, KMI005: functions taking or returning the altmap, and their callers

The index holds the head's text of every file and, besides, the base's text of the changed
ones, so that a call the change removed counts as much as one it added.  The events and
origins families, when touched, are re-checked on the whole selection; so are the KMI006
sites when the change lies between an entry point and any set/clear site (their net
effects run through it).  Otherwise the walkers, sites and readers are re-checked target
by target, on the TUs of the targets' demand only, and only the targets' findings are
kept: for KMI003 each pfn walker of a changed file and each one whose demand meets the
change; for KMI006/KMI007 each site or reader in a changed function or with the change
between it and an entry point.  A rule of no known family (a plugin) is always re-checked
on the whole selection.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kmeminit.analyzer.compdb import CompileEntry
from kmeminit.analyzer.config import Config
from kmeminit.analyzer.lexindex import LexIndex, blanked, function_spans
from kmeminit.analyzer.prefilter import (
    StoredScans,
    build_lexindex,
    config_names,
    lexical_demand,
    walker_demand,
    walkers,
)
from kmeminit.analyzer.results import Finding
from kmeminit.analyzer.store import FactStore

RULE_FAMILY = {"KMI001": "events", "KMI002": "events", "KMI003": "walkers",
               "KMI004": "origins", "KMI005": "origins", "KMI006": "sites",
               "KMI007": "readers"}


@dataclass
class Recheck:
    """The families a change touches.  A family in `whole` is re-checked on the whole
    selection; `targets[family]` are the lexical keys of the functions whose findings are
    recomputed for a family re-checked function by function (walkers: KMI003 findings
    in those functions; reserved: the KMI006/KMI007 findings at sites and readers in
    them), on the TUs `files[family]`."""

    whole: set[str] = field(default_factory=set)
    targets: dict[str, frozenset[str]] = field(default_factory=dict)
    files: dict[str, set[str]] = field(default_factory=dict)
    statics: frozenset[str] = frozenset()  # target keys of static functions (name@file)
    changed_functions: int = 0

    def whole_rules(self, rule_ids: Iterable[str]) -> list[str]:
        """Rules re-checked on the whole selection: a touched family's, or a plugin's."""
        return [r for r in rule_ids
                if r not in RULE_FAMILY or RULE_FAMILY[r] in self.whole]

    def target_rules(self, family: str, rule_ids: Iterable[str]) -> list[str]:
        """Rules of a family re-checked for its targets only."""
        if family in self.whole or not self.targets.get(family):
            return []
        return [r for r in rule_ids if RULE_FAMILY.get(r) == family]

    def vouched(self, family: str, finding: Finding) -> bool:
        """Whether a finding of a targeted re-check is in one of the family's targets."""
        name = finding.function or ""
        local = f"{name}@{finding.location.file}"
        return (local if local in self.statics else name) in self.targets[family]

    def summary(self) -> str:
        touched = sorted(self.whole) + [
            f"{family} ({len(keys)} functions, {len(self.files[family])} TUs)"
            for family, keys in sorted(self.targets.items()) if keys]
        return (f"the change ({self.changed_functions} functions) touches "
                f"{', '.join(touched) or 'no rule family'}")


def plan(entries: list[CompileEntry], store: FactStore, config: Config,
         base_sources: Mapping[str, bytes | None]) -> Recheck:
    """What to re-check after the files of `base_sources` changed (their content at the
    base; None for a file the base lacks)."""
    names = {path: _changed_names(path, base) for path, base in base_sources.items()}
    if not any(n is None or n for n in names.values()):
        return Recheck()  # comments and blank lines only: nothing can change
    scans = StoredScans(store, config)
    lex = build_lexindex(entries, config, scans)
    scans.flush()
    for path, data in sorted(base_sources.items()):  # the base's calls join the head's
        if data is not None and path.endswith((".c", ".h")):
            lex.add(path, data, header=path.endswith(".h"))
    lex.max_levels = int(config.get("prefilter", "max_rounds", default=32))
    changed = set(base_sources)
    keys = set()
    for path, changed_names in sorted(names.items()):
        keys |= _changed_functions(lex, entries, store, path, changed_names)
    recheck = Recheck(changed_functions=len(keys))
    if not keys:
        return recheck
    demand = lexical_demand(lex, config)
    recheck.whole = {family for family in ("events", "origins") if keys & demand[family]}
    known = {e.file for e in entries}
    including = {e.file for e in entries if e.file in changed
                 or _includes_any(store, e.file, changed)}
    # walkers: each walker of a changed file (at the head or the base), and each walker
    # whose demand meets the change
    chosen = {k for k in walkers(lex, config)
              if k in keys or keys & walker_demand(lex, config, {k})}
    needed = walker_demand(lex, config, chosen) | chosen
    recheck.targets["walkers"] = frozenset(chosen)
    recheck.files["walkers"] = (lex.files_defining(needed) & known) | including
    # KMI006, KMI007: a site's or reader's chains and entry points depend on what lies
    # between the entry points and it; a site's net effect, on every function between an
    # entry point and any set/clear site (the transitions after it)
    reach = lex.down(lex.keys_named(config_names(config, "entries")))
    bits = config_names(config, "reserved", "bits")
    for family, sections in (("sites", ("set", "clear", "wrappers_set", "wrappers_clear")),
                             ("readers", ("readers",))):
        words = config_names(config, "reserved", *sections) | bits
        holders = {k for k, fns in lex.defs.items() if any(fn.mentions & words for fn in fns)}
        if family == "sites" and keys & lex.up(holders) & reach:
            recheck.whole.add(family)
            continue
        between = {h: lex.up([h]) & reach for h in holders}
        hit = {h for h in holders if h in keys or keys & between[h]}
        if hit:
            recheck.targets[family] = frozenset(hit)
            recheck.files[family] = (lex.files_defining(hit.union(
                *(between[h] for h in hit))) & known) | including
    recheck.statics = frozenset(k for keys_ in recheck.targets.values() for k in keys_
                                if "@" in k)
    return recheck


def _changed_functions(lex: LexIndex, entries: list[CompileEntry], store: FactStore,
                       path: str, names: set[str] | None) -> set[str]:
    """The lexical keys of the changed definitions of `path` (all of its own when `names`
    is None).  A changed file that is not C source changes every function of the TUs that
    include it."""
    if not path.endswith((".c", ".h")):
        tus = {e.file for e in entries if _includes_any(store, e.file, {path})}
        return {k for k, fns in lex.defs.items() if any(fn.file in tus for fn in fns)}
    every = {k for k, fns in lex.defs.items() if any(fn.file == path for fn in fns)}
    if names is None:
        return every
    return {k for k in every if k.split("@", 1)[0] in names}


def _changed_names(path: str, base: bytes | None) -> set[str] | None:
    """Names of the definitions and macros of `path` whose text (comments aside) differs
    between `base` and the file as it is now; None when a line outside them differs (a
    type, a table, a global), when a side is missing, or for a file that is not C."""
    if not path.endswith((".c", ".h")) or base is None:
        return None
    try:
        with open(path, "rb") as f:
            head = f.read()
    except OSError:
        return None
    sides = [blanked(base), blanked(head)]
    lines = [text.split(b"\n") for text in sides]
    spans = [function_spans(text) for text in sides]
    changed: list[set[int]] = [set(), set()]
    matcher = difflib.SequenceMatcher(None, lines[0], lines[1], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            changed[0].update(range(i1 + 1, i2 + 1))
            changed[1].update(range(j1 + 1, j2 + 1))
    names: set[str] = set()
    for side in (0, 1):
        for number in changed[side]:
            inside = [name for name, first, last in spans[side] if first <= number <= last]
            if not inside and lines[side][number - 1].strip():
                return None
            names.update(inside)
    return names


def _includes_any(store: FactStore, file: str, changed: set[str]) -> bool:
    state = store.tu_state(file)
    return state is not None and any(path in changed for path, _ in state.includes)


__all__ = ["RULE_FAMILY", "Recheck", "plan"]
