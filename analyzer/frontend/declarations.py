"""A TU's top-level declarations: which functions to walk, and file-scope pointer stores.

The declarations are enumerated in one C-driven visit.  Only function definitions of the
main file, and header functions not yet extracted this run (once per USR), are walked;
thousands of header declarations are skipped on their raw location alone.  File-scope
variables of the main file yield function-pointer stores (ops tables, callbacks).  A
frontend bug costs one declaration, reported as a notification, never the TU.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from clang import cindex as ci

from kmeminit.analyzer.frontend.function import FunctionWalker
from kmeminit.analyzer.frontend.libclang import (
    K_FUNCTION,
    K_INIT_LIST,
    K_VAR,
    MACRO_BIT,
    children,
    is_null,
    tree,
)
from kmeminit.analyzer.frontend.tu import TU
from kmeminit.analyzer.model import GLOBAL_FP, FnPtrStore, Function, Level, Notification


def walk_declarations(x: TU) -> tuple[list[Function], list[FnPtrStore]]:
    functions: list[Function] = []
    stores: list[FnPtrStore] = []
    lib = x.lib
    seen: set[str] = set()
    is_main = _main_file_test(x)
    for c in children(x.tu.cursor, frozenset({K_FUNCTION, K_VAR})):
        if c._kind_id == K_VAR:
            if is_main(c):
                stores.extend(_guarded(x, lambda v: _global_stores(x, v), c, []))
            continue
        if not lib.clang_isCursorDefinition(c):
            continue
        main = is_main(c)
        if not main:
            usr = x.usr(c)
            if usr in x.task.skip_usrs or usr in seen:
                continue
            seen.add(usr)
        walked = _guarded(x, lambda f, m=main: FunctionWalker(x, f, not m).run(), c, None)
        if walked is not None:
            functions.append(walked[0])
            stores.extend(walked[1])
    return functions, stores


def _guarded(x: TU, extract: Callable[[ci.Cursor], Any], c: ci.Cursor, fallback: Any) -> Any:
    """A frontend bug (or a RecursionError) costs one declaration, not the TU."""
    try:
        result = extract(c)
        return list(result) if isinstance(result, Iterator) else result
    except Exception as exc:
        loc = x.loc(c)
        x.notes.append(Notification(
            Level.ERROR, f"kmeminit frontend failed on {x.spelling(c)}: "
            f"{type(exc).__name__}: {exc}", loc.file, loc.line))
        return fallback


def _main_file_test(x: TU) -> Callable[[ci.Cursor], bool]:
    """Is a top-level cursor in the main file?  Decided from the raw location where
    possible (see `TU.focus`): thousands of header declarations pass through here."""
    lib = x.lib
    path = os.path.realpath(os.path.join(x.task.directory, x.task.file))
    fptr = lib.clang_getFile(x.tu.obj, os.fsencode(path))
    size = len(x.source(x.file_name(fptr)).data) if fptr else -1
    lo = lib.clang_getLocationForOffset(x.tu.obj, fptr, 0).int_data if fptr else 0
    hi = lo + size if not lo & MACRO_BIT else -1

    def is_main(c: ci.Cursor) -> bool:
        sl = lib.clang_getCursorLocation(c)
        raw = sl.int_data
        if raw & MACRO_BIT:
            return bool(lib.clang_Location_isFromMainFile(sl))
        return lo <= raw <= hi
    return is_main


def _global_stores(x: TU, var: ci.Cursor) -> Iterator[FnPtrStore]:
    if is_null(x.lib.clang_Cursor_getVarDeclInitializer(var)):
        return
    root = tree(var)
    init = next((n for n in reversed(root.kids) if n.k == K_INIT_LIST), None)
    if init is None:
        # `static online_page_callback_t online_page_callback = generic_online_page;`
        target = x.function_ref(root.kids[-1]) if root.kids else None
        if target is not None:
            yield FnPtrStore(GLOBAL_FP, x.usr(var), target[0], target[1],
                             x.loc(root.kids[-1].c))
        return
    for record, fld, value in x.init_items(init):
        target = x.function_ref(value)
        if record and fld and target:
            yield FnPtrStore(record, fld, target[0], target[1], x.loc(value.c),
                             table=x.usr(var))
