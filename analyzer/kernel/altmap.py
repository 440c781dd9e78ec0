"""The altmap / dev_pagemap relation (KMI004, KMI005, `kmeminit origins`): the relation
from config, the origin engine for a pointer type, the sites that recover a dev_pagemap
from an altmap, and how a function uses its altmap parameter.

Uses are read from the facts the frontend records as text (call arguments, assignments,
returns, branch conditions, configured macro arguments), so a use in a statement with
no call, assignment or branch (`altmap->alloc++;`) is not seen.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from kmeminit.analyzer.config import Config
from kmeminit.analyzer.dataflow.origins import OriginEngine, OriginSpec, bare_expression
from kmeminit.analyzer.model import Function, Location, MacroUse, Value, ValueKind
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.reports import Origin
from kmeminit.analyzer.results import Step

# The operand an offsetof() is subtracted from: `(char *)altmap - offsetof(...)`
_MINUEND = re.compile(
    r"((?:\(\s*(?:const\s+)?(?:struct\s+)?\w+\s*\*+\s*\)\s*)*"
    r"\(?\s*[A-Za-z_]\w*(?:\s*(?:->|\.)\s*[A-Za-z_]\w*)*\s*\)?)\s*-\s*$")


@dataclass(frozen=True)
class AltmapSpec:
    pointer: str = "struct vmem_altmap *"
    container: str = "struct dev_pagemap"
    member: str = "altmap"
    recovery_macros: frozenset[str] = frozenset({"container_of", "container_of_const"})
    offset_macros: frozenset[str] = frozenset({"offsetof"})

    @classmethod
    def from_config(cls, config: Config) -> AltmapSpec:
        section = config.get("altmap", default={}) or {}
        default = cls()
        return cls(section.get("pointer", default.pointer),
                   " ".join(section.get("container", default.container).split()),
                   section.get("member", default.member),
                   config.names(section.get("recovery_macros", sorted(default.recovery_macros))),
                   config.names(section.get("offset_macros", sorted(default.offset_macros))))

    @property
    def embedded(self) -> Origin:
        return Origin("embedded", f"{self.container}.{self.member}")

    def outside(self, origin: Origin) -> bool:
        """An origin that is not the member of a container: standalone, or embedded
        elsewhere."""
        return origin.standalone or origin.kind == "embedded" and origin != self.embedded

    def container_only(self, origins: dict[Origin, tuple[Step, ...]]) -> bool:
        """Only NULL or the container's member, and the member at least once."""
        return self.embedded in origins and set(origins) <= {self.embedded, Origin("null")}


@dataclass(frozen=True)
class Recovery:
    """A dev_pagemap recovered from an altmap: `container_of(expr, struct dev_pagemap,
    altmap)`, or `expr - offsetof(struct dev_pagemap, altmap)` arithmetic."""

    function: Function
    macro: MacroUse
    expr: str  # the altmap expression, as source text
    text: str  # the whole recovery: the macro, or `(char *)altmap - offsetof(...)`

    @property
    def location(self) -> Location:
        return self.macro.location

    def step(self, spec: AltmapSpec) -> Step:
        return Step(self.location, f"{spec.container} recovered from '{self.expr}': "
                                   f"{' '.join(self.text.split())}", 0, self.function.name)


def recoveries(fn: Function, spec: AltmapSpec) -> Iterator[Recovery]:
    for use in fn.macros:
        args = [" ".join(a.split()) for a in use.args]
        if use.name in spec.recovery_macros and len(args) == 3 \
                and args[1:] == [spec.container, spec.member]:
            yield Recovery(fn, use, args[0], use.text)
        elif use.name in spec.offset_macros and args == [spec.container, spec.member]:
            found = _minuend(fn, use)
            if found:
                yield Recovery(fn, use, *found)


def _minuend(fn: Function, use: MacroUse) -> tuple[str, str] | None:
    """The pointer offsetof() is subtracted from, and the text of the subtraction."""
    for text in _fragments(fn):
        at = text.find(use.text)
        if at >= 0:
            found = _MINUEND.search(text[:at])
            if found:
                return found.group(1).strip(), found.group(0) + use.text
    return None


def _fragments(fn: Function) -> Iterator[str]:
    """The source texts the frontend recorded for `fn`, outermost first."""
    for assign in fn.assigns:
        yield assign.value.text
    for ret in fn.returns:
        if ret.value is not None:
            yield ret.value.text
    for site in fn.calls:
        yield site.text
        yield from (a.text for a in site.args)


def recovery_origins(engine: OriginEngine, rec: Recovery) -> dict[Origin, tuple[Step, ...]]:
    return engine.value_of_text(rec.function, rec.expr, rec.macro.text)


@dataclass
class ParamUse:
    """How a function uses one altmap parameter."""

    recovers: list[Recovery] = field(default_factory=list)
    forwards: list[tuple[Location, str, int]] = field(default_factory=list)  # site, usr, index
    other: list[str] = field(default_factory=list)  # texts using it as an altmap


def param_use(program: Program, engine: OriginEngine, spec: AltmapSpec, fn: Function,
              index: int) -> ParamUse:
    name = fn.params[index].name
    use = ParamUse()
    if not name:
        return use
    mention = re.compile(rf"(?<![\w.>]){re.escape(name)}\b")
    nulltest = re.compile(rf"^!?{re.escape(name)}$|!{re.escape(name)}\b|"
                          rf"\b{re.escape(name)}\s*[!=]=\s*NULL\b|"
                          rf"\bNULL\s*[!=]=\s*{re.escape(name)}\b")
    hidden: list[str] = []
    for rec in recoveries(fn, spec):
        hidden += [rec.text, rec.macro.text]
        if bare_expression(rec.expr) == name:
            use.recovers.append(rec)
    for site in fn.calls:
        hidden.append(site.text)
        if site.macro in spec.recovery_macros:
            continue
        for i, arg in enumerate(site.args):
            if _is_param(arg, index):
                targets = [t for t in program.call_targets(site)
                           if t in program.functions and i < len(program.functions[t].params)
                           and engine.tracked(program.functions[t].params[i].type)]
                if targets and len(targets) == len(program.call_targets(site)):
                    use.forwards += [(site.location, t, i) for t in targets]
                else:
                    use.other.append(site.text)
            elif mention.search(arg.text):
                use.other.append(arg.text)
    texts = [a.target.text for a in fn.assigns] + [_whole(a.value) for a in fn.assigns]
    texts += [_whole(r.value) for r in fn.returns if r.value is not None]
    texts += [a for m in fn.macros if m.text not in hidden for a in m.args]
    conds = [e.cond for b in fn.blocks for e in b.succs if e.cond]
    for text in texts:
        for h in hidden:
            text = text.replace(h, " ")
        if mention.search(text):
            use.other.append(text)
    for cond in conds:
        for h in hidden:
            cond = cond.replace(h, " ")
        if mention.search(nulltest.sub(" ", " ".join(cond.split()))):
            use.other.append(cond)
    return use


def _is_param(value: Value, index: int) -> bool:
    return value.kind is ValueKind.PARAM and value.param == index


def _whole(value: Value | None) -> str:
    return "" if value is None or value.kind is ValueKind.CALL else value.text


def origin_engine(program: Program, config: Config,
                  pointer: str = "struct vmem_altmap *") -> OriginEngine:
    """The origin engine for one pointer type, its allocators and embedded-member helpers
    from the config's `origins` section."""
    section = config.get("origins", pointer, default={}) or {}
    helpers = section.get("embedded_helpers", {}) or {}
    return OriginEngine(program, OriginSpec(
        pointer, config.names(section.get("allocators", []) or []),
        tuple(sorted(helpers.items()))))


def origin_list(origins: dict[Origin, tuple[Step, ...]]) -> str:
    return ", ".join(str(o) for o in sorted(origins))


def witness(origins: dict[Origin, tuple[Step, ...]], first: list[Origin] | None = None
            ) -> tuple[Step, ...]:
    """One chain per origin (those in `first` leading), each origin's steps in order."""
    order = list(first or []) + [o for o in sorted(origins) if o not in (first or [])]
    steps: list[Step] = []
    for origin in order:
        for i, step in enumerate(origins.get(origin, ())):
            text = f"[{origin}] {step.message}" if i == 0 else step.message
            steps.append(Step(step.location, text, step.depth, step.function))
    return tuple(steps)
