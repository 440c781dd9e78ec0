"""One parsed translation unit, as the walkers query it.

`TU` answers position, declaration, type and record questions about cursors, and reads
brace initialisers and function references.  Answers are cached by clang's own identities
(a file pointer, a declaration's or a QualType's pointer): a kernel TU asks the same few
thousand questions many times over.  Locations in the function being walked are decoded
arithmetically (see `focus`), the rest through libclang.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from ctypes import byref, c_uint, c_void_p

from clang import cindex as ci

from kmeminit.analyzer.frontend.libclang import (
    K_DECL_REF,
    K_FIELD,
    K_FUNCTION,
    K_INIT_LIST,
    K_MEMBER_REF,
    K_STRUCT,
    K_UNARY,
    K_UNEXPOSED_EXPR,
    K_UNION,
    MACRO_BIT,
    UOP_ADDR,
    Node,
    children,
    is_null,
    load,
    strip,
    take_str,
)
from kmeminit.analyzer.frontend.source_text import LineIndex, Source
from kmeminit.analyzer.frontend.task import ParseTask
from kmeminit.analyzer.model import Location, Notification


class TU:
    """The parsed TU and the task it came from, with cached answers about its cursors."""

    def __init__(self, tu: ci.TranslationUnit, task: ParseTask) -> None:
        self.tu = tu
        self.task = task
        self.lib = load()
        self.macro_names = frozenset(task.macros)
        self.notes: list[Notification] = []
        self._names: dict[int, str] = {}
        self._dirs: dict[str, str] = {}
        self._sources: dict[str, Source] = {}
        self._unsaved = {os.path.realpath(p): data for p, data in task.unsaved}
        self._usrs: dict[int, str] = {}
        self._usr_decls: dict[str, ci.Cursor] = {}  # a declaration per USR handed out
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
            raw = take_str(self.lib.clang_getFileName(ptr))
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

    def source(self, path: str) -> Source:
        src = self._sources.get(path)
        if src is None:
            src = self._sources[path] = Source(path, self._unsaved.get(path))
        return src

    def focus(self, f: int | None, raw: int, offset: int, src: Source) -> None:
        """Decode locations in file `f` (read as `src`) arithmetically from now on.  A file
        location's raw encoding is its FileID's base plus the byte offset, so one known
        (raw, offset) pair gives the base; macro locations still go through libclang."""
        size = len(src.data)
        self._fast = (f, raw - offset, raw - offset + size) \
            if f and not raw & MACRO_BIT and raw >= offset else (None, 1, 0)
        self._fast_lines = src.lines

    def unfocus(self) -> None:
        self._fast = (None, 1, 0)

    def _raw_pos(self, sl: ci.SourceLocation) -> tuple[int | None, int, int, int]:
        self.lib.clang_getFileLocation(sl, byref(self._f), byref(self._line),
                                       byref(self._col), byref(self._off))
        return self._f.value, self._line.value, self._col.value, self._off.value

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

    def cursor_at(self, f: int | None, offset: int) -> ci.Cursor:
        """The innermost cursor at byte `offset` of file `f`."""
        lib, obj = self.lib, self.tu.obj
        return lib.clang_getCursor(obj, lib.clang_getLocationForOffset(obj, f, offset))

    # -- declarations

    def usr(self, decl: ci.Cursor) -> str:
        key = decl.data[0]
        usr = self._usrs.get(key)
        if usr is None:
            usr = self._usrs[key] = take_str(self.lib.clang_getCursorUSR(decl))
            self._usr_decls.setdefault(usr, decl)
        return usr

    def definition_of(self, usr: str) -> int | None:
        """The declaration pointer (`cursor.data[0]`) of the definition of the entity
        `usr` names, for a USR this TU handed out; None when the TU has no definition."""
        decl = self._usr_decls.get(usr)
        if decl is None:
            return None
        definition = self.lib.clang_getCursorDefinition(decl)
        return None if is_null(definition) else definition.data[0]

    def spelling(self, c: ci.Cursor) -> str:
        return take_str(self.lib.clang_getCursorSpelling(c))

    def type_of(self, c: ci.Cursor) -> str:
        return self.type_spelling(self.lib.clang_getCursorType(c))

    def type_spelling(self, t: ci.Type) -> str:
        """Printing a type is costly in clang; a QualType's pointer identifies it."""
        key = t.data[0]
        spelling = self._type_spellings.get(key)
        if spelling is None:
            spelling = self._type_spellings[key] = take_str(self.lib.clang_getTypeSpelling(t))
        return spelling

    def decl_name(self, ref: ci.Cursor) -> str:
        key = ref.data[0]
        name = self._decl_names.get(key)
        if name is None:
            name = self._decl_names[key] = self.spelling(ref)
        return name

    def referenced(self, c: ci.Cursor) -> ci.Cursor | None:
        ref = self.lib.clang_getCursorReferenced(c)
        return None if is_null(ref) else ref

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

    def _fields_of(self, record: str, t: ci.Type) -> list[str]:
        """Field names of a record in declaration order, for positional initialisers."""
        if record not in self._record_fields:
            decl = self.lib.clang_getTypeDeclaration(self.lib.clang_getCanonicalType(t))
            self._record_fields[record] = [
                self.spelling(c) for c in children(decl, frozenset({K_FIELD}))]
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

    # -- initialisers and function references

    def init_items(self, init: Node) -> Iterator[tuple[str | None, str | None, Node]]:
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
                    names = self._fields_of(record, t)
                    position = names.index(fld) + 1 if fld in names else position
            elif record:
                names = self._fields_of(record, t)
                fld = names[position] if position < len(names) else None
                position += 1
            stripped = strip(value)
            if stripped.k == K_INIT_LIST:
                yield from self.init_items(stripped)
            else:
                yield rec, fld, value

    def function_ref(self, n: Node) -> tuple[str, str] | None:
        """(name, usr) when `n` designates a function: `f` or `&f`."""
        n = strip(n)
        if n.k == K_UNARY and n.kids and \
                self.lib.clang_getCursorUnaryOperatorKind(n.c) == UOP_ADDR:
            n = strip(n.kids[0])
        if n.k != K_DECL_REF:
            return None
        ref = self.referenced(n.c)
        if ref is None or ref._kind_id != K_FUNCTION:
            return None
        return self.spelling(n.c), self.usr(ref)
