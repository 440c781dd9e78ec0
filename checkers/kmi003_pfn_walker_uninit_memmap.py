"""KMI003 pfn-walker-uninit-memmap: struct page state read through pfn_valid() + pfn_to_page().

## What it finds

A function that turns a pfn from outside — a parameter, user input such as `*ppos`, or an
iteration over zone / node / section spans — into a struct page with `pfn_to_page()` and
then reads the page's state: `page_zone()`, `page_to_nid()`, `PageXxx()` /
`folio_test_xxx()`, `page_count()`, `compound_head()`, `get_page()`, `page->flags`, … or
passes the page to a function that does (interprocedurally).  The pfn was checked only with
`pfn_valid()` (or not at all) instead of being converted with `pfn_to_online_page()`.  One
result per conversion, at the first state read after it, naming the guard and the read.

Silent: pages from `pfn_to_online_page()` (or after it checked the same pfn); pfns derived
from a struct page the function already holds (`page_to_pfn()` round trips, compound
tails); boot-only `__init` code; memmap initialisation code itself and functions that have
just initialised the range (an INIT event earlier on the path).

## Why it matters in the kernel

`pfn_valid()` only says that a memmap *exists* for the pfn.  Memory hotplug activates
sections (making them `pfn_valid()`) before it initialises their memmap, and ZONE_DEVICE
initialises its memmap only after dropping the hotplug lock (KMI002), so a walker that trusts
`pfn_valid()` reads uninitialised or poisoned struct pages — wrong zone and node ids,
`PagePoisoned()` BUGs with `CONFIG_DEBUG_VM`.  The kernel fixed a batch of such walkers in
2019 (/proc/kpageflags, /proc/kpagecount, /proc/kpagecgroup, page_owner, memory_failure,
zone shrinking) by switching them to `pfn_to_online_page()`.

## Example

```c
#include <linux/mm.h>
#include <linux/mmzone.h>

unsigned long count_reserved(unsigned long start_pfn, unsigned long end_pfn)
{
	unsigned long pfn, count = 0;

	for (pfn = start_pfn; pfn < end_pfn; pfn++) {
		struct page *page;

		if (!pfn_valid(pfn))
			continue;
		page = pfn_to_page(pfn);
		if (PageReserved(page))
			count++;
	}
	return count;
}
```

## Fix

```c
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/memory_hotplug.h>

unsigned long count_reserved(unsigned long start_pfn, unsigned long end_pfn)
{
	unsigned long pfn, count = 0;

	for (pfn = start_pfn; pfn < end_pfn; pfn++) {
		struct page *page = pfn_to_online_page(pfn);

		if (!page)
			continue;
		if (PageReserved(page))
			count++;
	}
	return count;
}
```

## Known false positives

Walkers that run only where no hotplug or ZONE_DEVICE range can be (early boot code not
marked `__init`, ranges the caller has already validated as online, zone spans of zones that
cannot hold device memory) are reported; so are reads that are deliberately tolerant of
garbage (racy statistics).  The pfn's origin is judged from the function's own text and
local assignments, not interprocedurally.

## Precision

medium — path-sensitive within the function (the read must be reachable from the
conversion), interprocedural for reads through callees; the guard and pfn origin are
syntactic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from kmeminit.analyzer.config import Config
from kmeminit.analyzer.dataflow.cfg import event_sites, reaches
from kmeminit.analyzer.model import EventKind, Function, Level, Location, Value, ValueKind
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.results import Finding, Related, Step
from kmeminit.checkers.common import boot_only_functions, hotplug_owned_functions, loop_blocks

_IDENT = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True)
class Conversion:
    site: tuple[int, int]  # (block, position) of the conversion event
    name: str  # pfn_to_page
    pfn: str  # the pfn argument's text
    page: str | None  # the local the page is stored in, if any
    text: str  # `pfn_to_page(pfn)` as written
    location: Location


class _Knowledge:
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


def reader_summaries(program: Program, know: _Knowledge) -> dict[str, set[int]]:
    """USR → indices of struct page parameters whose state the function reads, directly or
    through callees (fixpoint over the call graph)."""
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
                if _reads_param(program, fn, param.name, know, reads):
                    reads.setdefault(usr, set()).add(param.index)
                    changed = True
    return reads


def _reads_param(program: Program, fn: Function, name: str, know: _Knowledge,
                 reads: dict[str, set[int]]) -> bool:
    for call in fn.calls:
        for i, arg in enumerate(call.args):
            if _field_read(arg, name, know.fields):
                return True
            if not _mentions(arg, name):
                continue
            if know.is_reader(call.callee):
                return True
            if any(i in reads.get(t, ()) for t in program.call_targets(call)):
                return True
    return any(_field_read(a.value, name, know.fields) for a in fn.assigns)


class PfnWalkerUninitMemmap:
    id = "KMI003"
    name = "pfn-walker-uninit-memmap"
    level = Level.WARNING
    precision = "medium"
    tags = ("correctness", "memory-hotplug", "zone-device", "pfn-walker")
    short = ("struct page state is read for a pfn checked only with pfn_valid(); use "
             "pfn_to_online_page().")
    full = ("pfn_valid() only says a memmap exists; hot-added and ZONE_DEVICE memmaps are "
            "initialised later.  Walkers that read page state through pfn_to_page() must "
            "use pfn_to_online_page() (or an equivalent configured guard).")
    config_keys = ()

    def check(self, program: Program, config: Config) -> Iterator[Finding]:
        know = _Knowledge(config)
        summaries = program.memo(("kmi003-readers",), lambda: reader_summaries(program, know))
        quiet = boot_only_functions(program) | hotplug_owned_functions(program, config)
        for usr, fn in sorted(program.functions.items()):
            if not fn.blocks or usr in quiet or fn.name in know.init:
                continue
            conversions = list(self._conversions(fn, know))
            if not conversions:
                continue
            for conv in conversions:
                finding = self._check_conversion(program, fn, conv, know, summaries)
                if finding is not None:
                    yield finding

    # -- the pieces ------------------------------------------------------------------

    def _conversions(self, fn: Function, know: _Knowledge) -> Iterator[Conversion]:
        unsafe = know.converters - know.online
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

    def _check_conversion(self, program: Program, fn: Function, conv: Conversion,
                          know: _Knowledge, summaries: dict[str, set[int]]) -> Finding | None:
        origin = _pfn_origin(fn, conv.pfn, know)
        if origin not in ("outside", "span"):
            return None
        pfn_names = set(_IDENT.findall(conv.pfn))
        guard = None
        for name, kind, index, loc in _guard_events(fn, know):
            sites = list(event_sites(fn, kind, index))
            if not any(s[0] == conv.site[0] or reaches(fn, s, conv.site) for s in sites):
                continue
            if name in know.init or name in know.online:
                # The function has just initialised a range, or already checks online-ness
                # (e.g. the first pfn of the same pageblock).
                return None
            if pfn_names & set(_IDENT.findall(_event_arg_text(fn, kind, index))):
                guard = guard or (name, loc)
        if guard is None and not (origin == "span" and conv.site[0] in loop_blocks(fn)):
            # An unchecked pfn from a plain parameter is the caller's contract, not a walk:
            # walkers iterate over zone / node / section spans or user offsets, or test
            # pfn_valid() because they expect holes.
            return None
        read = self._first_read(program, fn, conv, know, summaries)
        if read is None:
            return None
        what, location = read
        guard_text = f"{guard[0]}()" if guard else "no check at all"
        related = [Related(1, conv.location, f"{conv.name}({conv.pfn}) converts the pfn")]
        trace = [Step(conv.location, f"{conv.name}({conv.pfn}): struct page of an outside pfn",
                      0, fn.name)]
        if guard:
            related.append(Related(2, guard[1], f"{guard[0]}() only says a memmap exists"))
            trace.insert(0, Step(guard[1], f"{guard[0]}(): the only check of the pfn", 0,
                                 fn.name))
        trace.append(Step(location, f"{what} reads struct page state", 0, fn.name))
        return Finding.make(
            self.id, self.level,
            "{what} reads the struct page of [{conv}({pfn})](1) checked only by {guard}: the "
            "memmap of a hot-added or ZONE_DEVICE range may not be initialised yet; use "
            "pfn_to_online_page()",
            location, fn.name, related=tuple(related), trace=tuple(trace),
            what=what, conv=conv.name, pfn=conv.pfn, guard=guard_text)

    def _first_read(self, program: Program, fn: Function, conv: Conversion, know: _Knowledge,
                    summaries: dict[str, set[int]]) -> tuple[str, Location] | None:
        """The first state read of the converted page reachable from the conversion."""
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
            what = _reads_page(program, call, conv, know, summaries)
            if what is not None and after(EventKind.CALL, call.index):
                candidates.append((call.index, what, call.location))
        if conv.page:
            for assign in fn.assigns:
                what = _field_read(assign.value, conv.page, know.fields)
                if what and after(EventKind.ASSIGN, assign.index):
                    candidates.append((10**6 + assign.index, what, assign.location))
        if not candidates:
            return None
        _, what, location = min(candidates, key=lambda c: (c[2].line, c[2].col, c[0]))
        return what, location


def _stored_in(fn: Function, line: int, name: str) -> str | None:
    """The local that receives `name(...)` on `line`: `page = pfn_to_page(pfn)`."""
    for assign in fn.assigns:
        if assign.location.line == line and f"{name}(" in assign.value.text and \
                assign.target.kind is ValueKind.LOCAL:
            return assign.target.name
    return None


def _reads_page(program: Program, call, conv: Conversion, know: _Knowledge,
                summaries: dict[str, set[int]]) -> str | None:
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
        if any(i in summaries.get(t, ()) for t in program.call_targets(call)):
            return f"{call.callee}() (through its page argument)"
    return None


def _guard_events(fn: Function, know: _Knowledge) -> Iterator[tuple[str, EventKind, int,
                                                                     Location]]:
    names = know.online | know.weak | know.init
    for call in fn.calls:
        if call.callee in names:
            yield call.callee, EventKind.CALL, call.index, call.location
    for macro in fn.macros:
        if macro.name in names:
            yield macro.name, EventKind.MACRO, macro.index, macro.location


def _event_arg_text(fn: Function, kind: EventKind, index: int) -> str:
    if kind is EventKind.CALL:
        return " ".join(a.text for a in fn.calls[index].args)
    return " ".join(fn.macros[index].args)


def _pfn_origin(fn: Function, text: str, know: _Knowledge, depth: int = 0) -> str:
    """'page' when the pfn is computed from a struct page the function holds, 'outside'
    when it comes from a parameter, user input, a field (zone / node / section spans) or a
    call, 'none' for constants."""
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
        if not values:
            origins.add("outside")  # a global, a field, or a macro-produced name
            continue
        if depth >= 3:
            origins.add("outside")
            continue
        for value in values:
            if value.replace(" ", "") in (f"{ident}++", f"++{ident}") or \
                    re.fullmatch(rf"{ident}\s*[+-]=.*", value):
                continue  # the loop step: the loop's start decides
            origins.add(_pfn_origin(fn, value, know, depth + 1))
    if "page" in origins:
        return "page"
    if span or "span" in origins:
        return "span"
    return "outside" if "outside" in origins else "none"


