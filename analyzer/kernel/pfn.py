"""pfn → struct page: which calls and macros convert a pfn, which checks guard it (online
checks, memmap-exists checks, a memmap just initialised), where the pfn comes from, which
functions read struct page state (directly or through callees), what a pfn walker is, and
whether every caller hands a function a range it has proven online.
Kernel knowledge comes from the config's `pfn` section (aliases expanded).

Conversions are visible ones (`pfn_to_page()`, a macro or a call), and hidden ones that
convert and read in one step: an instantiation of a recorded macro whose argument is an
integer and whose expansion calls a state reader (`pfn_to_nid(pfn)` expands to
`page_to_nid(pfn_to_page(pfn))` on NUMA and to `(0)` without NUMA, where it is nothing), and
a call to a function that converts its pfn parameter unchecked and reads the page
(`pfn_folio()`), found from that function's own facts.  Reads made only for diagnostics —
`dump_page()`, the arguments of `VM_BUG_ON_PAGE()`-style macros, of `pr_*()`, and the
message arguments of `WARN()` — are not reads of state."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from kmeminit.analyzer.config import Config
from kmeminit.analyzer.dataflow.cfg import (
    dominates,
    event_sites,
    guarding_conditions,
    loop_blocks,
    reaches,
)
from kmeminit.analyzer.kernel.entries import EntryPoints
from kmeminit.analyzer.model import (
    CallSite,
    Event,
    EventKind,
    Function,
    Location,
    MacroUse,
    Value,
    ValueKind,
)
from kmeminit.analyzer.program import Program

_IDENT = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True)
class Conversion:
    """One pfn → struct page conversion that promises nothing about initialisation.  A
    hidden one (`pfn_to_nid(pfn)`, `pfn_folio(pfn)`) also reads the page: `read` says how."""

    site: tuple[int, int]  # (block, position) of the conversion event
    name: str  # pfn_to_page
    pfn: str  # the pfn argument's text
    page: str | None  # the local the page is stored in, if any
    text: str  # `pfn_to_page(pfn)` as written
    location: Location
    read: str | None = None  # what reads the page, for a hidden conversion: `pfn_to_nid()`
    how: str = ""  # how it reads it: `page_to_nid() in its expansion`


BY_CALLERS = "its callers"  # CallerCheck.guard: the caller hands on what its callers proved


@dataclass(frozen=True)
class CallerCheck:
    """One call of a function on the way up its callers, and what the caller proved about
    the range it hands over before the call: `guard` names the online check or validator,
    BY_CALLERS when the caller's own callers proved it, None when nothing did."""

    usr: str  # the caller
    function: str
    callee: str
    location: Location
    guard: str | None
    level: int  # 1: a direct caller, 2: its caller, ...
    via: str | None = None  # a callback: the iterator the caller handed the callee to


@dataclass(frozen=True)
class Guarantee:
    """Whether every caller hands over a range it proved online (`held`), with the calls
    that show it, level by level: the ones that guarantee it and the ones that do not."""

    held: bool
    checks: tuple[CallerCheck, ...] = ()
    why: str = ""  # why there is no guarantee at all: nothing calls it, an unknown context
    deferred: bool = False  # held only because a partial view cannot see some callers


@dataclass(frozen=True)
class Guards:
    """The checks that run before a conversion in its function.  `settled`: an online check
    or a memmap initialisation precedes it (nothing to report); `weak`: the first check
    that only says a memmap exists for the same pfn, as (name, location); `present`: the
    first memmap-exists check reaching the conversion whatever it checks (for messages)."""

    settled: bool
    weak: tuple[str, Location] | None
    present: tuple[str, Location] | None = None


class PfnKnowledge:
    """The `pfn` section of the config, compiled."""

    def __init__(self, config: Config) -> None:
        get = config.get
        self.converters = config.names(get("pfn", "converters", default=[]) or [])
        self.online = config.names(get("pfn", "online_guards", default=[]) or [])
        self.weak = config.names(get("pfn", "weak_guards", default=[]) or [])
        self.page_derived = config.names(get("pfn", "page_derived", default=[]) or [])
        self.readers = config.names(get("pfn", "state_readers", default=[]) or [])
        self.patterns = [re.compile(p) for p in get("pfn", "state_reader_patterns",
                                                    default=[]) or []]
        self.fields = frozenset(get("pfn", "state_fields", default=[]) or [])
        self.init = config.name_sets("events").get("INIT", frozenset())
        self.spans = frozenset(get("pfn", "span_sources", default=[]) or [])
        self.span_records = frozenset(get("pfn", "span_records", default=[]) or [])
        self.validators = config.names(get("pfn", "validators", default=[]) or []) | \
            self.online
        self.validator_tokens = frozenset(get("pfn", "validator_conditions", default=[]) or [])
        self.diagnostics = config.names(get("pfn", "diagnostics", default=[]) or [])
        self.diagnostic_macros = frozenset(get("pfn", "diagnostic_macros", default=[]) or [])
        self.message_macros = frozenset(get("pfn", "message_macros", default=[]) or [])
        # the unions and differences the per-function scans use, made once
        self.unsafe = self.converters - self.online  # conversions that check nothing
        self.not_hidden = self.converters | self.diagnostic_macros | self.message_macros
        self.validator_names = self.validators | self.init
        self.guard_names = self.validators | self.weak | self.init

    def is_reader(self, name: str) -> bool:
        return name in self.readers or any(p.match(name) for p in self.patterns)


def _named_events(fn: Function, names: frozenset[str] | set[str]
                  ) -> Iterator[tuple[str, EventKind, int, Location]]:
    """(name, kind, index, location) of the calls and macros of `fn` with these names."""
    for call in fn.calls:
        if call.callee in names:
            yield call.callee, EventKind.CALL, call.index, call.location
    for macro in fn.macros:
        if macro.name in names:
            yield macro.name, EventKind.MACRO, macro.index, macro.location

class PfnFacts:
    """pfn conversions, guards, origins, page-state reads and caller guarantees of one
    program.  `entries` (the caller states) is needed for caller guarantees only."""

    def __init__(self, program: Program, config: Config,
                 entries: EntryPoints | None = None) -> None:
        self.program = program
        self.know = PfnKnowledge(config)
        self.entries = entries
        self._guarantees: dict[tuple[str, frozenset[int], int, int], Guarantee] = {}
        self._diag: dict[str, list[MacroUse]] = {}

    # -- conversions and walkers --------------------------------------------------------

    def conversion_events(self, fn: Function) -> list[tuple[int, Event]]:
        """(block, event) of every pfn → struct page conversion (pfn_to_page and friends,
        whether a macro or a call in this kernel) in the function."""
        names = self.know.converters
        out: list[tuple[int, Event]] = []
        if not any(call.callee in names for call in fn.calls) and \
                not any(macro.name in names for macro in fn.macros):
            return out  # (most functions convert nothing)
        for block in fn.blocks:
            for event in block.events:
                if event.kind is EventKind.MACRO and fn.macros[event.index].name in names or \
                        event.kind is EventKind.CALL and fn.calls[event.index].callee in names:
                    out.append((block.id, event))
        return out

    def is_walker(self, fn: Function) -> bool:
        """A pfn walker turns pfns into struct pages inside a loop (zone / node / section
        spans, /proc/kpageflags-style readers)."""
        conversions = self.conversion_events(fn)
        if not conversions:
            return False
        loops = loop_blocks(fn)
        return any(block in loops for block, _ in conversions)

    def conversions(self, fn: Function) -> Iterator[Conversion]:
        """Conversions that are not online checks themselves (pfn_to_page, not
        pfn_to_online_page), one per CFG occurrence, then the hidden ones (see the module
        doc)."""
        yield from self._visible(fn)
        yield from self._hidden(fn, self.converting_helpers)

    def _visible(self, fn: Function) -> Iterator[Conversion]:
        unsafe = self.know.unsafe
        for macro in fn.macros:
            if macro.name in unsafe and macro.args:
                for site in event_sites(fn, EventKind.MACRO, macro.index):
                    yield Conversion(site, macro.name, macro.args[0],
                                     _stored_in(fn, macro.location.line, macro.name),
                                     macro.text or f"{macro.name}({macro.args[0]})",
                                     macro.location)
        for call in fn.calls:
            if call.callee in unsafe and call.args:
                for site in event_sites(fn, EventKind.CALL, call.index):
                    yield Conversion(site, call.callee, call.args[0].text,
                                     _stored_in(fn, call.location.line, call.callee),
                                     call.text, call.location)

    def _hidden(self, fn: Function, helpers: dict[str, frozenset[int]]
                ) -> Iterator[Conversion]:
        """Macros whose expansion converts an integer argument and reads the page, and
        calls of functions that convert their pfn parameter and read the page."""
        know = self.know
        skip = know.not_hidden
        # the macros a call comes from: another macro's expansion reads nothing
        expanding = {c.macro for c in fn.calls if c.macro is not None} if fn.macros else ()
        for macro in fn.macros:
            if macro.name in skip or not macro.args or macro.name not in expanding or \
                    not _integer(macro.arg_types):
                continue
            args = [_squash(a) for a in macro.args]
            reads = [c for c in fn.calls if c.macro == macro.name and know.is_reader(c.callee)
                     and _inside(macro.location, c.location)
                     and not (_squash(c.text) and any(_squash(c.text) in a for a in args))]
            if not reads or self.diagnostic(fn, macro.location, macro.text):
                continue
            for site in event_sites(fn, EventKind.MACRO, macro.index):
                yield Conversion(site, macro.name, macro.args[0], None, macro.text,
                                 macro.location, f"{macro.name}()",
                                 f"{reads[0].callee}() in its expansion")
        targets_of = self.program.call_targets
        for call in fn.calls:
            targets = targets_of(call)
            params = (helpers.get(targets[0]) if len(targets) == 1 else
                      set().union(*(helpers.get(t, ()) for t in targets)))
            if not params or self.diagnostic(fn, call.location, call.text, call.callee):
                continue
            i = min(params)
            if i < len(call.args):
                for site in event_sites(fn, EventKind.CALL, call.index):
                    yield Conversion(site, call.callee, call.args[i].text, None, call.text,
                                     call.location, f"{call.callee}()",
                                     "it converts its pfn argument unchecked")

    @cached_property
    def converting_helpers(self) -> dict[str, frozenset[int]]:
        """USR → pfn parameters an inline helper (a header's or a `static inline` of a .c
        file) converts with no check of its own and whose page it reads (`pfn_folio(pfn)`):
        its callers convert and read through it.  A fixpoint, so a helper of a helper
        counts.  Out-of-line functions are the callees of walkers, not part of them."""
        know = self.know
        skip = know.init | know.validators | know.diagnostics
        candidates = [fn for fn in self.program.functions.values()
                      if fn.blocks and (fn.inline or fn.from_header) and fn.name not in skip
                      and any(_integer((p.type,)) and p.record is None for p in fn.params)]
        helpers: dict[str, frozenset[int]] = {}
        for _ in range(8):  # helpers nest a level or two; the bound keeps it cheap
            changed = False
            for fn in candidates:
                found = self._converted_params(fn, helpers)
                if found and found != helpers.get(fn.usr):
                    helpers[fn.usr] = found
                    changed = True
            if not changed:
                break
        return helpers

    def _converted_params(self, fn: Function, helpers: dict[str, frozenset[int]]
                          ) -> frozenset[int]:
        out: set[int] = set()
        scalars = {p.index for p in fn.params if _integer((p.type,)) and p.record is None}
        for conv in [*self._visible(fn), *self._hidden(fn, helpers)]:
            params = self.pfn_params(fn, conv.pfn) & scalars
            if not params or params <= out:
                continue
            guards = self.guards(fn, conv)
            if guards.settled or guards.weak:
                continue
            if conv.read or self.first_read(fn, conv):
                out |= params
        return frozenset(out)

    def in_loop(self, fn: Function, conv: Conversion) -> bool:
        return conv.site[0] in loop_blocks(fn)

    # -- diagnostics --------------------------------------------------------------------

    def diagnostic(self, fn: Function, location: Location, text: str,
                   callee: str | None = None) -> bool:
        """A call or assignment made only for diagnostics: a call of a configured
        diagnostics function (dump_page), or one inside a diagnostics macro's arguments
        (VM_BUG_ON_PAGE, pr_err) or a message macro's message arguments (WARN's, not its
        condition)."""
        know = self.know
        if callee is not None and callee in know.diagnostics:
            return True
        if fn.usr not in self._diag:
            self._diag[fn.usr] = [m for m in fn.macros if m.name in know.diagnostic_macros
                                  or m.name in know.message_macros]
        squashed = _squash(text)
        for use in self._diag[fn.usr]:
            if not _inside(use.location, location):
                continue
            if use.name in know.diagnostic_macros:
                return True
            args = [_squash(a) for a in use.args]
            if squashed and any(squashed in a for a in args[1:]) and \
                    not (args and squashed in args[0]):
                return True
        return False

    # -- guards and origins ---------------------------------------------------------------

    def guards(self, fn: Function, conv: Conversion) -> Guards:
        """The checks reaching the conversion in its function.  A memmap-exists check
        guards the pfn when its argument shares a name with the pfn, also through local
        assignments (`ms = __pfn_to_section(pfn); if (!valid_section(ms))`)."""
        know = self.know
        pfn_names = self.names(fn, conv.pfn)
        weak = present = None
        for name, kind, index, loc in self._guard_events(fn):
            sites = list(event_sites(fn, kind, index))
            if not any(s[0] == conv.site[0] or reaches(fn, s, conv.site) for s in sites):
                continue
            if name in know.init or name in know.validators:
                # The function has just initialised a range, or already checks online-ness
                # (e.g. the first pfn of the same pageblock, or the pageblock against its
                # zone).
                return Guards(True, None)
            present = present or (name, loc)
            if pfn_names & self.names(fn, _event_arg_text(fn, kind, index)):
                weak = weak or (name, loc)
        return Guards(False, weak, present)

    def names(self, fn: Function, text: str, depth: int = 2) -> set[str]:
        """The variables an expression of `fn` reads (not the functions it calls), and
        those the locals among them were assigned from, `depth` assignments deep."""
        out = set(_VARIABLE.findall(text))
        frontier = set(out)
        for _ in range(depth):
            nxt: set[str] = set()
            for assign in fn.assigns:
                if assign.target.kind is ValueKind.LOCAL and assign.target.name in frontier:
                    nxt |= set(_VARIABLE.findall(assign.value.text))
            frontier = nxt - out
            out |= nxt
            if not frontier:
                break
        return {n for n in out if not n.isupper()}

    def pfn_params(self, fn: Function, text: str) -> frozenset[int]:
        """Indices of the parameters a pfn expression of `fn` is computed from: the range
        its callers hand over.  Zone and node parameters (config `pfn.span_records`) are
        not: no caller proves a whole span online."""
        names = self.names(fn, text, depth=3)
        return frozenset(p.index for p in fn.params if p.name and p.name in names
                         and p.record not in self.know.span_records)

    # -- caller guarantees ---------------------------------------------------------------

    def caller_guarantee(self, fn: Function, params: frozenset[int], levels: int
                         ) -> Guarantee:
        """Does every caller hand `fn` (for the parameters `params`) a range it has proven
        online or validated (an online check, a configured validator, a memmap just
        initialised, a configured condition such as `mem->state == MEM_ONLINE`) on every
        path to the call?  A caller that proves nothing but hands on its own parameters
        counts when its callers prove it, up to `levels` caller levels.  A function called
        from an unknown context, or by nothing, has no guarantee."""
        return self._guarantee(fn.usr, params, 1, levels, frozenset())

    def _guarantee(self, usr: str, params: frozenset[int], level: int, levels: int,
                   active: frozenset[str]) -> Guarantee:
        key = (usr, params, level, levels)
        if key not in self._guarantees:
            self._guarantees[key] = self._compute_guarantee(usr, params, level, levels,
                                                            active | {usr})
        return self._guarantees[key]

    def _compute_guarantee(self, usr: str, params: frozenset[int], level: int, levels: int,
                           active: frozenset[str]) -> Guarantee:
        entries = self.entries
        if entries is not None and usr in entries.unseen:
            # a partial view: callers in other TUs may prove the range; do not claim they don't
            return Guarantee(True, (), "its callers lie outside this view", deferred=True)
        if entries is None or usr in entries.outside:
            also = " also" if entries is not None and entries.callers(usr) else ""
            return Guarantee(False, (), f"it is{also} called from an unknown context (its "
                                        "address is taken)")
        callers = sorted(entries.callers(usr))
        if not callers:
            return Guarantee(False, (), "nothing calls it")
        checks: list[CallerCheck] = []
        held, deferred = True, False
        callee = self.program.name_of(usr)
        for caller in callers:
            cfn = self.program.functions.get(caller)
            for site, via in self._sites(caller, usr):
                if cfn is None or not cfn.blocks or caller in active:
                    held = False
                    continue
                handed = self._handed(site, params, usr, via)
                guard = self._validated(cfn, site, handed)
                check = CallerCheck(caller, cfn.name, callee, site.location, guard, level, via)
                if guard is not None:
                    checks.append(check)
                    continue
                up = self.pfn_params(cfn, " ".join(handed))
                if up and level < levels:
                    above = self._guarantee(caller, up, level + 1, levels, active)
                    checks += [dataclasses.replace(check, guard=BY_CALLERS if above.held
                                                   else None)]
                    checks += above.checks
                    held = held and above.held
                    deferred = deferred or above.deferred
                    continue
                checks.append(check)
                held = False
        return Guarantee(held, tuple(checks), deferred=held and deferred)

    def _sites(self, caller: str, usr: str) -> list[tuple[CallSite, str | None]]:
        """The call sites of `caller` that run `usr`, with the iterator for a callback."""
        program = self.program
        out = []
        for site in program.graph.edges[caller, usr]["sites"]:
            via = None if usr in program.call_targets(site) else next(
                (c.via for c in program.callbacks(site) if c.target == usr), None)
            out.append((site, via))
        return out

    def _handed(self, site: CallSite, params: frozenset[int], usr: str, via: str | None
                ) -> list[str]:
        """What a call hands over: the arguments for `params`; for a callback, the range
        the iterator is given (its arguments but the callback)."""
        if via is None:
            return [site.args[i].text for i in sorted(params) if i < len(site.args)]
        handed = {c.arg for c in self.program.callbacks(site) if c.target == usr}
        return [a.text for i, a in enumerate(site.args) if i not in handed]

    def _validated(self, fn: Function, site: CallSite, handed: list[str]) -> str | None:
        """The validator that runs on every path to `site` on what it hands over, if any."""
        know = self.know
        targets = list(event_sites(fn, EventKind.CALL, site.index))
        if not targets:
            return None
        wanted = self.names(fn, " ".join(handed))
        for name, kind, index, location in self._validator_events(fn):
            if kind is EventKind.CALL and index == site.index:
                continue
            checked = self.names(fn, _event_arg_text(fn, kind, index))
            receiver = _stored_in(fn, location.line, name)
            if receiver:
                checked.add(receiver)
            if wanted & checked and dominates(fn, list(event_sites(fn, kind, index)),
                                              targets):
                return f"{name}()"
        for block, _ in targets:
            for cond in guarding_conditions(fn, block):
                token = next((t for t in sorted(know.validator_tokens)
                              if re.search(rf"\b{re.escape(t)}\b", cond)), None)
                if token:
                    return f"a check of {token} ({cond})"
        return None

    def _validator_events(self, fn: Function
                          ) -> Iterator[tuple[str, EventKind, int, Location]]:
        return _named_events(fn, self.know.validator_names)

    def _guard_events(self, fn: Function) -> Iterator[tuple[str, EventKind, int, Location]]:
        return _named_events(fn, self.know.guard_names)

    def origin(self, fn: Function, text: str, depth: int = 0) -> str:
        """Where a pfn expression of `fn` comes from: 'page' when it is computed from a
        struct page the function holds, 'span' from zone / node / section spans and global
        limits, 'outside' from a parameter, user input, a field or a call, 'none' for
        constants."""
        know = self.know
        if any(f"{name}(" in text for name in know.page_derived):
            return "page"
        all_idents = _IDENT.findall(text)
        span = bool(know.spans & set(all_idents))
        idents = [i for i in all_idents if not i.isupper() and i not in know.spans]
        if not idents:
            return "span" if span else "none"
        params = {p.name for p in fn.params}
        origins = set()
        for ident in idents:
            if ident in params:
                origins.add("outside")
                continue
            values = [a.value.text for a in fn.assigns
                      if a.target.kind is ValueKind.LOCAL and a.target.name == ident]
            if not values or depth >= 3:
                origins.add("outside")  # a global, a field, a macro-produced name
                continue
            for value in values:
                if value.replace(" ", "") in (f"{ident}++", f"++{ident}") or \
                        re.fullmatch(rf"{ident}\s*[+-]=.*", value):
                    continue  # the loop step: the loop's start decides
                origins.add(self.origin(fn, value, depth + 1))
        if "page" in origins:
            return "page"
        if span or "span" in origins:
            return "span"
        return "outside" if "outside" in origins else "none"

    # -- reads of struct page state -------------------------------------------------------

    @cached_property
    def reader_summaries(self) -> dict[str, set[int]]:
        """USR → indices of struct page parameters whose state the function reads, directly
        or through callees (fixpoint over the call graph)."""
        return self._summaries(possible=False)

    @cached_property
    def possible_reader_summaries(self) -> dict[str, set[int]]:
        """Like reader_summaries, counting a page handed to a callee a partial view cannot
        see as a read: what the whole program may find."""
        if not self.program.partial:
            return self.reader_summaries
        return self._summaries(possible=True)

    def _summaries(self, possible: bool) -> dict[str, set[int]]:
        program = self.program
        reads: dict[str, set[int]] = {}
        page_params = {usr: [p for p in fn.params if p.record == "struct page"]
                       for usr, fn in program.functions.items() if fn.blocks}
        changed = True
        while changed:
            changed = False
            for usr, params in page_params.items():
                fn = program.functions[usr]
                for param in params:
                    if param.index in reads.get(usr, ()):
                        continue
                    if self._reads_param(fn, param.name, reads, possible):
                        reads.setdefault(usr, set()).add(param.index)
                        changed = True
        return reads

    def _reads_param(self, fn: Function, name: str, reads: dict[str, set[int]],
                     possible: bool = False) -> bool:
        know = self.know
        for call in fn.calls:
            if self.diagnostic(fn, call.location, call.text, call.callee):
                continue
            for i, arg in enumerate(call.args):
                if _field_read(arg, name, know.fields):
                    return True
                if not _mentions(arg, name):
                    continue
                if know.is_reader(call.callee):
                    return True
                if any(i in reads.get(t, ()) for t in self.program.call_targets(call)):
                    return True
                if possible and self.program.unknown_call(call):
                    return True
        return any(_field_read(a.value, name, know.fields) for a in fn.assigns
                   if not self.diagnostic(fn, a.location, a.value.text))

    def first_read(self, fn: Function, conv: Conversion) -> tuple[str, Location] | None:
        """The first state read of the converted page reachable from the conversion, as
        (what reads it, where)."""
        know = self.know
        candidates: list[tuple[int, str, Location]] = []
        # A later `page = ...` ends this conversion's page: reads after it are of another.
        kills = frozenset(site for a in fn.assigns
                          if conv.page and a.target.kind is ValueKind.LOCAL
                          and a.target.name == conv.page
                          and a.location.line != conv.location.line
                          for site in event_sites(fn, EventKind.ASSIGN, a.index))

        def after(kind: EventKind, index: int) -> bool:
            return any(s[0] == conv.site[0] and s[1] >= conv.site[1]
                       or reaches(fn, conv.site, s, kills)
                       for s in event_sites(fn, kind, index))

        for call in fn.calls:
            if self.diagnostic(fn, call.location, call.text, call.callee):
                continue
            what = self._reads_page(call, conv)
            if what is not None and after(EventKind.CALL, call.index):
                candidates.append((call.index, what, call.location))
            elif self._may_read_page(call, conv) and after(EventKind.CALL, call.index):
                # a partial view cannot tell: the whole program may read here first
                candidates.append((call.index, "", call.location))
        if conv.page:
            for assign in fn.assigns:
                what = _field_read(assign.value, conv.page, know.fields)
                if what and after(EventKind.ASSIGN, assign.index) and \
                        not self.diagnostic(fn, assign.location, assign.value.text):
                    candidates.append((10**6 + assign.index, what, assign.location))
        if not candidates:
            return None
        _, what, location = min(candidates, key=lambda c: (c[2].line, c[2].col, c[0]))
        return (what, location) if what else None

    def _may_read_page(self, call: CallSite, conv: Conversion) -> bool:
        """In a partial view: the page goes to a callee that may read it, as far as the
        view can tell (an unknown callee, or one reading through an unknown callee)."""
        if not self.program.partial:
            return False
        for i, arg in enumerate(call.args):
            if not _passes_page(call, arg, conv):
                continue
            if self.program.unknown_call(call) or any(
                    i in self.possible_reader_summaries.get(t, ())
                    for t in self.program.call_targets(call)):
                return True
        return False

    def _reads_page(self, call: CallSite, conv: Conversion) -> str | None:
        know = self.know
        for i, arg in enumerate(call.args):
            if not _passes_page(call, arg, conv):
                continue
            field = _field_read(arg, conv.page, know.fields) if conv.page else None
            if field:
                return field
            if know.is_reader(call.callee):
                return f"{call.callee}()"
            if any(i in self.reader_summaries.get(t, ())
                   for t in self.program.call_targets(call)):
                return f"{call.callee}() (through its page argument)"
        return None


def _passes_page(call: CallSite, arg: Value, conv: Conversion) -> bool:
    """The argument is the converted page: the conversion itself, or the local it went to.
    An argument spelled inside another macro's expansion has no text of its own
    (`page_folio(pfn_to_page(pfn))`): the call's text stands for it."""
    direct = conv.text and (conv.text in arg.text or not arg.text and conv.text in call.text) \
        or f"{conv.name}(" in arg.text
    return bool(direct) or conv.page is not None and _mentions(arg, conv.page)


def _mentions(value: Value, page: str) -> bool:
    """The value is the page variable, or reads through it (`page->flags`)."""
    while value is not None:
        if value.kind in (ValueKind.LOCAL, ValueKind.PARAM) and value.name == page:
            return True
        if value.kind not in (ValueKind.FIELD, ValueKind.ADDR_FIELD, ValueKind.OTHER):
            return False
        if value.kind is ValueKind.OTHER:
            return page in _IDENT.findall(value.text)
        value = value.base
    return False


def _field_read(value: Value, page: str, fields: frozenset[str]) -> str | None:
    """`page->flags` (or deeper, `page->compound_head`) as a state read of `page`."""
    while value is not None:
        if value.kind in (ValueKind.FIELD, ValueKind.ADDR_FIELD) and value.field in fields \
                and value.base is not None \
                and value.base.kind in (ValueKind.LOCAL, ValueKind.PARAM) \
                and value.base.name == page:
            return f"page->{value.field}"
        for arg in value.args:
            found = _field_read(arg, page, fields)
            if found:
                return found
        value = value.base
    return None


def _stored_in(fn: Function, line: int, name: str) -> str | None:
    """The local that receives `name(...)` on `line`: `page = pfn_to_page(pfn)`."""
    for assign in fn.assigns:
        if assign.location.line == line and f"{name}(" in assign.value.text and \
                assign.target.kind is ValueKind.LOCAL:
            return assign.target.name
    return None


def _event_arg_text(fn: Function, kind: EventKind, index: int) -> str:
    if kind is EventKind.CALL:
        return " ".join(a.text for a in fn.calls[index].args)
    return " ".join(fn.macros[index].args)


_VARIABLE = re.compile(r"\b[A-Za-z_]\w*\b(?!\s*\()")


def _squash(text: str) -> str:
    return "".join(text.split())


def _inside(outer: Location, loc: Location) -> bool:
    """`loc` starts within the source range `outer` (a macro instantiation)."""
    return outer.file == loc.file and \
        (outer.line, outer.col) <= (loc.line, loc.col) <= (outer.end_line, outer.end_col)


def _integer(types: tuple[str, ...]) -> bool:
    """The first type is a scalar (a pfn), not a pointer or a record."""
    if not types or not types[0]:
        return False
    t = types[0]
    return "*" not in t and "[" not in t and not t.startswith(("struct ", "union ")) and \
        t not in ("void", "bool", "_Bool")
