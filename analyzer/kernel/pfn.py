"""pfn → struct page: which calls and macros convert a pfn, which checks guard it (online
checks, memmap-exists checks, a memmap just initialised), where the pfn comes from, which
functions read struct page state (directly or through callees), and what a pfn walker is.
Kernel knowledge comes from the config's `pfn` section (aliases expanded)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from kmeminit.analyzer.config import Config
from kmeminit.analyzer.dataflow.cfg import event_sites, loop_blocks, reaches
from kmeminit.analyzer.model import CallSite, Event, EventKind, Function, Location, Value, ValueKind
from kmeminit.analyzer.program import Program

_IDENT = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True)
class Conversion:
    """One pfn → struct page conversion that promises nothing about initialisation."""

    site: tuple[int, int]  # (block, position) of the conversion event
    name: str  # pfn_to_page
    pfn: str  # the pfn argument's text
    page: str | None  # the local the page is stored in, if any
    text: str  # `pfn_to_page(pfn)` as written
    location: Location


@dataclass(frozen=True)
class Guards:
    """The checks that run before a conversion in its function.  `settled`: an online check
    or a memmap initialisation precedes it (nothing to report); `weak`: the first check
    that only says a memmap exists for the same pfn, as (name, location)."""

    settled: bool
    weak: tuple[str, Location] | None


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

    def is_reader(self, name: str) -> bool:
        return name in self.readers or any(p.match(name) for p in self.patterns)


class PfnFacts:
    """pfn conversions, guards, origins and page-state reads of one program."""

    def __init__(self, program: Program, config: Config) -> None:
        self.program = program
        self.know = PfnKnowledge(config)

    # -- conversions and walkers --------------------------------------------------------

    def conversion_events(self, fn: Function) -> list[tuple[int, Event]]:
        """(block, event) of every pfn → struct page conversion (pfn_to_page and friends,
        whether a macro or a call in this kernel) in the function."""
        names = self.know.converters
        out = []
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
        pfn_to_online_page), one per CFG occurrence."""
        unsafe = self.know.converters - self.know.online
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

    def in_loop(self, fn: Function, conv: Conversion) -> bool:
        return conv.site[0] in loop_blocks(fn)

    # -- guards and origins ---------------------------------------------------------------

    def guards(self, fn: Function, conv: Conversion) -> Guards:
        """The checks reaching the conversion in its function."""
        know = self.know
        pfn_names = set(_IDENT.findall(conv.pfn))
        weak = None
        for name, kind, index, loc in self._guard_events(fn):
            sites = list(event_sites(fn, kind, index))
            if not any(s[0] == conv.site[0] or reaches(fn, s, conv.site) for s in sites):
                continue
            if name in know.init or name in know.online:
                # The function has just initialised a range, or already checks online-ness
                # (e.g. the first pfn of the same pageblock).
                return Guards(True, None)
            if pfn_names & set(_IDENT.findall(_event_arg_text(fn, kind, index))):
                weak = weak or (name, loc)
        return Guards(False, weak)

    def _guard_events(self, fn: Function) -> Iterator[tuple[str, EventKind, int, Location]]:
        names = self.know.online | self.know.weak | self.know.init
        for call in fn.calls:
            if call.callee in names:
                yield call.callee, EventKind.CALL, call.index, call.location
        for macro in fn.macros:
            if macro.name in names:
                yield macro.name, EventKind.MACRO, macro.index, macro.location

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
        return any(_field_read(a.value, name, know.fields) for a in fn.assigns)

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
            what = self._reads_page(call, conv)
            if what is not None and after(EventKind.CALL, call.index):
                candidates.append((call.index, what, call.location))
            elif self._may_read_page(call, conv) and after(EventKind.CALL, call.index):
                # a partial view cannot tell: the whole program may read here first
                candidates.append((call.index, "", call.location))
        if conv.page:
            for assign in fn.assigns:
                what = _field_read(assign.value, conv.page, know.fields)
                if what and after(EventKind.ASSIGN, assign.index):
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
            if not (conv.text and conv.text in arg.text or f"{conv.name}(" in arg.text
                    or conv.page is not None and _mentions(arg, conv.page)):
                continue
            if self.program.unknown_call(call) or any(
                    i in self.possible_reader_summaries.get(t, ())
                    for t in self.program.call_targets(call)):
                return True
        return False

    def _reads_page(self, call: CallSite, conv: Conversion) -> str | None:
        know = self.know
        for i, arg in enumerate(call.args):
            direct = conv.text and conv.text in arg.text or f"{conv.name}(" in arg.text
            via_var = conv.page is not None and _mentions(arg, conv.page)
            if not (direct or via_var):
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
