"""libclang frontend: one translation unit in, `TUFacts` out.

The only module that imports `clang.cindex`.  Cost is kept near a plain `Index.parse`:
the TU's top-level declarations are enumerated in one C-driven visit, and only function
definitions of the main file (plus header inline functions not yet extracted this run) are
descended into, each with one `clang_visitChildren` that builds a light tree.  Hot
queries (locations, extents, referenced declarations, operator kinds) go straight to
libclang through private ctypes prototypes instead of the binding's object wrappers.
"""

from __future__ import annotations

import ctypes
import gc
import os
import re
import time
from collections.abc import Callable, Iterator
from ctypes import POINTER, byref, c_int, c_longlong, c_uint, c_void_p
from dataclasses import dataclass, field
from typing import Any

from clang import cindex as ci

from kmeminit.analyzer.config import Config
from kmeminit.analyzer.frontend.cfg_builder import CFGBuilder
from kmeminit.analyzer.frontend.source_text import LineIndex, lex, macro_uses, section_markers
from kmeminit.analyzer.model import (
    EXIT_BLOCK,
    GLOBAL_FP,
    Assign,
    CallSite,
    EventKind,
    FnPtrStore,
    Function,
    Level,
    Location,
    MacroUse,
    Notification,
    Param,
    Return,
    TUFacts,
    Value,
    ValueKind,
)

MAX_DEPTH = 200  # statement/expression nesting walked structurally; deeper is flattened
MAX_VALUE_DEPTH = 6  # nesting of Value.base / Value.args
TEXT_LIMIT = 200
_MACRO_BIT = 1 << 31


@dataclass(frozen=True)
class ParseTask:
    file: str  # absolute source path
    args: tuple[str, ...]  # sanitised clang args: no compiler, no source, no -o/-c
    directory: str  # working directory the args are relative to
    macros: tuple[str, ...]  # frontend.macros: instantiations recorded as MacroUse facts
    section_markers: tuple[str, ...]  # frontend.section_markers
    skip_usrs: frozenset[str] = field(default_factory=frozenset)
    # (absolute path, contents) read in place of the files on disk: `kmeminit diff` parses
    # a TU as it was at another revision without checking that revision out.
    unsaved: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def for_config(cls, config: Config, file: str, args: tuple[str, ...], directory: str,
                   **kw: Any) -> ParseTask:
        return cls(file, args, directory, **frontend_options(config), **kw)


def frontend_options(config: Config) -> dict[str, tuple[str, ...]]:
    """The `ParseTask` settings the config decides; they are part of the store's cache key,
    so the config is their only source."""
    return {
        "macros": tuple(config.get("frontend", "macros", default=[])),
        "section_markers": tuple(config.get("frontend", "section_markers", default=[])),
    }


# ---------------------------------------------------------------------------------------
# libclang access.  A private handle on the same shared library, so prototypes set here
# never disturb the binding's own.

# KeepGoing: a missing header still yields facts.  IgnoreNonErrorsFromIncludedFiles: we
# report errors only, so header warnings need not be kept.
_PARSE_OPTIONS = 0x200 | 0x4000

# CXCursorKind values used below.
K_STRUCT, K_UNION, K_FIELD, K_FUNCTION, K_VAR, K_PARM = 2, 3, 6, 8, 9, 10
K_ENUM_CONST = 7
K_TYPE_REF, K_MEMBER_REF, K_LABEL_REF = 43, 47, 48
K_UNEXPOSED_EXPR, K_DECL_REF, K_MEMBER_EXPR, K_CALL = 100, 101, 102, 103
K_INT_LIT, K_FLOAT_LIT, K_IMAG_LIT, K_STRING_LIT, K_CHAR_LIT = 106, 107, 108, 109, 110
K_PAREN, K_UNARY, K_BINARY, K_COMPOUND_ASSIGN, K_CONDITIONAL = 111, 112, 114, 115, 116
K_CAST, K_INIT_LIST, K_STMT_EXPR, K_GNU_NULL, K_SIZEOF = 117, 119, 121, 123, 136
K_LABEL, K_COMPOUND, K_CASE, K_DEFAULT, K_IF, K_SWITCH = 201, 202, 203, 204, 205, 206
K_WHILE, K_DO, K_FOR, K_GOTO, K_INDIRECT_GOTO = 207, 208, 209, 210, 211
K_CONTINUE, K_BREAK, K_RETURN, K_NULL_STMT, K_DECL_STMT = 212, 213, 214, 230, 231

OP_LAND, OP_LOR, OP_ASSIGN = 20, 21, 22  # CXBinaryOperatorKind
UOP_ADDR, UOP_DEREF = 5, 6  # CXUnaryOperatorKind
LINKAGE_INTERNAL = 2
_LITERALS = {K_INT_LIT, K_FLOAT_LIT, K_IMAG_LIT, K_STRING_LIT, K_CHAR_LIT}
_NO_DESCENT = frozenset({K_SIZEOF, K_DECL_REF, K_INT_LIT, K_FLOAT_LIT, K_STRING_LIT,
                         K_CHAR_LIT, K_TYPE_REF, K_MEMBER_REF, K_LABEL_REF})
_TRANSPARENT_CALLS = {"__builtin_expect", "__builtin_expect_with_probability",
                      "__builtin_constant_p"}

_lib: ctypes.CDLL | None = None
_index: ci.Index | None = None


def _load() -> ctypes.CDLL:
    global _lib
    if _lib is not None:
        return _lib
    lib = ctypes.CDLL(ci.conf.lib._name)
    cur, loc, rng, s = ci.Cursor, ci.SourceLocation, ci.SourceRange, _CXString
    protos = {
        "clang_getCursorLocation": (loc, [cur]),
        "clang_getCursorExtent": (rng, [cur]),
        "clang_getRangeStart": (loc, [rng]),
        "clang_getRangeEnd": (loc, [rng]),
        "clang_getFileLocation": (None, [loc, POINTER(c_void_p), POINTER(c_uint),
                                         POINTER(c_uint), POINTER(c_uint)]),
        "clang_getCursorReferenced": (cur, [cur]),
        "clang_getCursorSemanticParent": (cur, [cur]),
        "clang_getCursorBinaryOperatorKind": (c_int, [cur]),
        "clang_getCursorUnaryOperatorKind": (c_int, [cur]),
        "clang_Cursor_Evaluate": (c_void_p, [cur]),
        "clang_EvalResult_getKind": (c_int, [c_void_p]),
        "clang_EvalResult_getAsLongLong": (c_longlong, [c_void_p]),
        "clang_EvalResult_dispose": (None, [c_void_p]),
        "clang_Location_isFromMainFile": (c_int, [loc]),
        "clang_isCursorDefinition": (c_uint, [cur]),
        "clang_getCursorLinkage": (c_int, [cur]),
        "clang_Cursor_getVarDeclInitializer": (cur, [cur]),
        "clang_Cursor_isAnonymousRecordDecl": (c_uint, [cur]),
        "clang_Cursor_isFunctionInlined": (c_uint, [cur]),
        "clang_getCursor": (cur, [c_void_p, loc]),
        "clang_getLocationForOffset": (loc, [c_void_p, c_void_p, c_uint]),
        "clang_getFileName": (s, [c_void_p]),
        "clang_getDiagnosticSpelling": (s, [c_void_p]),
        "clang_getFile": (c_void_p, [c_void_p, ctypes.c_char_p]),
        "clang_getCursorUSR": (s, [cur]),
        "clang_getCursorSpelling": (s, [cur]),
        "clang_getTypeSpelling": (s, [ci.Type]),
        "clang_getCursorType": (ci.Type, [cur]),
        "clang_getCanonicalType": (ci.Type, [ci.Type]),
        "clang_getPointeeType": (ci.Type, [ci.Type]),
        "clang_getElementType": (ci.Type, [ci.Type]),
        "clang_getTypeDeclaration": (cur, [ci.Type]),
        "clang_getCursorResultType": (ci.Type, [cur]),
        "clang_getCString": (ctypes.c_char_p, [_CXString]),
        "clang_disposeString": (None, [_CXString]),
        "clang_visitChildren": (c_uint, [cur, ci.callbacks["cursor_visit"], ci.py_object]),
    }
    for name, (restype, argtypes) in protos.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    _lib = lib
    return lib


class _CXString(ctypes.Structure):
    _fields_ = [("data", c_void_p), ("flags", c_uint)]


def _s(cx: _CXString) -> str:
    lib = _lib
    raw = lib.clang_getCString(cx)
    lib.clang_disposeString(cx)
    # surrogateescape, as os.fsdecode: a file name that is not UTF-8 keeps its bytes and
    # stays equal to the path the compile database gave
    return raw.decode("utf-8", "surrogateescape") if raw else ""


def _null(cursor: ci.Cursor) -> bool:
    return 70 <= cursor._kind_id <= 73  # CXCursor_FirstInvalid..LastInvalid


def _children(cursor: ci.Cursor, kinds: frozenset[int]) -> list[ci.Cursor]:
    """Direct children of the given kinds, from one C-driven visit."""
    out: list[ci.Cursor] = []

    def visit(child: ci.Cursor, _parent: ci.Cursor, _data: object) -> int:
        if child._kind_id in kinds:
            out.append(child)
        return 1  # CXChildVisit_Continue

    _load().clang_visitChildren(cursor, ci.callbacks["cursor_visit"](visit), None)
    return out


class _Node:
    """A cursor with its children, built once per function body."""

    __slots__ = ("c", "k", "kids", "i")

    def __init__(self, c: ci.Cursor, k: int, i: int) -> None:
        self.c = c
        self.k = k
        self.kids: list[_Node] = []
        self.i = i  # preorder serial: source order of calls, assigns, returns


def _tree(cursor: ci.Cursor) -> _Node:
    """The cursor's subtree in one C-driven visit.  A cursor's raw bytes identify it: the
    parent handed to the callback is byte-identical to the cursor visited before."""
    root = _Node(cursor, cursor._kind_id, 0)
    keys: list[bytes] = [bytes(cursor)]
    nodes: list[_Node] = [root]
    serial = [0]

    def visit(child: ci.Cursor, parent: ci.Cursor, _data: object) -> int:
        pkey = bytes(parent)
        while len(keys) > 1 and keys[-1] != pkey:
            keys.pop()
            nodes.pop()
        serial[0] += 1
        k = child._kind_id
        node = _Node(child, k, serial[0])
        nodes[-1].kids.append(node)
        if k in _NO_DESCENT:
            return 1  # a leaf, or sizeof's unevaluated operand: nothing to walk below
        keys.append(bytes(child))
        nodes.append(node)
        return 2

    _load().clang_visitChildren(cursor, ci.callbacks["cursor_visit"](visit), None)
    return root


# ---------------------------------------------------------------------------------------
# Per-TU extraction


class _Source:
    """One file's bytes and line index, for text slices and macro scans."""

    def __init__(self, path: str, unsaved: bytes | None = None) -> None:
        if unsaved is not None:
            self.data = unsaved
        else:
            try:
                with open(path, "rb") as fh:
                    self.data = fh.read()
            except OSError:
                self.data = b""
        self.text = self.data.decode("latin-1")  # 1 char per byte: offsets stay valid
        self.lines = LineIndex(self.data)

    def slice(self, start: int, end: int) -> str:
        raw = self.data[start:end].decode("utf-8", "replace")
        return " ".join(raw.split())[:TEXT_LIMIT]


class _TU:
    def __init__(self, tu: ci.TranslationUnit, task: ParseTask) -> None:
        self.tu = tu
        self.task = task
        self.lib = _load()
        self.macro_names = frozenset(task.macros)
        self.notes: list[Notification] = []
        self._names: dict[int, str] = {}
        self._dirs: dict[str, str] = {}
        self._sources: dict[str, _Source] = {}
        self._unsaved = {os.path.realpath(p): data for p, data in task.unsaved}
        self._usrs: dict[int, str] = {}
        self._type_spellings: dict[int, str] = {}
        self._decl_names: dict[int, str] = {}
        self._field_records: dict[int, str | None] = {}
        self._type_records: dict[int, str | None] = {}
        self._record_fields: dict[str, list[str]] = {}
        self._f = c_void_p()
        self._fast: tuple[int | None, int, int] = (None, 1, 0)
        self._fast_lines = LineIndex(b"")
        self._line, self._col, self._off = c_uint(), c_uint(), c_uint()

    # -- files and positions

    def file_name(self, ptr: int | None) -> str:
        if not ptr:
            return ""
        name = self._names.get(ptr)
        if name is None:
            raw = _s(self.lib.clang_getFileName(ptr))
            name = self._realpath(raw) if raw else ""
            self._names[ptr] = name
        return name

    def _realpath(self, raw: str) -> str:
        """realpath with the directory part cached: headers share few directories."""
        head, tail = os.path.split(os.path.join(self.task.directory, raw))
        real = self._dirs.get(head)
        if real is None:
            real = self._dirs[head] = os.path.realpath(head)
        path = os.path.join(real, tail)
        return os.path.realpath(path) if os.path.islink(path) else path

    def source(self, path: str) -> _Source:
        src = self._sources.get(path)
        if src is None:
            src = self._sources[path] = _Source(path, self._unsaved.get(path))
        return src

    def focus(self, f: int | None, raw: int, offset: int, size: int) -> None:
        """Decode locations in file `f` arithmetically from now on.  A file location's raw
        encoding is its FileID's base plus the byte offset, so one known (raw, offset)
        pair gives the base; macro locations (bit 31) still go through libclang."""
        self._fast = (f, raw - offset, raw - offset + size) \
            if f and not raw & _MACRO_BIT and raw >= offset else (None, 1, 0)

    def _raw_pos(self, sl: ci.SourceLocation) -> tuple[int | None, int, int, int]:
        self.lib.clang_getFileLocation(sl, byref(self._f), byref(self._line),
                                       byref(self._col), byref(self._off))
        return self._f.value, self._line.value, self._col.value, self._off.value

    def offset(self, raw: int, sl: Callable[[], ci.SourceLocation]
               ) -> tuple[int | None, int]:
        """(file pointer, offset) of a raw location; `sl` builds the slow-path location."""
        f, lo, hi = self._fast
        if lo <= raw <= hi:
            return f, raw - lo
        f, _, _, off = self._raw_pos(sl())
        return f, off

    def pos(self, sl: ci.SourceLocation) -> tuple[int | None, int, int, int]:
        """(file pointer, line, column, offset) of the file location of `sl`."""
        f, lo, hi = self._fast
        raw = sl.int_data
        if lo <= raw <= hi:
            line, col = self._fast_lines.position(raw - lo)
            return f, line, col, raw - lo
        return self._raw_pos(sl)

    def loc(self, c: ci.Cursor) -> Location:
        f, line, col, _ = self.pos(self.lib.clang_getCursorLocation(c))
        return Location(self.file_name(f), line, col)

    def span(self, c: ci.Cursor) -> tuple[int | None, int, int]:
        """(file pointer, start offset, end offset) of the cursor's extent, or offsets -1
        when the ends lie in different files."""
        rng = self.lib.clang_getCursorExtent(c)
        f, lo, hi = self._fast
        start, end = rng.begin_int_data, rng.end_int_data
        if lo <= start <= hi and lo <= end <= hi:
            return f, start - lo, end - lo
        lib = self.lib
        f, _, _, start = self._raw_pos(lib.clang_getRangeStart(rng))
        f2, _, _, end = self._raw_pos(lib.clang_getRangeEnd(rng))
        if f != f2 or end < start:
            return f, -1, -1
        return f, start, end

    def text(self, c: ci.Cursor) -> str:
        f, start, end = self.span(c)
        if not f or start < 0:
            return ""
        return self.source(self.file_name(f)).slice(start, end)

    # -- declarations

    def usr(self, decl: ci.Cursor) -> str:
        key = decl.data[0]
        usr = self._usrs.get(key)
        if usr is None:
            usr = self._usrs[key] = _s(self.lib.clang_getCursorUSR(decl))
        return usr

    def spelling(self, c: ci.Cursor) -> str:
        return _s(self.lib.clang_getCursorSpelling(c))

    def type_of(self, c: ci.Cursor) -> str:
        return self.type_spelling(self.lib.clang_getCursorType(c))

    def type_spelling(self, t: ci.Type) -> str:
        """Printing a type is costly in clang; a QualType's pointer identifies it."""
        key = t.data[0]
        spelling = self._type_spellings.get(key)
        if spelling is None:
            spelling = self._type_spellings[key] = _s(self.lib.clang_getTypeSpelling(t))
        return spelling

    def decl_name(self, ref: ci.Cursor) -> str:
        key = ref.data[0]
        name = self._decl_names.get(key)
        if name is None:
            name = self._decl_names[key] = self.spelling(ref)
        return name

    def referenced(self, c: ci.Cursor) -> ci.Cursor | None:
        ref = self.lib.clang_getCursorReferenced(c)
        return None if _null(ref) else ref

    def field_record(self, fdecl: ci.Cursor) -> str | None:
        """`struct X` declaring field `fdecl`; anonymous struct/union members resolve to
        the named record that contains them."""
        key = fdecl.data[0]
        if key in self._field_records:
            return self._field_records[key]
        lib = self.lib
        parent = lib.clang_getCursorSemanticParent(fdecl)
        while lib.clang_Cursor_isAnonymousRecordDecl(parent):
            up = lib.clang_getCursorSemanticParent(parent)
            if up._kind_id not in (K_STRUCT, K_UNION):
                break
            parent = up
        record = None
        if parent._kind_id in (K_STRUCT, K_UNION):
            record = self.type_of(parent)
        self._field_records[key] = record
        return record

    def type_record(self, t: ci.Type) -> str | None:
        """Record type behind a (pointer to, array of) record type: `struct vmem_altmap`."""
        lib = self.lib
        key = t.data[0]
        if key in self._type_records:
            return self._type_records[key]
        record = None
        for _ in range(8):
            t = lib.clang_getCanonicalType(t)
            if t.kind == ci.TypeKind.POINTER:
                t = lib.clang_getPointeeType(t)
            elif t.kind in (ci.TypeKind.CONSTANTARRAY, ci.TypeKind.INCOMPLETEARRAY):
                t = lib.clang_getElementType(t)
            else:
                break
        if t.kind == ci.TypeKind.RECORD:
            decl = lib.clang_getTypeDeclaration(t)
            record = self.type_of(decl)
        self._type_records[key] = record
        return record

    def record_fields(self, record: str, t: ci.Type) -> list[str]:
        """Field names of a record in declaration order, for positional initialisers."""
        if record not in self._record_fields:
            decl = self.lib.clang_getTypeDeclaration(self.lib.clang_getCanonicalType(t))
            self._record_fields[record] = [
                self.spelling(c) for c in _children(decl, frozenset({K_FIELD}))]
        return self._record_fields[record]

    def constant(self, c: ci.Cursor) -> int | None:
        """Integer value of a constant expression, else None."""
        lib = self.lib
        res = lib.clang_Cursor_Evaluate(c)
        if not res:
            return None
        try:
            return lib.clang_EvalResult_getAsLongLong(res) \
                if lib.clang_EvalResult_getKind(res) == 1 else None  # CXEval_Int
        finally:
            lib.clang_EvalResult_dispose(res)

    # -- the TU

    def run(self) -> tuple[list[Function], list[FnPtrStore]]:
        functions: list[Function] = []
        stores: list[FnPtrStore] = []
        lib = self.lib
        seen: set[str] = set()
        is_main = self._main_file_test()
        for c in _children(self.tu.cursor, frozenset({K_FUNCTION, K_VAR})):
            if c._kind_id == K_VAR:
                if is_main(c):
                    stores.extend(self._guarded(self._global_stores, c, []))
                continue
            if not lib.clang_isCursorDefinition(c):
                continue
            main = is_main(c)
            if not main:
                usr = self.usr(c)
                if usr in self.task.skip_usrs or usr in seen:
                    continue
                seen.add(usr)
            walked = self._guarded(lambda f, m=main: _FunctionWalker(self, f, not m).run(), c,
                                   None)
            if walked is not None:
                functions.append(walked[0])
                stores.extend(walked[1])
        return functions, stores

    def _guarded(self, extract: Callable[[ci.Cursor], Any], c: ci.Cursor, fallback: Any
                 ) -> Any:
        """A frontend bug (or a RecursionError) costs one declaration, not the TU."""
        try:
            result = extract(c)
            return list(result) if isinstance(result, Iterator) else result
        except Exception as exc:
            loc = self.loc(c)
            self.notes.append(Notification(
                Level.ERROR, f"kmeminit frontend failed on {self.spelling(c)}: "
                f"{type(exc).__name__}: {exc}", loc.file, loc.line))
            return fallback

    def _main_file_test(self) -> Callable[[ci.Cursor], bool]:
        """Is a top-level cursor in the main file?  Decided from the raw location where
        possible (see `focus`): thousands of header declarations pass through here."""
        lib = self.lib
        path = os.path.realpath(os.path.join(self.task.directory, self.task.file))
        fptr = lib.clang_getFile(self.tu.obj, os.fsencode(path))
        size = len(self.source(self.file_name(fptr)).data) if fptr else -1
        lo = lib.clang_getLocationForOffset(self.tu.obj, fptr, 0).int_data if fptr else 0
        hi = lo + size if not lo & _MACRO_BIT else -1

        def is_main(c: ci.Cursor) -> bool:
            sl = lib.clang_getCursorLocation(c)
            raw = sl.int_data
            if raw & _MACRO_BIT:
                return bool(lib.clang_Location_isFromMainFile(sl))
            return lo <= raw <= hi
        return is_main

    def _global_stores(self, var: ci.Cursor) -> Iterator[FnPtrStore]:
        if _null(self.lib.clang_Cursor_getVarDeclInitializer(var)):
            return
        root = _tree(var)
        init = next((n for n in reversed(root.kids) if n.k == K_INIT_LIST), None)
        if init is None:
            # `static online_page_callback_t online_page_callback = generic_online_page;`
            target = self.function_ref(root.kids[-1]) if root.kids else None
            if target is not None:
                yield FnPtrStore(GLOBAL_FP, self.usr(var), target[0], target[1],
                                 self.loc(root.kids[-1].c))
            return
        for record, fld, value in self.init_items(init):
            target = self.function_ref(value)
            if record and fld and target:
                yield FnPtrStore(record, fld, target[0], target[1], self.loc(value.c))

    def init_items(self, init: _Node) -> Iterator[tuple[str | None, str | None, _Node]]:
        """(record, field, value) for each leaf of a (nested) brace initialiser."""
        lib = self.lib
        t = lib.clang_getCursorType(init.c)
        record = self.type_record(t) if t.kind == ci.TypeKind.RECORD or \
            lib.clang_getCanonicalType(t).kind == ci.TypeKind.RECORD else None
        position = 0
        for kid in init.kids:
            fld: str | None = None
            rec = record
            value = kid
            designators = [d for d in kid.kids[:-1] if d.k == K_MEMBER_REF] \
                if kid.k == K_UNEXPOSED_EXPR and len(kid.kids) >= 2 else []
            if designators:
                ref = self.referenced(designators[-1].c)
                fld = self.spelling(designators[-1].c)
                rec = self.field_record(ref) if ref is not None else record
                value = kid.kids[-1]
                if record and rec == record:
                    names = self.record_fields(record, t)
                    position = names.index(fld) + 1 if fld in names else position
            elif record:
                names = self.record_fields(record, t)
                fld = names[position] if position < len(names) else None
                position += 1
            stripped = _strip(value)
            if stripped.k == K_INIT_LIST:
                yield from self.init_items(stripped)
            else:
                yield rec, fld, value

    def function_ref(self, n: _Node) -> tuple[str, str] | None:
        """(name, usr) when `n` designates a function: `f` or `&f`."""
        n = _strip(n)
        if n.k == K_UNARY and n.kids and \
                self.lib.clang_getCursorUnaryOperatorKind(n.c) == UOP_ADDR:
            n = _strip(n.kids[0])
        if n.k != K_DECL_REF:
            return None
        ref = self.referenced(n.c)
        if ref is None or ref._kind_id != K_FUNCTION:
            return None
        return self.spelling(n.c), self.usr(ref)


def _strip(n: _Node) -> _Node:
    """Look through parentheses, implicit and explicit casts."""
    while True:
        if (n.k == K_UNEXPOSED_EXPR or n.k == K_PAREN) and len(n.kids) == 1:
            n = n.kids[0]
        elif n.k == K_CAST and n.kids and n.kids[-1].k != K_TYPE_REF:
            n = n.kids[-1]
        else:
            return n


# ---------------------------------------------------------------------------------------
# Per-function walk: facts and CFG in one pass


@dataclass
class _PendingMacro:
    use: MacroUse
    start: int
    end: int


class _FunctionWalker:
    def __init__(self, x: _TU, fn: ci.Cursor, from_header: bool) -> None:
        self.x = x
        self.lib = x.lib
        self.fn = fn
        self.from_header = from_header
        self.name = x.spelling(fn)
        self.cfg = CFGBuilder()
        self.params: dict[str, int] = {}
        # (preorder serial, CallSite / Assign / Return fields after `index`)
        self.calls: list[tuple[int, tuple]] = []
        self.assigns: list[tuple[int, tuple]] = []
        self.returns: list[tuple[int, tuple]] = []
        self.stores: list[FnPtrStore] = []
        self.macros: list[MacroUse] = []
        self.pending: list[_PendingMacro] = []
        self.macro_ranges: list[tuple[int, int, str]] = []
        self.seen_calls: set[int] = set()
        self.texts: dict[int, str] = {}  # by node serial: call sites are also values
        self.switches: list[tuple[int, str, list[bool]]] = []
        self.depth = 0
        self.flattened = False
        self.file_ptr: int | None = None

    # -- driver

    def run(self) -> tuple[Function, list[FnPtrStore]]:
        x, fn = self.x, self.fn
        root = _tree(fn)
        x.focus(None, 0, 0, 0)
        rng = self.lib.clang_getCursorExtent(fn)
        f, start, end = x.span(fn)
        self.file_ptr = f
        path = x.file_name(f)
        src = x.source(path)
        if start >= 0:
            x.focus(f, rng.begin_int_data, start, len(src.data))
            x._fast_lines = src.lines
        name_off = x.pos(self.lib.clang_getCursorLocation(fn))[3]
        params = self._params(root)
        if start >= 0:
            self._find_macros(src, path, start, end)
        body = next((n for n in root.kids if n.k == K_COMPOUND), None)
        if body is not None:
            self._stmt(body)
        live = self.cfg.live_events()
        calls = _live(self.calls, EventKind.CALL, live)
        assigns = _live(self.assigns, EventKind.ASSIGN, live)
        returns = _live(self.returns, EventKind.RETURN, live)
        remap = {
            EventKind.CALL: {s: i for i, (s, _) in enumerate(calls)},
            EventKind.ASSIGN: {s: i for i, (s, _) in enumerate(assigns)},
            EventKind.RETURN: {s: i for i, (s, _) in enumerate(returns)},
        }
        blocks = self.cfg.finalise(remap)
        line_start, line_end = (src.lines.position(start)[0], src.lines.position(end)[0]) \
            if start >= 0 else (x.loc(fn).line,) * 2
        sections = section_markers(src.text[start:name_off], self.x.task.section_markers) \
            if 0 <= start <= name_off else ()
        function = Function(
            usr=x.usr(fn), name=self.name, file=path, line=line_start, end_line=line_end,
            linkage="internal" if self.lib.clang_getCursorLinkage(fn) == LINKAGE_INTERNAL
            else "external",
            return_type=x.type_spelling(self.lib.clang_getCursorResultType(fn)),
            sections=sections,
            inline=bool(self.lib.clang_Cursor_isFunctionInlined(fn)),
            from_header=self.from_header,
            params=params,
            calls=tuple(CallSite(i, *c) for i, (_, c) in enumerate(calls)),
            macros=tuple(self.macros),
            assigns=tuple(Assign(i, *a) for i, (_, a) in enumerate(assigns)),
            returns=tuple(Return(i, *r) for i, (_, r) in enumerate(returns)),
            blocks=blocks,
        )
        return function, self.stores

    def _params(self, root: _Node) -> tuple[Param, ...]:
        out = []
        x = self.x
        for n in root.kids:
            if n.k != K_PARM:
                continue
            name = x.spelling(n.c)
            t = self.lib.clang_getCursorType(n.c)
            out.append(Param(len(out), name, x.type_spelling(t),
                             x.type_record(t)))
            if name:
                self.params[name] = len(out) - 1
        return tuple(out)

    def _find_macros(self, src: _Source, path: str, start: int, end: int) -> None:
        found = macro_uses(src.text[start:end], self.x.macro_names)
        if not found:
            return
        x, lib = self.x, self.lib
        fptr = self.file_ptr
        for m in found:
            at = start + m.start
            c = lib.clang_getCursor(x.tu.obj, lib.clang_getLocationForOffset(x.tu.obj, fptr, at))
            if not self._active_macro(c, m.name):
                continue
            line, col = src.lines.position(at)
            eline, ecol = src.lines.position(start + m.end)
            use = MacroUse(
                index=len(self.macros), name=m.name,
                location=Location(path, line, col, eline, ecol),
                args=tuple(" ".join(a.split()) for a, _ in m.args),
                arg_types=tuple(self._arg_type(start + off, start + m.end)
                                for _, off in m.args),
                text=src.slice(at, start + m.end),
            )
            self.macros.append(use)
            self.macro_ranges.append((at, start + m.end, m.name))
            self.pending.append(_PendingMacro(use, at, start + m.end))

    def _active_macro(self, c: ci.Cursor, name: str) -> bool:
        """The name really expanded as a macro here: it is not in a region the
        preprocessor skipped, and not a call of a function of the same name."""
        k = c._kind_id
        if _null(c) or k in (K_COMPOUND, K_FUNCTION):
            return False
        if k == K_DECL_REF:
            ref = self.x.referenced(c)
            if ref is not None and ref._kind_id == K_FUNCTION and self.x.spelling(c) == name:
                return False
        return True

    def _arg_type(self, offset: int, limit: int) -> str:
        lib, x = self.lib, self.x
        c = lib.clang_getCursor(x.tu.obj, lib.clang_getLocationForOffset(
            x.tu.obj, self.file_ptr, offset))
        if _null(c) or not (100 <= c._kind_id < 200 or c._kind_id == K_TYPE_REF):
            return ""
        f, start, _ = x.span(c)
        if f != self.file_ptr or not offset <= start < limit:
            return ""
        return x.type_of(c)

    def _macro_for(self, f: int | None, offset: int) -> str | None:
        """Innermost configured macro instantiation containing `offset`."""
        best: tuple[int, str] | None = None
        if f == self.file_ptr:
            for start, end, name in self.macro_ranges:
                if start <= offset < end and (best is None or start >= best[0]):
                    best = (start, name)
        return best[1] if best else None

    def _emit_macros(self, n: _Node) -> None:
        """Place MACRO events of instantiations inside statement `n`, before its calls."""
        if not self.pending:
            return
        f, start, end = self.x.span(n.c)
        if f != self.file_ptr or start < 0:
            return
        keep = []
        for p in self.pending:
            if start <= p.start < max(end, start + 1):
                self.cfg.append(EventKind.MACRO, p.use.index)
            else:
                keep.append(p)
        self.pending = keep

    # -- statements

    def _stmt(self, n: _Node) -> None:
        if self.depth > MAX_DEPTH:
            self._flat(n)
            return
        self.depth += 1  # no try/finally: after an exception the walker is discarded
        handler = _STMT.get(n.k)
        if handler is not None:
            handler(self, n)
        else:
            self._emit_macros(n)
            self._expr(n)
        self.depth -= 1

    def _compound(self, n: _Node) -> None:
        for kid in n.kids:
            self._stmt(kid)

    def _decl_stmt(self, n: _Node) -> None:
        self._emit_macros(n)
        for kid in n.kids:
            if kid.k == K_VAR:
                self._var(kid)

    def _var(self, n: _Node) -> None:
        if _null(self.lib.clang_Cursor_getVarDeclInitializer(n.c)):
            return
        init = next((k for k in reversed(n.kids) if 100 <= k.k < 200), None)
        if init is None:
            return
        self._expr(init)
        name = self.x.spelling(n.c)
        local = Value(ValueKind.LOCAL, name, self.x.type_of(n.c), name=name)
        loc = self.x.loc(n.c)
        if _strip(init).k == K_INIT_LIST:
            for record, fld, value in self.x.init_items(_strip(init)):
                if fld is None:
                    continue
                target = Value(ValueKind.FIELD, f"{name}.{fld}", record=record, field=fld,
                               base=local)
                self._record_assign(value.i, target, value, self.x.loc(value.c))
            return
        self._record_assign(n.i, local, init, loc)

    def _record_assign(self, serial: int, target: Value, value: _Node, loc: Location) -> None:
        self.assigns.append((serial, (target, self._value(value), loc)))
        self.cfg.append(EventKind.ASSIGN, serial)
        if target.kind is ValueKind.FIELD and target.record and target.field:
            fn = self.x.function_ref(value)
            if fn is not None:
                self.stores.append(FnPtrStore(target.record, target.field, fn[0], fn[1],
                                              loc, self.name))
        elif target.kind is ValueKind.GLOBAL and target.usr:
            fn = self.x.function_ref(value)
            if fn is not None:
                self.stores.append(FnPtrStore(GLOBAL_FP, target.usr, fn[0], fn[1], loc,
                                              self.name))

    def _if(self, n: _Node) -> None:
        if len(n.kids) < 2:
            self._expr(n)
            return
        cfg = self.cfg
        then_b, after = cfg.new_block(), cfg.new_block()
        else_b = cfg.new_block() if len(n.kids) > 2 else after
        self._emit_macros(n.kids[0])
        self._cond(n.kids[0], then_b, else_b)
        cfg.current = then_b
        self._stmt(n.kids[1])
        cfg.jump(after)
        if len(n.kids) > 2:
            cfg.current = else_b
            self._stmt(n.kids[2])
            cfg.jump(after)
        cfg.current = after

    def _while(self, n: _Node) -> None:
        if len(n.kids) < 2:
            self._expr(n)
            return
        self._loop(n.kids[0], None, n.kids[1])

    def _for(self, n: _Node) -> None:
        init, cond, inc, body = self._for_parts(n)
        if body is None:
            self._expr(n)
            return
        if init is not None:
            self._stmt(init)
        self._loop(cond, inc, body)

    def _loop(self, cond: _Node | None, inc: _Node | None, body: _Node) -> None:
        cfg = self.cfg
        head, body_b, after = cfg.new_block(), cfg.new_block(), cfg.new_block()
        cont = cfg.new_block() if inc is not None else head
        cfg.start(head)
        if cond is not None:
            self._emit_macros(cond)
            self._cond(cond, body_b, after)
        else:
            cfg.jump(body_b)
        cfg.current = body_b
        cfg.push_loop(after, cont)
        self._stmt(body)
        cfg.pop()
        if inc is not None:
            cfg.start(cont)
            self._emit_macros(inc)
            self._expr(inc)
        cfg.jump(head)
        cfg.current = after

    def _do(self, n: _Node) -> None:
        if len(n.kids) < 2:
            self._expr(n)
            return
        cfg = self.cfg
        body_b, cond_b, after = cfg.new_block(), cfg.new_block(), cfg.new_block()
        cfg.start(body_b)
        cfg.push_loop(after, cond_b)
        self._stmt(n.kids[0])
        cfg.pop()
        cfg.start(cond_b)
        self._emit_macros(n.kids[1])
        self._cond(n.kids[1], body_b, after)
        cfg.current = after

    def _for_parts(self, n: _Node) -> tuple[_Node | None, ...]:
        """(init, cond, inc, body): libclang omits absent parts, so place the present ones
        by the semicolons of the `for (;;)` header."""
        kids = n.kids
        if not kids:
            return None, None, None, None
        if len(kids) == 4:
            return kids[0], kids[1], kids[2], kids[3]
        if len(kids) == 1:
            return None, None, None, kids[0]
        slots = self._for_slots(n, kids[:-1])
        parts: list[_Node | None] = [None, None, None]
        for kid, slot in zip(kids[:-1], slots, strict=True):
            parts[slot] = kid
        return parts[0], parts[1], parts[2], kids[-1]

    def _for_slots(self, n: _Node, heads: list[_Node]) -> list[int]:
        x = self.x
        f, start, end = x.span(n.c)
        offsets = [x.span(k.c) for k in heads]
        if f and start >= 0 and all(o[0] == f and o[1] > start for o in offsets) \
                and len({o[1] for o in offsets}) == len(offsets):
            text = x.source(x.file_name(f)).text[start:end]
            semis = _header_semicolons(text)
            if len(semis) == 2:
                return [sum(o[1] - start > s for s in semis) for o in offsets]
        # From a macro body: a declaration or assignment first is the init; the rest
        # fill cond then inc.
        first = _strip(heads[0])
        if heads[0].k == K_DECL_STMT or (first.k == K_BINARY and self.lib.
                                         clang_getCursorBinaryOperatorKind(first.c)
                                         == OP_ASSIGN):
            return [0, 1, 2][:len(heads)]
        return [1, 2][:len(heads)]

    def _switch(self, n: _Node) -> None:
        if len(n.kids) < 2:
            self._expr(n)
            return
        cfg = self.cfg
        cond = n.kids[0]
        self._emit_macros(cond)
        self._expr(cond)
        dispatch = cfg.ensure_current()
        text = self.x.text(cond.c)
        after = cfg.new_block()
        has_default = [False]
        self.switches.append((dispatch, text, has_default))
        cfg.push_switch(after)
        cfg.current = None
        self._stmt(n.kids[-1])
        cfg.pop()
        self.switches.pop()
        cfg.jump(after)
        if not has_default[0]:
            cfg.edge(dispatch, after, text, "default")
        cfg.current = after

    def _case(self, n: _Node) -> None:
        if not self.switches or not n.kids:
            self._compound(n)
            return
        dispatch, text, has_default = self.switches[-1]
        if n.k == K_DEFAULT:
            has_default[0] = True
            branch = "default"
        else:
            values = [self.x.text(k.c) for k in n.kids[:-1]]
            branch = "case " + " ... ".join(values)
        block = self.cfg.new_block()
        self.cfg.edge(dispatch, block, text, branch)
        self.cfg.start(block)
        self._stmt(n.kids[-1])

    # Labels are keyed by their statement, not their name: GNU local labels (`__label__
    # __out;` in wait_event()) repeat the same name in every expansion.

    def _label(self, n: _Node) -> None:
        self.cfg.start(self.cfg.label(n.c.data[1]))
        if n.kids:
            self._stmt(n.kids[-1])

    def _goto(self, n: _Node) -> None:
        label = next((k for k in n.kids if k.k == K_LABEL_REF), None)
        target = self.x.referenced(label.c) if label is not None else None
        if target is None:
            self.cfg.jump(EXIT_BLOCK)
            return
        self.cfg.jump(self.cfg.label(target.data[1]))

    def _indirect_goto(self, n: _Node) -> None:
        self._expr(n)
        self.cfg.jump(EXIT_BLOCK)  # computed goto: targets unknown

    def _return(self, n: _Node) -> None:
        self._emit_macros(n)
        value = None
        if n.kids:
            self._expr(n.kids[0])
            value = self._value(n.kids[0])
        self.returns.append((n.i, (value, self.x.loc(n.c))))
        self.cfg.append(EventKind.RETURN, n.i)
        self.cfg.return_()

    # -- expressions

    def _expr(self, n: _Node) -> None:
        if self.depth > MAX_DEPTH:
            self._flat(n)
            return
        self.depth += 1
        k = n.k
        if k == K_CALL:
            self._call(n)
        elif k == K_BINARY:
            self._binary(n)
        elif k == K_COMPOUND_ASSIGN:
            for kid in n.kids:
                self._expr(kid)
            if len(n.kids) == 2:
                self._assign(n, n.kids[0], n.kids[1], compound=True)
        elif k == K_CONDITIONAL and len(n.kids) == 3:
            self._conditional(n)
        elif k == K_STMT_EXPR:
            for kid in n.kids:
                self._stmt(kid)
        else:
            for kid in n.kids:
                if kid.kids:  # leaves (names, literals) hold no events
                    self._expr(kid)
        self.depth -= 1

    def _binary(self, n: _Node) -> None:
        op = self.lib.clang_getCursorBinaryOperatorKind(n.c)
        if len(n.kids) != 2:
            for kid in n.kids:
                self._expr(kid)
        elif op == OP_LAND or op == OP_LOR:
            after = self.cfg.new_block()
            self._cond(n, after, after)
            self.cfg.current = after
        elif op == OP_ASSIGN:
            self._expr(n.kids[1])
            self._expr(n.kids[0])
            self._assign(n, n.kids[0], n.kids[1])
        else:
            self._expr(n.kids[0])
            self._expr(n.kids[1])

    def _assign(self, n: _Node, lhs: _Node, rhs: _Node, compound: bool = False) -> None:
        target = self._value(lhs)
        if compound:
            value = Value(ValueKind.OTHER, self.x.text(n.c), self.x.type_of(n.c))
            self.assigns.append((n.i, (target, value, self.x.loc(n.c))))
            self.cfg.append(EventKind.ASSIGN, n.i)
            return
        self._record_assign(n.i, target, rhs, self.x.loc(n.c))

    def _conditional(self, n: _Node) -> None:
        cfg = self.cfg
        t, f, after = cfg.new_block(), cfg.new_block(), cfg.new_block()
        self._cond(n.kids[0], t, f)
        cfg.current = t
        self._expr(n.kids[1])
        cfg.jump(after)
        cfg.current = f
        self._expr(n.kids[2])
        cfg.jump(after)
        cfg.current = after

    def _cond(self, n: _Node, t: int, f: int) -> None:
        """Evaluate condition `n`, branching to `t` / `f`; `&&` and `||` short-circuit."""
        cfg = self.cfg
        s = _strip(n)
        if s.k == K_BINARY and len(s.kids) == 2 and self.depth <= MAX_DEPTH:
            op = self.lib.clang_getCursorBinaryOperatorKind(s.c)
            if op == OP_LAND or op == OP_LOR:
                mid = cfg.new_block()
                self.depth += 1
                if op == OP_LAND:
                    self._cond(s.kids[0], mid, f)
                else:
                    self._cond(s.kids[0], t, mid)
                cfg.current = mid
                self._cond(s.kids[1], t, f)
                self.depth -= 1
                return
        value = self.x.constant(s.c) if s.k != K_CALL else None
        if value is not None:
            cfg.jump(t if value else f)  # `while (0)`, IS_ENABLED(): one way only
            return
        self._expr(n)
        cfg.branch(self._text(n), t, f)

    def _call(self, n: _Node) -> None:
        key = n.c.data[1]
        if key in self.seen_calls or not n.kids:
            for kid in n.kids:
                self._expr(kid)
            return
        self.seen_calls.add(key)
        callee_node, args = n.kids[0], n.kids[1:]
        callee = self._callee(callee_node)
        if callee[0] in _TRANSPARENT_CALLS:
            for a in args:
                self._expr(a)
            return
        if _strip(callee_node).k != K_DECL_REF:
            self._expr(callee_node)
        for a in args:
            self._expr(a)
        f, line, col, off = self.x.pos(self.lib.clang_getCursorLocation(n.c))
        site = (callee[0], callee[1], Location(self.x.file_name(f), line, col),
                tuple(self._value(a) for a in args), callee[2], callee[3], callee[4],
                self._text(n), self._macro_for(f, off) if self.macros else None)
        self.calls.append((n.i, site))
        self.cfg.append(EventKind.CALL, n.i)

    def _callee(self, n: _Node) -> tuple[str, str | None, bool, str | None, str | None]:
        """(name, usr, indirect, record, field) of a call's callee expression."""
        s = _strip(n)
        while s.k == K_UNARY and s.kids and \
                self.lib.clang_getCursorUnaryOperatorKind(s.c) == UOP_DEREF:
            s = _strip(s.kids[0])  # (*fp)(x)
        x = self.x
        if s.k == K_DECL_REF:
            ref = x.referenced(s.c)
            name = x.decl_name(ref) if ref is not None else x.spelling(s.c)
            if ref is not None and ref._kind_id == K_FUNCTION:
                return name, x.usr(ref), False, None, None
            if ref is not None and ref._kind_id == K_VAR and \
                    self.lib.clang_getCursorLinkage(ref) > 1:
                # a file-scope function pointer (`online_page_callback(page, order)`):
                # resolved through the functions stored into that variable
                return name, None, True, GLOBAL_FP, x.usr(ref)
            return name, None, True, None, None
        if s.k == K_MEMBER_EXPR:
            ref = x.referenced(s.c)
            fld = x.decl_name(ref) if ref is not None else x.spelling(s.c)
            return fld, None, True, x.field_record(ref) if ref is not None else None, fld
        return self._text(n), None, True, None, None

    def _flat(self, n: _Node) -> None:
        """Past MAX_DEPTH: record calls straight-line, without recursion or branching."""
        if not self.flattened:
            self.flattened = True
            loc = self.x.loc(n.c)
            self.x.notes.append(Notification(
                Level.NOTE, f"{self.name}: nesting deeper than {MAX_DEPTH}; "
                "events below it are treated as straight-line code", loc.file, loc.line))
        stack = [n]
        order: list[_Node] = []
        while stack:
            node = stack.pop()
            order.append(node)
            stack.extend(reversed(node.kids))
        for node in reversed(order):  # children before parents: evaluation order
            if node.k == K_CALL and node.kids and node.c.data[1] not in self.seen_calls:
                self.seen_calls.add(node.c.data[1])
                callee = self._callee(node.kids[0])
                f, line, col, _ = self.x.pos(self.lib.clang_getCursorLocation(node.c))
                self.calls.append((node.i, (
                    callee[0], callee[1], Location(self.x.file_name(f), line, col), (),
                    callee[2], callee[3], callee[4], self.x.text(node.c), None)))
                self.cfg.append(EventKind.CALL, node.i)

    # -- values

    def _text(self, n: _Node) -> str:
        text = self.texts.get(n.i)
        if text is None:
            text = self.texts[n.i] = self.x.text(n.c)
        return text

    def _value(self, n: _Node, depth: int = 0) -> Value:
        x = self.x
        text, typ = self._text(n), x.type_of(n.c)
        s = _strip(n)
        k = s.k
        if depth > MAX_VALUE_DEPTH:
            return Value(ValueKind.OTHER, text, typ)
        if k == K_GNU_NULL:
            return Value(ValueKind.NULL, text, typ)
        if k in _LITERALS:
            if k == K_INT_LIT and ("*" in typ or s is not n and
                                   "*" in x.type_of(_outer_cast(n).c)) \
                    and x.constant(s.c) == 0:
                return Value(ValueKind.NULL, text, typ)
            return Value(ValueKind.LITERAL, text, typ)
        if k == K_DECL_REF:
            return self._decl_value(s, text, typ, ValueKind.PARAM)
        if k == K_MEMBER_EXPR:
            return self._field_value(s, text, typ, ValueKind.FIELD, depth)
        if k == K_UNARY and s.kids and \
                self.lib.clang_getCursorUnaryOperatorKind(s.c) == UOP_ADDR:
            inner = _strip(s.kids[0])
            if inner.k == K_DECL_REF:
                return self._decl_value(inner, text, typ, ValueKind.ADDR_LOCAL)
            if inner.k == K_MEMBER_EXPR:
                return self._field_value(inner, text, typ, ValueKind.ADDR_FIELD, depth)
        if k == K_CALL and s.kids:
            callee = self._callee(s.kids[0])
            args = tuple(self._value(a, MAX_VALUE_DEPTH) for a in s.kids[1:]) \
                if depth == 0 else ()
            return Value(ValueKind.CALL, text, typ, name=callee[0], usr=callee[1], args=args)
        return Value(ValueKind.OTHER, text, typ)

    def _decl_value(self, s: _Node, text: str, typ: str, kind: ValueKind) -> Value:
        """A named declaration: `kind` is PARAM for a plain read, ADDR_LOCAL for `&x`."""
        x = self.x
        ref = x.referenced(s.c)
        addr = kind is ValueKind.ADDR_LOCAL
        if ref is None:
            return Value(ValueKind.OTHER, text, typ, name=x.spelling(s.c))
        name = x.decl_name(ref)
        rk = ref._kind_id
        if rk == K_ENUM_CONST:
            return Value(ValueKind.LITERAL, text, typ, name=name)
        if rk == K_PARM and name in self.params and not addr:
            return Value(ValueKind.PARAM, text, typ, param=self.params[name], name=name)
        if rk == K_FUNCTION or (rk == K_VAR and self.lib.clang_getCursorLinkage(ref) > 1):
            return Value(ValueKind.ADDR_GLOBAL if addr else ValueKind.GLOBAL, text, typ,
                         name=name, usr=x.usr(ref))
        if rk in (K_VAR, K_PARM):
            return Value(ValueKind.ADDR_LOCAL if addr else ValueKind.LOCAL, text, typ,
                         name=name)
        return Value(ValueKind.OTHER, text, typ, name=name)

    def _field_value(self, s: _Node, text: str, typ: str, kind: ValueKind,
                     depth: int) -> Value:
        x = self.x
        ref = x.referenced(s.c)
        base_node = s.kids[0] if s.kids else None
        while base_node is not None and _strip(base_node).k == K_MEMBER_EXPR and \
                _anonymous(x.spelling(_strip(base_node).c)):
            inner = _strip(base_node)  # implicit access to an anonymous struct/union member
            base_node = inner.kids[0] if inner.kids else None
        base = self._value(base_node, depth + 1) if base_node is not None else None
        return Value(kind, text, typ, record=x.field_record(ref) if ref is not None else None,
                     field=x.decl_name(ref) if ref is not None else x.spelling(s.c),
                     base=base)


def _anonymous(name: str) -> bool:
    """Spelling of an anonymous struct/union member: empty or `union page::(anonymous at
    ...)`."""
    return not name or "(anonymous" in name or "(unnamed" in name


def _outer_cast(n: _Node) -> _Node:
    """The innermost explicit cast above the literal `n` strips to: `(void *)0`."""
    last = n
    while True:
        if n.k == K_CAST:
            last = n
        if (n.k == K_UNEXPOSED_EXPR or n.k == K_PAREN) and len(n.kids) == 1:
            n = n.kids[0]
        elif n.k == K_CAST and n.kids and n.kids[-1].k != K_TYPE_REF:
            n = n.kids[-1]
        else:
            return last


def _first(pair: tuple[int, object]) -> int:
    return pair[0]


def _live(facts: list[tuple[int, tuple]], kind: EventKind,
          live: set[tuple[EventKind, int]]) -> list[tuple[int, tuple]]:
    """Facts whose event is reachable, in source (preorder) order: calls under `if (0)`
    or IS_ENABLED() of a disabled option are not calls in this configuration."""
    return sorted((f for f in facts if (kind, f[0]) in live), key=_first)


def _header_semicolons(text: str) -> list[int]:
    """Offsets of the two `;` separating the parts of a `for (...)` header."""
    depth = 0
    semis: list[int] = []
    for tok in lex(text):
        if tok.text in "([{" and tok.kind == "punct":
            depth += 1
        elif tok.text in ")]}" and tok.kind == "punct":
            depth -= 1
            if depth == 0:
                break
        elif tok.text == ";" and depth == 1:
            semis.append(tok.start)
    return semis


_STMT: dict[int, Callable[[_FunctionWalker, _Node], None]] = {
    K_COMPOUND: _FunctionWalker._compound,
    K_DECL_STMT: _FunctionWalker._decl_stmt,
    K_IF: _FunctionWalker._if,
    K_WHILE: _FunctionWalker._while,
    K_DO: _FunctionWalker._do,
    K_FOR: _FunctionWalker._for,
    K_SWITCH: _FunctionWalker._switch,
    K_CASE: _FunctionWalker._case,
    K_DEFAULT: _FunctionWalker._case,
    K_LABEL: _FunctionWalker._label,
    K_GOTO: _FunctionWalker._goto,
    K_INDIRECT_GOTO: _FunctionWalker._indirect_goto,
    K_RETURN: _FunctionWalker._return,
    K_BREAK: lambda w, n: w.cfg.break_(),
    K_CONTINUE: lambda w, n: w.cfg.continue_(),
    K_NULL_STMT: lambda w, n: None,
}


# ---------------------------------------------------------------------------------------
# Entry point

_FLAG = re.compile(r"'([^']+)'")
_FLAG_DIAGS = ("unknown argument", "unknown warning option", "is not supported",
               "argument unused during compilation", "unsupported option")


def parse_tu(task: ParseTask) -> TUFacts:
    """Facts for one TU.  Never raises for bad input: failures become notifications."""
    started = time.perf_counter()
    path = os.path.realpath(os.path.join(task.directory, task.file))
    global _index
    _load()
    if _index is None:
        _index = ci.Index.create()
    cwd = os.getcwd()
    try:
        os.chdir(task.directory)
        # -w: only errors are reported, and skipping warning analysis saves ~15% of the parse
        # bytes: cindex would encode str as strict UTF-8 and fail on non-UTF-8 names
        tu = _index.parse(os.fsencode(path), [os.fsencode(a) for a in (*task.args, "-w")],
                          unsaved_files=[(os.fsencode(n), c) for n, c in task.unsaved],
                          options=_PARSE_OPTIONS)
    except (ci.TranslationUnitLoadError, OSError) as exc:
        return TUFacts(path, notifications=(Notification(
            Level.ERROR, f"libclang could not parse the translation unit: {exc}", path),),
            parse_seconds=time.perf_counter() - started)
    finally:
        os.chdir(cwd)
    x = _TU(tu, task)
    notes = _diagnostics(tu, x)
    collecting = gc.isenabled()
    gc.disable()  # tens of thousands of acyclic ctypes objects: collections are pure cost
    try:
        functions, stores = x.run()
    finally:
        if collecting:
            gc.enable()
    return TUFacts(path, tuple(functions), tuple(stores), _includes(tu, x, path),
                   tuple(notes + x.notes), time.perf_counter() - started)


def _diagnostics(tu: ci.TranslationUnit, x: _TU) -> list[Notification]:
    out = []
    for d in tu.diagnostics:
        # through our own bindings: cindex decodes strictly, and a message or file name may
        # hold a name that is not UTF-8
        message = _s(x.lib.clang_getDiagnosticSpelling(d.ptr))
        f = d.location.file
        if f is None and any(s in message for s in _FLAG_DIAGS):
            flag = _FLAG.search(message)
            out.append(Notification(Level.NOTE, f"clang ignored command-line flag "
                                    f"{flag.group(1) if flag else ''}: {message}"))
        elif d.severity >= ci.Diagnostic.Error:
            name = (os.path.realpath(os.path.join(x.task.directory,
                                                  _s(x.lib.clang_getFileName(f.obj))))
                    if f else None)
            out.append(Notification(Level.ERROR, message, name,
                                    d.location.line if f else None))
    return out


_INCLUSION_VISITOR = ctypes.CFUNCTYPE(None, c_void_p, c_void_p, c_uint, c_void_p)


def _includes(tu: ci.TranslationUnit, x: _TU, main: str) -> tuple[str, ...]:
    files: set[int] = set()

    def visit(f: int, _stack: int, depth: int, _data: int) -> None:
        if depth:
            files.add(f)

    lib = x.lib
    lib.clang_getInclusions.argtypes = [c_void_p, _INCLUSION_VISITOR, c_void_p]
    lib.clang_getInclusions.restype = None
    lib.clang_getInclusions(tu.obj, _INCLUSION_VISITOR(visit), None)
    return tuple(sorted({x.file_name(f) for f in files} - {main, ""}))


__all__ = ["ParseTask", "frontend_options", "parse_tu"]
