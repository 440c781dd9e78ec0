"""Results that a run can take from the store instead of computing them again.

The rules are a function of their inputs: the stored facts of the analysed TUs and of the
header functions, the config, the rules that run and kmeminit's own code.  A run whose
inputs hash to the key of an earlier complete run takes its findings, notifications and
suppressions from the store and does not even load the program: a warm `make C=1` followed
by `kmeminit report`, an edit that leaves every TU's facts as they were (a comment, an
`#ifdef`'d-out line, a file no analysed TU includes), a `check` of a tree that a `diff` just
analysed.

An edit that changes one TU's facts misses that key.  Behind the prefilter, each rule
family's verdicts depend on its own TUs only (the TUs mentioning its configured symbols and
those its demand adds: analyzer/prefilter.py), and a rule that says which families it
belongs to (`demand`) is kept by the facts of those TUs: after the edit, only the rules
whose TUs include the edited one run again, over the program of their TUs, and the others'
findings come from the store.  Their findings are those of a whole run, as the prefilter's
are those of the whole database (tests/test_prefilter.py, and on the 6.12 tree the opt-in
tests/test_kernel_prefilter.py: each rule over its families' TUs alone).

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
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kmeminit.analyzer import package_digest
from kmeminit.analyzer.model import Level, Notification, SourceSuppression, from_json, to_json

if TYPE_CHECKING:
    from kmeminit.analyzer.config import Config
    from kmeminit.analyzer.families import Speculation, TUPart
    from kmeminit.analyzer.program import Program
    from kmeminit.analyzer.results import Finding
    from kmeminit.analyzer.store import FactStore

# a run's spread of rules over workers: each worker's TUs, the rules that ran, and each
# worker's groups (as families.asked gives them: [TUs, rule ids] per group)
Spread = tuple[list[list[str]], list[str], list[list[list[Any]]]]


def code_digest(checkers: Iterable[Any]) -> str:
    """kmeminit's code and every rule's: the built-in ones and plugins, by their source."""
    digest = hashlib.blake2b(package_digest().encode(), digest_size=16)
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


def _whole_key(tus: dict[str, str], headers: str, files: list[str], config: Config,
               checkers: list[Any],
               scopes: Mapping[str, frozenset[str]] | None = None) -> str:
    """What the rules' result over these stored TUs depends on (`tus`, `headers`: the
    store's facts_digests), and behind the prefilter each rule family's TUs among them:
    a result is a whole run's only while every family's are complete, so one computed
    before the prefilter's next round (cli/session.py) is not taken for the result over
    the same TUs after it."""
    digest = hashlib.blake2b(_inputs(config, checkers).encode(), digest_size=16)
    digest.update(headers.encode())
    for file in files:
        digest.update(os.fsencode(file) + b"\0" + tus[file].encode() + b"\0")
    if scopes is not None:
        at = {file: i for i, file in enumerate(files)}
        digest.update(json.dumps({family: sorted(at[f] for f in chosen if f in at)
                                  for family, chosen in sorted(scopes.items())}).encode())
    return digest.hexdigest()


def _inputs(config: Config, checkers: list[Any]) -> str:
    from kmeminit.analyzer import version

    return json.dumps([version(), code_digest(checkers), config.data], sort_keys=True,
                      default=str)


@dataclass
class Analysis:
    """The rules' result over a program, and the program when it had to be loaded."""

    findings: list[Finding]
    notes: list[Notification]
    functions: int
    suppressions: tuple[SourceSuppression, ...]
    reused: bool
    _program: Program | None
    _load: Callable[..., Program]
    # rule → the names of the functions it judged, for the rules that ran and tell them
    # (`subjects`: analyzer/prefilter.py learns walkers from KMI003's)
    subjects: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def program(self) -> Program:
        """The program (loaded now when the result came from the store, or when only the
        TUs of the rules that ran were)."""
        if self._program is None:
            self._program = self._load()
        return self._program

    def encode(self) -> dict[str, Any]:
        return {"findings": to_json(list(self.findings)), "notes": to_json(list(self.notes)),
                "functions": self.functions, "suppressions": to_json(list(self.suppressions)),
                "subjects": {rule: sorted(names) for rule, names in self.subjects.items()}}


def analyse(store: FactStore, files: list[str], config: Config, checkers: list[Any],
            load: Callable[..., Program], debug: bool = False, progress: Any = None,
            say: Callable[[str], None] | None = None, reuse: bool = True,
            scopes: Mapping[str, frozenset[str]] | None = None, jobs: int = 1,
            early: Speculation | None = None,
            units: Mapping[str, frozenset[str] | None] | None = None) -> Analysis:
    """The rules over the program of the stored TUs `files` (`load()` builds it,
    `load(some_files)` the program of some of them): from the store when an earlier
    complete run had the same inputs (unless `reuse` is false or `debug` re-raises checker
    exceptions), else run and kept.

    With `scopes` (the prefilter's TUs of each rule family), each rule that declares the
    families its verdicts depend on (`demand`) is taken from the store when the facts of
    its own TUs are as an earlier run over the same TUs found them, and only the other
    rules run, over the program of their TUs: an edit reaches the rules whose demand
    reaches the edited TU, not every rule.  With `jobs` > 1 the rules that run are spread
    over worker processes by their TUs, each group over its own program
    (analyzer/families.py); `early` workers (see `early_workers`) may have loaded some of
    those programs already, and are stopped when none is needed.  With `units` (the
    prefilter's TUs of each pfn walker), a rule that keeps its findings walker by walker
    (`units`) runs again only over the TUs of the walkers whose TUs changed (`Units`)."""
    try:
        return _analyse(store, files, config, checkers, load, debug, progress, say, reuse,
                        scopes, jobs, early, units)
    finally:
        if early is not None:
            early.close()
        store.forget_prefetched()  # a stored result needed none of it
        store.run_deferred()


def _analyse(store: FactStore, files: list[str], config: Config, checkers: list[Any],
             load: Callable[..., Program], debug: bool, progress: Any,
             say: Callable[[str], None] | None, reuse: bool,
             scopes: Mapping[str, frozenset[str]] | None, jobs: int,
             early: Speculation | None,
             units: Mapping[str, frozenset[str] | None] | None = None) -> Analysis:
    from kmeminit.analyzer.results import Finding

    tus, headers = store.facts_digests(files)
    key = _whole_key(tus, headers, files, config, checkers, scopes)
    stored = store.memo("analysis", key) if reuse and not debug else None
    if stored is not None:
        try:
            reused = Analysis([from_json(Finding, f) for f in stored["findings"]],
                              [from_json(Notification, n) for n in stored["notes"]],
                              int(stored["functions"]),
                              tuple(from_json(SourceSuppression, s)
                                    for s in stored["suppressions"]), True, None, load,
                              _subjects(stored))
        except (KeyError, TypeError, ValueError):  # a damaged row: computed again
            store.forget_memo("analysis", key)
        else:
            if say is not None:
                say("kmeminit: rules: the stored result of the same facts, config and rules")
            _remember_run(store, files, tus, scopes, None)
            return reused
    if scopes is not None and not debug:
        parts = RuleParts(store, files, config, checkers, tus, headers, scopes, units)
        result = parts.analyse(load, progress, say, reuse, jobs, early)
        _remember_run(store, files, tus, scopes, parts.spread)
    else:
        program = load()
        findings, notes = _run_shared(store, program, config, checkers, jobs, debug,
                                      progress)
        # behind the prefilter (with --debug): what the walkers' demand learns from
        subjects = {c.id: frozenset(c.subjects(program, config)) for c in checkers
                    if scopes is not None and hasattr(c, "subjects")}
        result = Analysis(findings, notes, len(program.functions),
                          tuple(program.suppressions.values()), False, program, load,
                          subjects)
    if not any(n.level is Level.ERROR for n in result.notes):
        store.put_memo("analysis", key, result.encode())
    return result


def _run_shared(store: FactStore, program: Program, config: Config, checkers: list[Any],
                jobs: int, debug: bool, progress: Any
                ) -> tuple[list[Finding], list[Notification]]:
    """The rules over one program, their families spread over `jobs` processes
    (families.run_shared), balanced by each rule's seconds over the whole program as
    last measured (memo `rule-costs` under SHARED_KEY, which keeps them); findings and
    notifications in the rules' order, as one `run_rules` over them all gives them."""
    from kmeminit.analyzer.families import run_shared

    measured = store.memo("rule-costs", SHARED_KEY) if jobs > 1 else None
    try:
        seconds = {str(k): float(v) for k, v in dict(measured).items()}
    except (TypeError, ValueError):
        seconds = {}
    memory = int(config.get("rule_workers", "memory_mib", default=2048)) << 20
    results, spent = run_shared(program, config, checkers, jobs, seconds, progress, debug,
                                memory)
    if jobs > 1 and spent and str(store.path) != ":memory:":
        store.defer(lambda: store.put_memo("rule-costs", SHARED_KEY, dict(seconds, **spent)))
    findings = [f for c in checkers for f in results[c.id][0]]
    notes = [n for c in checkers for n in results[c.id][1]]
    return findings, notes


class RuleParts:
    """Each rule's result kept by the facts of its own TUs (memo `rule:<ID>`, by the
    rule's code, the config and the content of its TUs, so any earlier run serves: the
    last one, or the one before an edit that was undone), and each TU's defined USRs and
    suppression comments (memo `tu-parts`, by the TUs analysed), so that a run loading
    only some TUs still reports what a whole run would: the function count, every
    comment."""

    def __init__(self, store: FactStore, files: list[str], config: Config,
                 checkers: list[Any], tus: dict[str, str], headers: str,
                 scopes: Mapping[str, frozenset[str]],
                 units: Mapping[str, frozenset[str] | None] | None = None) -> None:
        self.store, self.files, self.config, self.checkers = store, files, config, checkers
        self.units = units
        self.tus, self.headers = tus, headers
        self.parts_key = hashlib.blake2b(json.dumps(files).encode(),
                                         digest_size=16).hexdigest()
        # when rules were spread over workers: each worker's TUs, the rules that ran, and
        # each worker's groups (as families.asked gives them)
        self.spread: Spread | None = None
        everything = frozenset(files)
        self.scope: dict[str, frozenset[str]] = {}
        for checker in checkers:
            families = getattr(checker, "demand", None)
            known = families is not None and all(f in scopes for f in families)
            self.scope[checker.id] = (everything & frozenset().union(
                *(scopes[f] for f in families)) if known else everything)

    def key(self, checker: Any) -> str:
        """The rule's code, the config, and the facts of its TUs and every header
        function."""
        digest = hashlib.blake2b(_inputs(self.config, [checker]).encode(), digest_size=16)
        digest.update(f"\0{checker.id}\0{self.headers}\0".encode())
        for file in sorted(self.scope[checker.id]):
            digest.update(os.fsencode(file) + b"\0" + self.tus[file].encode() + b"\0")
        return digest.hexdigest()

    def _stored_rule(self, checker: Any, key: str
                     ) -> tuple[list[Finding], list[Notification], frozenset[str] | None
                                ] | None:
        """The rule's stored findings, notifications and subjects (None for a rule that
        tells none)."""
        from kmeminit.analyzer.results import Finding

        stored = self.store.memo(f"rule:{checker.id}", key)
        if stored is None:
            return None
        try:
            return ([from_json(Finding, f) for f in stored["findings"]],
                    [from_json(Notification, n) for n in stored["notes"]],
                    _names(stored["subjects"]) if "subjects" in stored else None)
        except (KeyError, TypeError, ValueError):  # a damaged row: run again
            self.store.forget_memo(f"rule:{checker.id}", key)
            return None

    def _stored_parts(self) -> dict[str, TUPart]:
        """The stored part of each TU whose facts are unchanged."""
        stored = self.store.memo("tu-parts", self.parts_key)
        out: dict[str, TUPart] = {}
        try:
            for file, (digest, usrs, comments) in (stored or {}).items():
                if self.tus.get(file) == digest:
                    out[file] = (tuple(str(u) for u in usrs),
                                 tuple(from_json(SourceSuppression, c) for c in comments))
        except (TypeError, ValueError, KeyError, AttributeError):  # a damaged row
            self.store.forget_memo("tu-parts", self.parts_key)
            return {}
        return out

    def analyse(self, load: Callable[..., Program], progress: Any,
                say: Callable[[str], None] | None, reuse: bool, jobs: int = 1,
                early: Speculation | None = None) -> Analysis:
        from kmeminit.analyzer.families import (
            asked,
            bin_files,
            groups_of,
            run_groups,
            run_rule,
        )

        keys = {c.id: self.key(c) for c in self.checkers}
        results: dict[str, tuple[list[Finding], list[Notification]]] = {}
        subjects: dict[str, frozenset[str]] = {}
        for checker in self.checkers if reuse else ():
            stored = self._stored_rule(checker, keys[checker.id])
            if stored is not None:
                results[checker.id] = stored[:2]
                if stored[2] is not None:
                    subjects[checker.id] = stored[2]
        kept = len(results)
        parts = self._stored_parts() if reuse else {}
        run = [c for c in self.checkers if c.id not in results]
        # a rule kept walker by walker runs over the TUs of the walkers whose TUs changed
        plans = {c.id: Units(self, c) for c in run if reuse and self.units is not None
                 and getattr(c, "units", None) == "walkers"}
        if early is not None:  # the last run's programs, over each rule's family, are
            for plan in plans.values():  # loading already: those are the cheapest
                plan.widen()
        scope = dict(self.scope)
        for rule, plan in plans.items():
            scope[rule] = plan.files
        for checker in [c for c in run if c.id in plans and not plans[c.id].files]:
            results[checker.id] = plans.pop(checker.id).merge([], [], [], frozenset())
            run.remove(checker)
        owners: dict[str, list[str]] = {}
        wanted = set().union(*(scope[c.id] for c in run))
        wanted |= {f for f in self.files if f not in parts}
        whole = len(wanted) == len(self.files)
        program = None
        groups = groups_of(run, lambda c: scope[c.id], self.files)
        if wanted and jobs > 1 and len(groups) > 1 and str(self.store.path) != ":memory:":
            # the groups spread over workers, each worker over a program of its groups'
            # TUs alone (analyzer/families.py)
            covered = set().union(*(g[0] for g in groups))
            rest = [f for f in self.files if f in wanted and f not in covered]
            groups += [(rest, [])] if rest else []  # TUs whose parts alone are missing
            measured = self.store.memo("rule-costs", COSTS_KEY)
            spent = []
            bins = []
            ran = []
            for chosen, (found, own, costs) in run_groups(
                    self.store.path, self.config, groups, jobs, load, self.files,
                    _estimate(measured, parts), early, self.store.run_deferred,
                    self.store.decoded_ahead()):
                results.update(found)
                parts.update(own)
                spent.append(costs)
                subjects.update((rule, frozenset(str(n) for n in names))
                                for rule, names in dict(costs.get("subjects") or {}).items())
                owners.update((rule, [str(u) for u in usrs])
                              for rule, usrs in dict(costs.get("owners") or {}).items())
                # the bins and groups as over each rule's family: what the next run's
                # early workers load (a rule kept walker by walker may run over fewer)
                full = []
                for g_files, checkers in chosen:
                    over = set(g_files).union(*(self.scope[c.id] for c in checkers))
                    full.append(([f for f in self.files if f in over], checkers))
                bins.append(bin_files(full, self.files))
                ran.append(asked(full))
            self.spread = (bins, [c.id for c in run], ran)
            self.store.put_memo("rule-costs", COSTS_KEY, _measured(measured, spent))
            if progress is not None:
                for checker in run:
                    progress.step(checker.id)
        elif wanted or run:  # no TU at all: the rules still run, over no TU's functions
            program = load() if whole else load([f for f in self.files if f in wanted])
            for checker in run:
                results[checker.id], judged, at = run_rule(checker, program, self.config,
                                                           progress)
                if judged is not None:
                    subjects[checker.id] = judged
                if at is not None:
                    owners[checker.id] = at
            for file in wanted:  # a TU without usable facts has an empty part
                parts[file] = program.tu_parts.get(file, ((), ()))
        for rule, plan in plans.items():
            found, notes = results[rule]
            merged = plan.merge(found, notes, owners.get(rule), subjects.get(rule))
            if merged is None:  # a walker the units do not know: over the family's TUs
                merged, subjects[rule] = plan.whole(load)
            results[rule] = merged
        for checker in run:
            findings, notes = results[checker.id]
            if not any(n.level is Level.ERROR for n in notes):
                row = {"findings": to_json(findings), "notes": to_json(notes)}
                if checker.id in subjects:
                    row["subjects"] = sorted(subjects[checker.id])
                self.store.put_memo(f"rule:{checker.id}", keys[checker.id], row)
        if wanted:
            self.store.put_memo("tu-parts", self.parts_key, {
                file: [self.tus[file], list(usrs), to_json(list(comments))]
                for file, (usrs, comments) in parts.items()})
        if progress is not None:
            for checker in self.checkers:
                if checker not in run:
                    progress.step(checker.id)
        if say is not None and kept:
            say(f"kmeminit: rules: {kept} of {len(self.checkers)} from the store (the facts "
                f"of their TUs are unchanged); {len(run)} ran over {len(wanted)} of "
                f"{len(self.files)} TUs")
        if say is not None:
            for rule, plan in plans.items():
                if plan.kept:
                    say(f"kmeminit: rules: {rule} {plan.summary()}")
        if say is not None and early is not None and early.taken:
            say(f"kmeminit: rules: {early.taken} program{'s' if early.taken > 1 else ''} "
                "loaded while the store was checked (the last run's)")
        findings: list[Finding] = []
        notes: list[Notification] = []
        for checker in self.checkers:  # in the order run_rules gives them
            findings += results[checker.id][0]
            notes += results[checker.id][1]
        usrs = self.store.header_usrs()
        comments: dict[tuple[str, int], SourceSuppression] = {}
        for file in self.files:  # as Program.from_tus collects them
            defined, own = parts[file]
            usrs.update(defined)
            comments.update(((c.file, c.line), c) for c in own)
        return Analysis(findings, notes, len(usrs), tuple(comments.values()), not run,
                        program if whole else None, load, subjects)


class Units:
    """A rule's findings kept walker by walker (memo `units:<ID>`: one row per rule code,
    config and header functions, holding each walker's findings by the facts of its
    TUs).  Each pfn walker's verdicts depend on its own part of the walkers' demand alone
    (prefilter.walker_units, by name), so after an edit only the walkers whose TUs
    include the edited one run again, over the program of their TUs; the TUs of the
    rule's family that no walker needs form one more part (""), loaded when they changed:
    a function there that an edit made a walker is found by the run.  The findings are
    put in the order a run over the whole family gives (by the USR of the function each
    is in: the rule's `owners`).  When the run finds a walker the units do not name, its
    result is not used: the rule runs over its family's TUs (`whole`), and the prefilter
    learns the walker (cli/session.py)."""

    def __init__(self, parts: RuleParts, checker: Any) -> None:
        assert parts.units is not None
        self.parts, self.checker = parts, checker
        self.family = parts.scope[checker.id]
        # (a walker whose own TUs a changed call may have changed: its family's)
        self.units = {str(name): self.family if files is None else files & self.family
                      for name, files in parts.units.items()}
        self.units[""] = self.family - frozenset().union(*self.units.values())
        inputs = f"{_inputs(parts.config, [checker])}\0{checker.id}\0{parts.headers}"
        self.row_key = hashlib.blake2b(inputs.encode(), digest_size=16).hexdigest()
        self.keys = {}
        for name, files in self.units.items():
            digest = hashlib.blake2b(f"{inputs}\0{name}\0".encode(), digest_size=16)
            for file in sorted(files):
                digest.update(os.fsencode(file) + b"\0" + parts.tus[file].encode() + b"\0")
            self.keys[name] = digest.hexdigest()
        self.stored: dict[str, list[Any]] = {}
        row = parts.store.memo(f"units:{checker.id}", self.row_key)
        self.row = row if isinstance(row, dict) else {}
        if isinstance(row, dict):
            for name, key in self.keys.items():
                entries = row.get(key)
                if isinstance(entries, list):
                    self.stored[name] = entries
        self.run = [name for name in self.units if name not in self.stored]
        self.files = frozenset().union(*(self.units[name] for name in self.run))

    def merge(self, found: list[Finding], notes: list[Notification],
              owners: list[str] | None, subjects: frozenset[str] | None
              ) -> tuple[list[Finding], list[Notification]] | None:
        """The rule's findings: the stored ones of the walkers that did not run, and those
        of the run (`found`, each in the function `owners` names) in the walkers that
        did; a run over the family's TUs as it is (each walker's findings kept from it);
        None when a run over fewer TUs cannot be used (a walker the units do not name,
        or no owners); a crash's notifications as they are."""
        from kmeminit.analyzer.results import Finding

        if any(n.level is Level.ERROR for n in notes):
            return found, notes
        usable = owners is not None and len(owners) == len(found)
        if self.files == self.family:  # what a run over the family gives
            if usable:
                assert owners is not None
                self._keep(found, owners)
            return found, notes
        names = set(self.units) - {""}
        if not usable or subjects is None or not subjects <= names:
            return None
        assert owners is not None
        new = self._keep(found, owners)
        try:
            entries = [(str(usr), from_json(Finding, data)) for name in self.units
                       for usr, data in (new[name] if name in new else self.stored[name])]
        except (TypeError, ValueError, KeyError):  # a damaged row: over the family's TUs
            self.parts.store.forget_memo(f"units:{self.checker.id}", self.row_key)
            return None
        entries.sort(key=lambda entry: entry[0])  # stable: a function's in their order
        return [finding for _, finding in entries], notes

    def _keep(self, found: list[Finding], owners: list[str]) -> dict[str, list[list[Any]]]:
        """Each walker that ran: its findings from `found` with their owners, kept in
        the row with the stored ones of the others."""
        new: dict[str, list[list[Any]]] = {name: [] for name in self.run}
        for finding, usr in zip(found, owners, strict=True):
            if finding.function in new:
                new[finding.function].append([usr, to_json(finding)])
        row = {self.keys[name]: new[name] if name in new else self.stored[name]
               for name in self.units}
        for key, entries in self.row.items():  # the states before, so that an edit undone
            if len(row) >= 2 * len(self.units):  # finds its walkers' findings
                break
            row.setdefault(key, entries)
        self.parts.store.put_memo(f"units:{self.checker.id}", self.row_key, row)
        return new

    def whole(self, load: Callable[..., Program]
              ) -> tuple[tuple[list[Finding], list[Notification]], frozenset[str]]:
        """The rule over its family's TUs (each walker's findings kept from it), and the
        functions it judged."""
        from kmeminit.analyzer.families import run_rule

        program = load([f for f in self.parts.files if f in self.family])
        (found, notes), subjects, owners = run_rule(self.checker, program, self.parts.config)
        self.widen()
        merged = self.merge(found, notes, owners, subjects)
        assert merged is not None  # over the family's TUs
        return merged, subjects or frozenset()

    def widen(self) -> None:
        """Run over the family's TUs (every walker's findings kept from that run)."""
        self.run, self.files = list(self.units), self.family

    @property
    def kept(self) -> int:
        """The walkers whose findings came from the store."""
        return len(self.units) - 1 - len([n for n in self.run if n])

    def summary(self) -> str:
        walkers = len(self.units) - 1
        return (f"{self.kept} of {walkers} walkers from the store (the facts of their TUs "
                f"are unchanged), {walkers - self.kept} over {len(self.files)} of the "
                f"{len(self.family)} TUs of its family")


def _subjects(stored: dict[str, Any]) -> dict[str, frozenset[str]]:
    """A stored row's subjects by rule (none in a row that has none)."""
    return {str(rule): _names(names)
            for rule, names in dict(stored.get("subjects") or {}).items()}


def _names(stored: Any) -> frozenset[str]:
    """A stored list of names (TypeError for anything else: a damaged row)."""
    if not isinstance(stored, list) or not all(isinstance(n, str) for n in stored):
        raise TypeError("stored names")
    return frozenset(stored)


COSTS_KEY = "seconds"  # memo `rule-costs`: the latest measurement of rules spread by TUs
SHARED_KEY = "shared"  # and each rule's seconds over a whole program (`_run_shared`)
LAST_KEY = "last"  # memo `speculation` has one row: the last run's (see early_workers)


def early_workers(store: FactStore, config: Config, checkers: list[Any], jobs: int
                  ) -> Speculation | None:
    """Workers that load the programs of the last run's bins right away (analyzer/
    families.py `Speculation`), when those bins are bound to come back: more than one
    job; the last run spread its rules over two or more workers; since it ran, kbuild
    re-parsed a TU of every one of those bins into different facts; and the rules whose
    stored results these facts miss are exactly the rules that ran in them, over the TUs
    of the last run's prefilter (an edit undone finds every result stored, and starts
    nothing).  Otherwise None."""
    if jobs < 2 or str(store.path) == ":memory:":
        return None
    last = store.memo("speculation", LAST_KEY)
    try:
        at = float(last["at"])
        digests = {str(f): str(d) for f, d in dict(last["digests"]).items()}
        bins = [[str(f) for f in b] for b in last["bins"]]
        ran = {str(r) for r in last["rules"]}
        files = [str(f) for f in last["files"]]
        scopes = {str(family): frozenset(files[int(i)] for i in indices)
                  for family, indices in dict(last["scopes"]).items()}
        # each bin's groups, as run: their TUs by index into the bin's
        expected = [[[[b[int(i)] for i in g_files], [str(r) for r in rules]]
                     for g_files, rules in groups]
                    for b, groups in zip(bins, last.get("groups") or [[]] * len(bins),
                                         strict=True)]
    except (TypeError, KeyError, ValueError, IndexError, AttributeError):
        return None
    if len(bins) < 2 or len(bins) > jobs:
        return None
    edited = {f for f, d in store.facts_since(at).items() if digests.get(f, d) != d}
    if not edited or any(not edited.intersection(b) for b in bins):
        return None
    from kmeminit.analyzer.families import Speculation

    # started first, the stored results looked up meanwhile: the workers are stopped at
    # once when the results the facts miss are not those of the rules they would run
    early = Speculation(store.path, config, checkers, bins, expected)
    tus, headers = store.facts_digests(files)
    parts = RuleParts(store, files, config, checkers, tus, headers, scopes)
    if {c.id for c in checkers if not store.has_memo(f"rule:{c.id}", parts.key(c))} != ran:
        early.close()
        return None
    return early


def _remember_run(store: FactStore, files: list[str], tus: Mapping[str, str],
                  scopes: Mapping[str, frozenset[str]] | None,
                  spread: Spread | None) -> None:
    """What the next run's `early_workers` compares with: the TUs analysed, each rule
    family's among them, their facts as of the latest parse, and the bins, rules and
    each bin's groups of the last run that spread its rules over workers."""
    last = store.memo("speculation", LAST_KEY)
    if spread is not None:
        bins, rules = spread[0], spread[1]
        groups = []  # each group's TUs by index into its bin's
        for b, ran in zip(spread[0], spread[2], strict=True):
            where = {f: i for i, f in enumerate(b)}
            groups.append([[[where[f] for f in g_files], ids] for g_files, ids in ran])
    elif isinstance(last, dict):
        bins, rules, groups = last.get("bins"), last.get("rules"), last.get("groups")
    else:
        bins, rules, groups = [], [], []
    at = {file: i for i, file in enumerate(files)}
    store.put_memo("speculation", LAST_KEY, {
        "at": store.latest_parse(), "files": files, "digests": dict(tus),
        "scopes": {family: sorted(at[f] for f in chosen if f in at)
                   for family, chosen in (scopes or {}).items()},
        "bins": bins or [], "rules": rules or [], "groups": groups or []})


def _estimate(measured: Any, parts: Mapping[str, TUPart]
              ) -> Callable[[list[Any]], float] | None:
    """The seconds a bin of groups should take (analyzer/families.py's `spread`), from
    the last measurement: a program's seconds per function loaded (its TUs' functions, as
    their stored parts count them, and the header functions a program reached) and each
    rule's seconds.
    None without a usable measurement."""
    try:
        per_function = float(measured["per_function"])
        headers = int(measured["headers"])
        rules = {str(k): float(v) for k, v in dict(measured["rules"]).items()}
    except (TypeError, KeyError, ValueError):
        return None
    sizes = {file: len(usrs) for file, (usrs, _) in parts.items()}
    usual = sum(sizes.values()) / len(sizes) if sizes else 0.0
    unknown = max(rules.values(), default=0.0)  # a rule never measured: the dearest

    def cost(bin_: list[Any]) -> float:
        files = set().union(*(set(files) for files, _ in bin_))
        functions = headers + sum(sizes.get(f, usual) for f in files)
        return per_function * functions + sum(rules.get(c.id, unknown)
                                              for _, checkers in bin_ for c in checkers)
    return cost


def _measured(before: Any, spent: list[dict[str, Any]]) -> dict[str, Any]:
    """The measurement to keep: this run's (each rule it ran, the programs it loaded),
    the earlier one's for the rules that did not run."""
    rules: dict[str, float] = {}
    if isinstance(before, dict) and isinstance(before.get("rules"), dict):
        rules.update(before["rules"])
    seconds = functions = headers = 0
    for costs in spent:
        rules.update(costs["rules"])
        seconds += costs["program"]
        functions += costs["functions"]
        headers = max(headers, costs["headers"])
    return {"per_function": seconds / functions if functions else 0.0, "headers": headers,
            "rules": rules}


__all__ = ["Analysis", "RuleParts", "analyse", "code_digest", "early_workers"]
