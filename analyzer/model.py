"""Plain data passed between the pipeline stages.

Everything the frontend extracts from libclang becomes one of these frozen records, so no
stage after `analyzer/frontend/` ever sees a clang cursor.  They serialise to JSON-compatible
dicts (`to_json` / `from_json`) for the fact store and for worker processes.

The records are msgspec Structs rather than dataclasses: the same frozen, typed, ordered
and hashable values (`replace` here is `dataclasses.replace`'s counterpart), but msgspec
decodes the stored facts into them three times as fast (the 273 TUs of a prefiltered
vmlinux: 0.9 s into slotted dataclasses, 0.3 s into Structs), which is most of loading a
program.  The dataclasses of the later stages (results, reports) hold them like any value.
They are declared `gc=False`: frozen trees of strings, numbers, tuples and other records
cannot form a reference cycle, so the cyclic collector need not track them (5 % less
memory for a program).
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec


class Location(msgspec.Struct, frozen=True, order=True, gc=False):
    """A source position; `file` is an absolute, symlink-resolved path."""

    file: str
    line: int
    col: int = 1
    end_line: int = 0
    end_col: int = 0


class ValueKind(str, enum.Enum):
    """What an expression is, as far as the data-flow engines care."""

    NULL = "null"  # NULL, 0 used as a pointer
    LITERAL = "literal"  # any other constant
    PARAM = "param"  # a parameter of the enclosing function (`param` is its index)
    LOCAL = "local"  # a local variable (`name`)
    GLOBAL = "global"  # a file-scope or extern variable (`name`, `usr`)
    ADDR_LOCAL = "addr_local"  # &local
    ADDR_GLOBAL = "addr_global"  # &global
    FIELD = "field"  # a read of base->field / base.field (`record`, `field`, `base`)
    ADDR_FIELD = "addr_field"  # &base->field (`record`, `field`, `base`)
    CALL = "call"  # the result of a call (`name` = callee, `usr`, `args`)
    CHOICE = "choice"  # one of `args`: `c ? a : b`, `a ?: b`, `?:` chains (min/max macros)
    ALLOC = "alloc"  # reserved for engines: a heap allocation recognised from config
    OTHER = "other"


class Value(msgspec.Struct, frozen=True, gc=False):
    """Summary of one expression: a call argument, an assigned value, a returned value.

    `record` is the record type spelled as in C (`struct dev_pagemap`) that holds `field`;
    `base` is the summary of the expression the field is taken from.  `type` is the
    expression's type spelling (`struct vmem_altmap *`).  `text` is the source text,
    truncated to 200 characters.
    """

    kind: ValueKind
    text: str = ""
    type: str = ""
    param: int | None = None
    name: str | None = None
    usr: str | None = None
    record: str | None = None
    field: str | None = None
    base: Value | None = None
    args: tuple[Value, ...] = ()


class CallSite(msgspec.Struct, frozen=True, gc=False):
    """One call in a function body, in source order (`index` is its position).

    Direct calls carry `callee` and `callee_usr`.  Calls through a struct field
    (`pgmap->ops->page_free(page)`) have `indirect=True`, `record` = the record type that
    declares the function-pointer field and `field` = its name; `callee` is then the field
    name.  Calls through a plain function-pointer variable have `indirect=True` and no record;
    when that variable is a parameter of the enclosing function (`func(mem, arg)`,
    `(*func)(&res, arg)`: the function calls back what its caller handed it), `param` is the
    parameter's index.  `macro` names the configured macro whose expansion produced the
    call, if any.
    """

    index: int
    callee: str
    callee_usr: str | None
    location: Location
    args: tuple[Value, ...] = ()
    indirect: bool = False
    record: str | None = None
    field: str | None = None
    text: str = ""
    macro: str | None = None
    param: int | None = None


class MacroUse(msgspec.Struct, frozen=True, gc=False):
    """An instantiation of a configured macro (container_of, pfn_to_page, ...)."""

    index: int
    name: str
    location: Location
    args: tuple[str, ...] = ()
    arg_types: tuple[str, ...] = ()
    text: str = ""


class Assign(msgspec.Struct, frozen=True, gc=False):
    """`target = value`, including declarations with initialisers and designated
    initialisers of local structs (`struct mhp_params p = { .altmap = a }` gives a target of
    kind FIELD with record `struct mhp_params`, field `altmap`, base the local `p`)."""

    index: int
    target: Value
    value: Value
    location: Location


class Return(msgspec.Struct, frozen=True, gc=False):
    index: int
    value: Value | None
    location: Location


class EventKind(str, enum.Enum):
    CALL = "call"  # index into Function.calls
    MACRO = "macro"  # index into Function.macros
    ASSIGN = "assign"  # index into Function.assigns
    RETURN = "return"  # index into Function.returns


class Event(msgspec.Struct, frozen=True, gc=False):
    kind: EventKind
    index: int


class Edge(msgspec.Struct, frozen=True, gc=False):
    """A CFG edge.  Conditional edges carry the condition's source text and the branch
    taken: "true"/"false" for if, loops, `?:`, `&&`/`||`; "case <text>"/"default" for
    switch.  Unconditional edges have both None."""

    target: int
    cond: str | None = None
    branch: str | None = None


class Block(msgspec.Struct, frozen=True, gc=False):
    id: int
    events: tuple[Event, ...] = ()
    succs: tuple[Edge, ...] = ()


ENTRY_BLOCK = 0
EXIT_BLOCK = 1


class Param(msgspec.Struct, frozen=True, gc=False):
    index: int
    name: str
    type: str
    record: str | None = None  # pointed-to (or by-value) record type: `struct vmem_altmap`


class Function(msgspec.Struct, frozen=True, gc=False):
    """Facts for one function definition.  Block 0 is the entry, block 1 the exit."""

    usr: str
    name: str
    file: str
    line: int
    end_line: int
    linkage: str  # "external" | "internal"
    return_type: str = ""
    sections: tuple[str, ...] = ()  # markers as written: ("__meminit",) or section names
    inline: bool = False
    from_header: bool = False
    params: tuple[Param, ...] = ()
    calls: tuple[CallSite, ...] = ()
    macros: tuple[MacroUse, ...] = ()
    assigns: tuple[Assign, ...] = ()
    returns: tuple[Return, ...] = ()
    blocks: tuple[Block, ...] = ()


GLOBAL_FP = "<global>"  # the record of a file-scope function-pointer variable


class FnPtrStore(msgspec.Struct, frozen=True, gc=False):
    """A function stored into a function-pointer field: `.page_free = f` in an ops table,
    or `ops->page_free = f`; or into a file-scope function-pointer variable
    (`online_page_callback = f`), recorded as record GLOBAL_FP and the variable's USR as
    the field.  `function` is None for the enclosing scope of a static table; `table` is
    then the USR of the table variable (`static const struct mm_walk_ops walk_ops = {...}`),
    so an iterator handed `&walk_ops` is known to call what it holds."""

    record: str
    field: str
    target: str
    target_usr: str | None
    location: Location
    function: str | None = None
    table: str | None = None


class Level(str, enum.Enum):
    NOTE = "note"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"note": 1, "warning": 2, "error": 3}[self.value]


class Notification(msgspec.Struct, frozen=True, gc=False):
    """Something the user should know that is not a finding: a TU that failed, a flag
    dropped, a checker that crashed.  Becomes SARIF toolExecutionNotifications and one line
    on stderr."""

    level: Level
    message: str
    file: str | None = None
    line: int | None = None
    rule: str | None = None
    # What a parse diagnostic means for its TU: FATAL (the TU yields no usable facts, such
    # as a missing include) or ERROR_LIMIT (clang stopped reporting, later code may be lost)
    kind: str | None = None
    # The TU whose parse said it (a header's diagnostic, a flag clang ignored); after the
    # triage stage folds repeats, the first of `tus` TUs that said it `count` times in all
    tu: str | None = None
    count: int = 1
    tus: int = 1


FATAL, ERROR_LIMIT = "fatal", "error-limit"
# A notification about the user's input that makes the run exit 2 (a malformed in-source
# suppression comment), reported after the results are written.
BAD_INPUT = "bad-input"


class SourceSuppression(msgspec.Struct, frozen=True, gc=False):
    """A `kmeminit: ignore RULE[,RULE] reason` comment in a source file.  It suppresses the
    findings of those rules whose primary location is on line `target`: the comment's own
    line when code shares it, else the line after the comment.  `error` says why a comment
    that starts `kmeminit:` is malformed (then it suppresses nothing)."""

    file: str  # absolute, symlink-resolved
    line: int  # where the comment starts
    target: int
    rules: tuple[str, ...] = ()
    reason: str = ""
    error: str = ""


class TUFacts(msgspec.Struct, frozen=True, gc=False):
    """Everything one translation unit contributes: its own functions, the header inline
    functions it was the first to extract, its function-pointer stores, and the files it
    includes (for cache invalidation), and the suppression comments of its file and of the
    files it includes."""

    file: str
    functions: tuple[Function, ...] = ()
    fp_stores: tuple[FnPtrStore, ...] = ()
    includes: tuple[str, ...] = ()
    notifications: tuple[Notification, ...] = ()
    parse_seconds: float = 0.0
    suppressions: tuple[SourceSuppression, ...] = ()


# ---------------------------------------------------------------------------------------
# JSON round trip.  Kept generic so that adding a field to a record or dataclass needs no
# code here.


def references(fn: Function | None, stores: Iterable[FnPtrStore] = ()) -> Iterator[str]:
    """The USRs a function (or a file-scope initialiser) calls, stores or hands on as a
    value: the header functions that are walked with it (analyzer/frontend), and that a
    program made of its TU holds (Program.from_tus).  A header's other inline functions
    are declarations its TU merely saw."""
    yield from (s.target_usr for s in stores if s.target_usr)
    if fn is None:
        return
    values: list[Value] = []
    for call in fn.calls:
        if call.callee_usr:
            yield call.callee_usr
        values.extend(call.args)
    values.extend(v for a in fn.assigns for v in (a.target, a.value))
    values.extend(r.value for r in fn.returns if r.value is not None)
    while values:
        v = values.pop()
        if v.usr:
            yield v.usr
        values.extend(v.args)
        if v.base is not None:
            values.append(v.base)


def tu_references(tu: TUFacts) -> Iterator[str]:
    """`references` of every function of a TU and of its file-scope initialisers: where
    the header functions a program of the TU holds are reached from."""
    yield from references(None, tu.fp_stores)
    for fn in tu.functions:
        yield from references(fn)


def replace(record: Any, **changes: Any) -> Any:
    """A copy of a record with `changes` (dataclasses.replace for these Structs)."""
    return msgspec.structs.replace(record, **changes)


def _struct_fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """(name, default) of a Struct's fields; dataclasses.MISSING when it has none."""
    out = []
    for f in msgspec.structs.fields(cls):
        if f.default is not msgspec.NODEFAULT:
            out.append((f.name, f.default))
        elif f.default_factory is not msgspec.NODEFAULT:
            out.append((f.name, f.default_factory()))
        else:
            out.append((f.name, dataclasses.MISSING))
    return tuple(out)


# How each type is encoded, decided once per type (storing a TU's facts calls to_json
# for every value of every function: the generic checks were most of the store's time).
_DATACLASS, _ENUM, _SEQUENCE, _PLAIN = range(4)
_ENCODING: dict[type, tuple[int, tuple[tuple[str, Any], ...]]] = {}


def _encoding(cls: type) -> tuple[int, tuple[tuple[str, Any], ...]]:
    if issubclass(cls, msgspec.Struct):
        kind = _DATACLASS, _struct_fields(cls)
    elif dataclasses.is_dataclass(cls):
        kind = _DATACLASS, tuple((f.name, f.default) for f in dataclasses.fields(cls))
    elif issubclass(cls, enum.Enum):
        kind = _ENUM, ()
    elif issubclass(cls, (tuple, list)):
        kind = _SEQUENCE, ()
    else:
        kind = _PLAIN, ()
    _ENCODING[cls] = kind
    return kind


def to_json(obj: Any) -> Any:
    kind, fields = _ENCODING.get(type(obj)) or _encoding(type(obj))
    if kind == _PLAIN:
        return obj
    if kind == _DATACLASS:
        out = {}
        for name, default in fields:
            value = getattr(obj, name)
            if default is not dataclasses.MISSING and value == default:
                continue  # defaults stay out of the store: smaller and faster to load
            out[name] = to_json(value)
        return out
    if kind == _ENUM:
        return obj.value
    return [to_json(v) for v in obj]


# Decoders are compiled once per type: loading the 16,000 functions of the 6.12 slice went
# from 7.5 s with generic per-field type inspection to well under 2 s.
_DECODERS: dict[Any, Any] = {}


def _identity(value: Any) -> Any:
    return value


def _decoder(hint: Any) -> Any:
    if hint in _DECODERS:
        return _DECODERS[hint]
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is tuple:
        inner = _decoder(args[0])
        if inner is _identity:
            dec = tuple
        else:
            def dec(data: Any, inner: Any = inner) -> Any:
                return tuple([inner(v) for v in data])
    elif origin in (typing.Union, types.UnionType):
        inner = _decoder(next(a for a in args if a is not type(None)))
        if inner is _identity:
            dec = _identity
        else:
            def dec(data: Any, inner: Any = inner) -> Any:
                return None if data is None else inner(data)
    elif isinstance(hint, type) and issubclass(hint, msgspec.Struct):
        def dec(data: Any, cls: type = hint) -> Any:
            return msgspec.convert(data, cls)
    elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
        dec = _dataclass_decoder(hint)
    elif isinstance(hint, type) and issubclass(hint, enum.Enum):
        dec = hint._value2member_map_.__getitem__
    else:
        dec = _identity
    _DECODERS[hint] = dec
    return dec


def _dataclass_decoder(cls: type) -> Any:
    """Builds instances without running the frozen __init__ (one object.__setattr__ per
    slot): the stored dict is complete apart from defaults, which are filled in first."""
    fields: dict[str, Any] = {}
    defaults = {f.name: f.default for f in dataclasses.fields(cls)
                if f.default is not dataclasses.MISSING}
    required = {f.name for f in dataclasses.fields(cls)} - set(defaults)
    new, put = object.__new__, object.__setattr__

    count = len(defaults) + len(required)

    def dec(data: dict[str, Any]) -> Any:
        if not fields:  # resolved on first use: dataclasses may refer to themselves
            hints = typing.get_type_hints(cls)
            fields.update({name: _decoder(h) for name, h in hints.items()})
        state = dict(defaults)
        for key, value in data.items():
            decode = fields.get(key)
            if decode is None:
                return cls(**data)  # an unknown field: the constructor's usual TypeError
            state[key] = value if decode is _identity else decode(value)
        if len(state) != count:
            return cls(**data)  # a required field is missing: the same
        obj = new(cls)
        for key, value in state.items():
            put(obj, key, value)
        return obj

    return dec


def from_json(cls: type, data: dict[str, Any]) -> Any:
    return _decoder(cls)(data)


def typed_json(kind: Any, plain: Callable[[str | bytes], Any]) -> Callable[[str | bytes], Any]:
    """A decoder of JSON text into `kind` by msgspec's typed C decoder, and by `plain` for
    a text msgspec rejects (a lone surrogate from a name that is not UTF-8: Python's json
    keeps it).  The store's facts, include lists and commands, and the prefilter's stored
    scans, are decoded so; each caller's tests check that both ways build equal objects."""
    typed = msgspec.json.Decoder(kind).decode

    def decode(text: str | bytes) -> Any:
        try:
            return typed(text)
        except ValueError:  # msgspec's DecodeError and ValidationError are ValueErrors
            return plain(text)
    return decode


_BYTES_DECODERS: dict[type, Callable[[str | bytes], Any]] = {}


def from_json_bytes(cls: type, data: bytes) -> Any:
    """An instance of `cls` from its JSON text (as to_json wrote it): msgspec's typed C
    decoder, else json.loads and from_json (see typed_json).  The two build equal objects
    (tests/test_codec.py)."""
    decode = _BYTES_DECODERS.get(cls)
    if decode is None:
        decode = _BYTES_DECODERS[cls] = typed_json(cls, _plain_decoder(cls))
    return decode(data)


def _plain_decoder(cls: type) -> Any:
    import json

    return lambda data: from_json(cls, json.loads(data))
