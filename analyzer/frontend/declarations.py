"""A TU's top-level declarations: which functions to walk, and file-scope pointer stores.

The declarations are enumerated in one C-driven visit.  Only function definitions of the
main file, and the header functions they reach (calls, stores, function values;
transitively) that this run has not extracted yet (once per USR), are walked: a kernel TU
sees thousands of header inline functions and uses a tenth of them.  Header declarations
are told from the main file's on their raw location alone.  File-scope
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
from kmeminit.analyzer.model import (
    GLOBAL_FP,
    FnPtrStore,
    Function,
    Level,
    Notification,
    references,
)


def walk_declarations(x: TU) -> tuple[list[Function], list[FnPtrStore]]:
    """The main file's function definitions and file-scope stores, and the header
    functions they reach that this run has not extracted yet, in declaration order."""
    walked: list[tuple[int, Function, list[FnPtrStore]]] = []
    lib = x.lib
    # Header definitions by declaration pointer.  A TU sees thousands and reaches a tenth:
    # their USRs are computed only for the ones a walked function refers to, through the
    # definition clang links that reference to.
    pending: dict[int, tuple[int, ci.Cursor]] = {}
    is_main = _main_file_test(x)
    for i, c in enumerate(children(x.tu.cursor, frozenset({K_FUNCTION, K_VAR}))):
        if c._kind_id == K_VAR:
            if is_main(c):
                walked.append((i, None, _guarded(x, lambda v: _global_stores(x, v), c, [])))
            continue
        if not is_main(c):
            # declarations too: a lookup only ever names a definition
            pending[c.data[0]] = (i, c)
        elif lib.clang_isCursorDefinition(c):
            _walk(x, i, c, False, walked)
    todo = [usr for _, fn, stores in walked for usr in references(fn, stores)]
    while todo:
        usr = todo.pop()
        if usr in x.task.skip_usrs:
            continue
        decl = x.definition_of(usr)
        if decl in pending:
            i, c = pending.pop(decl)
            if _walk(x, i, c, True, walked):
                todo.extend(references(walked[-1][1], walked[-1][2]))
    walked.sort(key=lambda w: w[0])
    return ([fn for _, fn, _ in walked if fn is not None],
            [store for _, _, stores in walked for store in stores])


def _walk(x: TU, i: int, c: ci.Cursor, header: bool,
          walked: list[tuple[int, Function | None, list[FnPtrStore]]]) -> bool:
    result = _guarded(x, lambda f: FunctionWalker(x, f, header).run(), c, None)
    if result is not None:
        walked.append((i, result[0], result[1]))
    return result is not None


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
