"""Origin analysis: where can a pointer of a tracked type come from?

For one configured pointer type (first user: `struct vmem_altmap *`) every parameter,
local, struct field, global and return value of that type gets the set of origins that may
reach it: NULL; embedded in record R at field F (`&pgmap->altmap`, or a helper configured as
returning it, like pgmap_altmap()); standalone (a heap allocation, a local or global object);
unknown.  Values flow through call arguments, assignments, returns and struct fields — the
last field-sensitively: what is stored into `T.f` anywhere reaches every read of `T.f`.  The
propagation is a breadth-first fixpoint, so each origin kind reaches each variable with its
shortest witness chain.

A conditional expression carries the origins of both operands (`c ? &pgmap->altmap : NULL`
is {embedded, NULL}; also `a ?: b`, `?:` chains and min()/max()-style macros).  A call of a
helper that only ever returns one of its parameters (or NULL) carries the origins of the
arguments it got at that call, not those of every caller.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from kmeminit.analyzer.model import Function, Location, Param, Value, ValueKind
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.reports import Origin
from kmeminit.analyzer.results import Step

# A variable of the flow graph: ("param", usr, index) | ("local", usr, name) |
# ("field", record, field) | ("ret", usr) | ("global", name)
Var = tuple


@dataclass(frozen=True)
class OriginSpec:
    pointer: str  # "struct vmem_altmap *"
    allocators: frozenset[str] = frozenset()
    embedded_helpers: tuple[tuple[str, str], ...] = ()  # (function, "struct R.field")

    @property
    def record(self) -> str:
        return _pointee(self.pointer) or self.pointer


_QUALIFIERS = re.compile(r"\b(const|volatile|restrict|__restrict)\b")
# `kmemdup(...)`, `(struct vmem_altmap *)kzalloc(...)`: the call a value's text starts with
_LEADING_CALL = re.compile(r"\s*(?:\([^()]*\)\s*)?([A-Za-z_]\w*)\s*\(")


_UNASKED: Any = object()  # a dict's default that no stored value is


class _PointsTo(dict[str, bool]):
    """Type spelling → is it a single pointer to `record`?, filled in as it is asked."""

    def __init__(self, record: str) -> None:
        super().__init__()
        self.record = record

    def __missing__(self, type_spelling: str) -> bool:
        found = self[type_spelling] = _pointee(type_spelling) == self.record
        return found


@cache  # a few hundred distinct spellings, asked about once per value of the program
def _pointee(type_spelling: str) -> str | None:
    """`struct vmem_altmap *` (any qualifiers) → `struct vmem_altmap`; None if not a single
    pointer to a record."""
    t = _QUALIFIERS.sub("", type_spelling).strip()
    if not t.endswith("*") or t.count("*") != 1:
        return None
    return " ".join(t[:-1].split())


@dataclass
class OriginEngine:
    program: Program
    spec: OriginSpec
    # var → origin → chain of steps (origin first, the variable last)
    origins: dict[Var, dict[Origin, tuple[Step, ...]]] = field(default_factory=dict)
    _edges: dict[Var, list[tuple[Var, Step]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # type spelling → a pointer to the record?  (looked up 300,000 times on a whole
        # kernel family: a dict lookup, computed on the first miss)
        self._tracked = _PointsTo(self.spec.record)
        self._helpers = dict(self.spec.embedded_helpers)
        self._passthrough = self._pass_through()
        self._build()
        self._propagate()

    # -- classification --------------------------------------------------------------

    def tracked(self, type_spelling: str) -> bool:
        return self._tracked[type_spelling]

    def _operands(self, value: Value) -> tuple[Value, ...] | None:
        """The values a value stands for when it is one of several: a conditional's
        operands, or the arguments (and NULL) a pass-through helper may return at this
        call.  None for a single value."""
        if value.kind is ValueKind.CHOICE and value.args:
            return value.args
        if value.kind is ValueKind.CALL and value.args:
            usr = value.usr if value.usr in self.program.functions else None
            passed = self._passthrough.get(usr) if usr else None
            if passed is not None:
                params, null = passed
                out = tuple(value.args[i] for i in sorted(params) if i < len(value.args))
                return out + ((Value(ValueKind.NULL, "NULL"),) if null else ())
        return None

    def _pass_through(self) -> dict[str, tuple[frozenset[int], bool]]:
        """USR → (parameters, NULL returned?) of functions whose every returned value is
        one of their parameters, NULL, or a conditional of those."""
        out: dict[str, tuple[frozenset[int], bool]] = {}
        for usr, fn in self.program.functions.items():
            if not fn.returns or not fn.params:
                continue
            params: set[int] = set()
            null = False
            values = [r.value for r in fn.returns]
            while values:
                value = values.pop()
                if value is None:
                    break
                if value.kind is ValueKind.CHOICE and value.args:
                    values.extend(value.args)
                elif value.kind is ValueKind.PARAM and value.param is not None:
                    params.add(value.param)
                elif value.kind is ValueKind.NULL:
                    null = True
                else:
                    break
            else:
                if params:
                    out[usr] = (frozenset(params), null)
        return out

    def _source(self, fn: Function, value: Value) -> tuple[Origin | None, Var | None]:
        """A value is either a leaf origin or a read of a flow variable."""
        kind = value.kind
        if kind is ValueKind.NULL:
            return Origin("null"), None
        if kind is ValueKind.ADDR_FIELD:
            return Origin("embedded", f"{value.record}.{value.field}"), None
        if kind is ValueKind.ADDR_LOCAL:
            return Origin("stack", value.name or value.text), None
        if kind is ValueKind.ADDR_GLOBAL:
            return Origin("global", value.name or value.text), None
        if kind is ValueKind.PARAM and value.param is not None:
            return None, ("param", fn.usr, value.param)
        if kind is ValueKind.LOCAL:
            return None, ("local", fn.usr, value.name)
        if kind is ValueKind.GLOBAL:
            return None, ("global", value.name)
        if kind is ValueKind.FIELD:
            return None, _local_field(fn, value) or ("field", value.record, value.field)
        leading = _LEADING_CALL.match(value.text or "")
        if leading and leading.group(1) in self.spec.allocators:
            # allocators are often macros (kmemdup → alloc_hooks(kmemdup_noprof(...)))
            return Origin("heap", leading.group(1)), None
        if kind is ValueKind.CALL:
            name = value.name or ""
            if name in self.spec.allocators:
                return Origin("heap", name), None
            if name in self._helpers:
                return Origin("embedded", self._helpers[name]), None
            usrs = [u for u in self.program.by_name.get(name, [])
                    if self.program.functions[u].blocks]
            if value.usr in self.program.functions:
                usrs = [value.usr]
            if usrs:
                return None, ("ret", usrs[0])
            return Origin("unknown", f"result of {name}()"), None
        return Origin("unknown", value.text or kind.value), None

    # -- the flow graph --------------------------------------------------------------

    def _build(self) -> None:
        self._leaves: list[tuple[Var, Origin, Step]] = []
        self._fields = self._tracked_fields()
        self._by_record: dict[str | None, list[str | None]] = {}
        for record, name in sorted(self._fields, key=str):
            self._by_record.setdefault(record, []).append(name)
        called: set[str] = set()
        # callee → its parameters an argument flows into: of the tracked type, or a record
        # with tracked fields (most functions have none: their calls are passed over)
        # (None: not a defined function)
        flowing: dict[str, tuple[Param, ...] | None] = {}
        functions, call_targets = self.program.functions, self.program.call_targets
        tracked, null = self._tracked, ValueKind.NULL
        for fn in functions.values():
            for site in fn.calls:
                for target in call_targets(site):
                    params = flowing.get(target, _UNASKED)
                    if params is _UNASKED:
                        callee = functions.get(target)
                        params = flowing[target] = None if callee is None else tuple(
                            p for p in callee.params
                            if self.tracked(p.type) or p.record in self._by_record)
                    if params is None:
                        continue
                    called.add(target)
                    if not params:
                        continue
                    callee = functions[target]
                    for param in params:
                        if param.index >= len(site.args):
                            continue
                        arg = site.args[param.index]
                        if self.tracked(param.type):
                            self._flow(fn, arg, ("param", target, param.index), site.location,
                                       f"passed as '{param.name}' to {callee.name}()")
                        self._pass_fields(fn, arg, callee, param, site.location)
        for usr, fn in self.program.functions.items():
            if usr not in called:  # entry points: their struct arguments are anyone's
                for param in fn.params:
                    for name in self._by_record.get(param.record, ()):
                        self._edge(("field", param.record, name),
                                   ("pfield", usr, param.index, param.record, name),
                                   Step(Location(fn.file, fn.line), f"{fn.name}() entry", 0,
                                        fn.name))
            for assign in fn.assigns:
                typed = tracked[assign.value.type] or tracked[assign.target.type]
                if not typed and assign.value.kind is not null:
                    continue  # most stores: nothing of the tracked type
                for dst in self._target_vars(fn, assign.target):
                    if typed or self._var_tracked(dst):
                        self._flow(fn, assign.value, dst, assign.location,
                                   f"stored into {_show(dst)}")
            if self.tracked(fn.return_type):
                for ret in fn.returns:
                    if ret.value is not None:
                        self._flow(fn, ret.value, ("ret", fn.usr), ret.location,
                                   f"returned by {fn.name}()")

    def _pass_fields(self, fn: Function, arg: Value, callee: Function, param: Param,
                     location: Location) -> None:
        """A struct passed by pointer carries the tracked fields of that object: `&params`
        of a local struct, or a parameter passed on, links the caller's view of
        `params.altmap` to the callee's `params->altmap`."""
        names = self._by_record.get(param.record, ())
        if not names:
            return
        for name in names:
            dst = ("pfield", callee.usr, param.index, param.record, name)
            if arg.kind is ValueKind.ADDR_LOCAL:
                src: Var = ("lfield", fn.usr, arg.name, param.record, name)
            elif arg.kind is ValueKind.PARAM and arg.param is not None:
                src = ("pfield", fn.usr, arg.param, param.record, name)
            else:
                src = ("field", param.record, name)
            self._edge(src, dst, Step(location, f"{arg.text or 'argument'}: passed as "
                                                f"'{param.name}' to {callee.name}()", 0, fn.name))

    def _edge(self, src: Var, dst: Var, step: Step) -> None:
        self._edges.setdefault(src, []).append((dst, step))

    def _tracked_fields(self) -> set[tuple[str | None, str | None]]:
        """Struct fields seen holding the tracked type anywhere (read, written or passed)."""
        fields = set()
        tracked, field_kind = self._tracked, ValueKind.FIELD
        todo: list[Value] = []  # every value, its operands and bases (in no order)
        for fn in self.program.functions.values():
            for site in fn.calls:
                todo += site.args
            for assign in fn.assigns:
                todo.append(assign.value)
                if tracked[assign.value.type] and assign.target.kind is field_kind:
                    fields.add((assign.target.record, assign.target.field))
        while todo:
            value: Value | None = todo.pop()
            while value is not None:
                if value.kind is field_kind and tracked[value.type]:
                    fields.add((value.record, value.field))
                if value.args:
                    todo += value.args
                value = value.base
        return fields

    def _var_tracked(self, var: Var) -> bool:
        if var[0] == "local":
            fn = self.program.functions[var[1]]
            return any(a.target.name == var[2] and self.tracked(a.value.type)
                       for a in fn.assigns)
        if var[0] in ("lfield", "pfield"):
            return (var[3], var[4]) in self._fields
        return var[0] == "field" and (var[1], var[2]) in self._fields

    def _target_vars(self, fn: Function, target: Value) -> list[Var]:
        if target.kind is ValueKind.LOCAL:
            return [("local", fn.usr, target.name)]
        if target.kind is ValueKind.FIELD:
            shared = ("field", target.record, target.field)
            own = _local_field(fn, target)
            # a store into a local struct reaches this function's own reads of it, and,
            # through `&local` passed on, every reader of the field
            return [own, shared] if own else [shared]
        if target.kind is ValueKind.GLOBAL:
            return [("global", target.name)]
        if target.kind is ValueKind.PARAM and target.param is not None:
            return [("param", fn.usr, target.param)]
        return []

    def _flow(self, fn: Function, value: Value, dst: Var, location: Location,
              message: str, depth: int = 0) -> None:
        operands = self._operands(value) if depth < 8 else None
        if operands is not None:
            for operand in operands:
                self._flow(fn, operand, dst, location, message, depth + 1)
            return
        origin, src = self._source(fn, value)
        step = Step(location, f"{value.text or value.kind.value}: {message}", 0, fn.name)
        if origin is not None:
            self._leaves.append((dst, origin, step))
        elif src is not None:
            self._edges.setdefault(src, []).append((dst, step))

    def _propagate(self) -> None:
        queue: deque[tuple[Var, Origin]] = deque()
        for dst, origin, step in self._leaves:
            known = self.origins.setdefault(dst, {})
            if origin not in known:
                known[origin] = (step,)
                queue.append((dst, origin))
        while queue:
            var, origin = queue.popleft()
            chain = self.origins[var][origin]
            for dst, step in self._edges.get(var, ()):
                known = self.origins.setdefault(dst, {})
                if origin not in known:
                    known[origin] = chain + (step,)
                    queue.append((dst, origin))

    # -- queries ---------------------------------------------------------------------

    def of(self, var: Var) -> dict[Origin, tuple[Step, ...]]:
        """Origins reaching a variable; a variable nothing flows into is unknown."""
        found = self.origins.get(var)
        if found:
            return found
        return {Origin("unknown", f"nothing in the analysed code flows into {_show(var)}"): ()}

    def of_param(self, usr: str, index: int) -> dict[Origin, tuple[Step, ...]]:
        return self.of(("param", usr, index))

    def of_value(self, fn: Function, value: Value, depth: int = 0
                 ) -> dict[Origin, tuple[Step, ...]]:
        operands = self._operands(value) if depth < 8 else None
        if operands is not None:
            out: dict[Origin, tuple[Step, ...]] = {}
            for operand in operands:
                for origin, chain in self.of_value(fn, operand, depth + 1).items():
                    out.setdefault(origin, chain)
            return out
        origin, src = self._source(fn, value)
        if origin is not None:
            return {origin: ()}
        return self.of(src)

    def value_of_text(self, fn: Function, text: str, expansion: str = ""
                      ) -> dict[Origin, tuple[Step, ...]]:
        """Origins of an expression of `fn` known only as source text, such as a macro
        argument (`altmap`, `(void *)mem->altmap`, `params->altmap`).  A value the frontend
        recorded with that text wins; then one recorded with the text of the whole macro
        instantiation `expansion` (the macro body's own copy of its argument, like
        container_of's `__mptr`); then a parameter, local or global of that name, or a
        field read through a parameter."""
        expr = bare_expression(text)
        value = _recorded_value(fn, expr)
        if value is None and expansion:
            value = _recorded_value(fn, _squash(expansion), strict=False)
        if value is not None:
            return self.of_value(fn, value)
        var = self._var_of_text(fn, expr)
        if var is None:
            return {Origin("unknown", f"cannot resolve '{expr}' in {fn.name}()"): ()}
        return self.of(var)

    def _var_of_text(self, fn: Function, expr: str) -> Var | None:
        params = {p.name: p for p in fn.params}
        if _IDENT.fullmatch(expr):
            if expr in params:
                return ("param", fn.usr, params[expr].index)
            if any(a.target.kind is ValueKind.LOCAL and a.target.name == expr
                   for a in fn.assigns):
                return ("local", fn.usr, expr)
            return ("global", expr)
        path = _FIELD_PATH.fullmatch(expr)
        if path and path.group(1) in params:
            param = params[path.group(1)]
            return ("pfield", fn.usr, param.index, param.record, path.group(2))
        return None

    def struct_fields(self, record: str | None) -> list[str | None]:
        """Fields of `record` seen holding the tracked type."""
        return list(self._by_record.get(record, ()))

    def variables(self) -> Iterable[Var]:
        """Every parameter and field of the tracked type in the analysed code."""
        seen: set[Var] = set()
        for usr, fn in sorted(self.program.functions.items()):
            for param in fn.params:
                if self.tracked(param.type):
                    seen.add(("param", usr, param.index))
        seen.update(v for v in self.origins if v[0] == "field")
        seen.update(v for v in self._edges if v[0] == "field")
        return sorted(seen, key=lambda v: tuple(str(x) for x in v))


_IDENT = re.compile(r"[A-Za-z_]\w*")
_FIELD_PATH = re.compile(r"([A-Za-z_]\w*)->([A-Za-z_]\w*)")
_CAST = re.compile(r"\(\s*(?:const\s+|volatile\s+)*(?:struct\s+)?[A-Za-z_]\w*\s*\*+\s*\)")


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def bare_expression(text: str) -> str:
    """Source text without whitespace, outer parentheses and leading pointer casts:
    `(void *)( mem->altmap )` → `mem->altmap`."""
    expr = " ".join(text.split())
    while True:
        stripped = _strip_cast(_strip_parens(expr))
        if stripped == expr:
            return _squash(expr)
        expr = stripped


def _strip_parens(expr: str) -> str:
    if not (expr.startswith("(") and expr.endswith(")")):
        return expr
    depth = 0
    for i, ch in enumerate(expr):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(expr) - 1:
            return expr  # `(a)->b`, `(x)(y)`: the parentheses do not enclose it all
    return expr[1:-1].strip()


def _strip_cast(expr: str) -> str:
    cast = _CAST.match(expr)
    if cast is None or cast.end() >= len(expr):
        return expr
    return expr[cast.end():].strip()


def _values(fn: Function) -> Iterable[Value]:
    """Every value the frontend recorded in `fn`, nested bases and arguments included."""
    stack: list[Value] = []
    for site in fn.calls:
        stack.extend(site.args)
    for assign in fn.assigns:
        stack += [assign.target, assign.value]
    stack.extend(r.value for r in fn.returns if r.value is not None)
    while stack:
        value = stack.pop()
        yield value
        stack.extend(value.args)
        if value.base is not None:
            stack.append(value.base)


def _recorded_value(fn: Function, expr: str, strict: bool = True) -> Value | None:
    """A recorded value of `fn` whose text is `expr` (whitespace aside); with strict=False
    also one recorded at a macro instantiation of that text (its text is the macro's)."""
    for value in _values(fn):
        if value.kind in (ValueKind.OTHER, ValueKind.LITERAL):
            continue
        if (bare_expression(value.text) if strict else _squash(value.text)) == expr:
            return value
    return None


def _local_field(fn: Function, value: Value) -> Var | None:
    """`params.altmap` on a struct held by value in a local, or `params->altmap` through a
    parameter: variables of this function alone, so two functions' `struct mhp_params`
    objects do not mix their altmaps."""
    base = value.base
    if base is None:
        return None
    if base.kind is ValueKind.LOCAL and not base.type.rstrip().endswith("*"):
        return ("lfield", fn.usr, base.name, value.record, value.field)
    if base.kind is ValueKind.PARAM and base.param is not None:
        return ("pfield", fn.usr, base.param, value.record, value.field)
    return None


def show(var: Var) -> str:
    """A variable as the reader knows it: `parameter params->altmap`, `struct R.f`."""
    return _show(var)


def _show(var: Var) -> str:
    kind = var[0]
    if kind == "lfield":
        return f"{var[2]}.{var[4]}"
    if kind == "pfield":
        return f"parameter {var[2]}->{var[4]}"
    if kind == "field":
        return f"{var[1]}.{var[2]}"
    if kind == "local":
        return f"local '{var[2]}'"
    if kind == "global":
        return f"global '{var[1]}'"
    if kind == "ret":
        return "the return value"
    return f"parameter {var[2]}"
