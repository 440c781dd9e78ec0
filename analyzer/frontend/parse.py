"""The entry point: one TU parsed by libclang, walked, and returned as `TUFacts`.

Cost is kept near a plain `Index.parse`: only errors are diagnosed, and the walk runs with
the garbage collector paused.  Load failures become notifications, never exceptions.
"""

from __future__ import annotations

import gc
import os
import time

from clang import cindex as ci

from kmeminit.analyzer.frontend.declarations import walk_declarations
from kmeminit.analyzer.frontend.diagnostics import diagnostics, includes
from kmeminit.analyzer.frontend.libclang import load
from kmeminit.analyzer.frontend.source_text import file_suppressions
from kmeminit.analyzer.frontend.task import ParseTask
from kmeminit.analyzer.frontend.tu import TU
from kmeminit.analyzer.model import FATAL, Level, Notification, TUFacts

# KeepGoing: a missing header still yields facts.  IgnoreNonErrorsFromIncludedFiles: we
# report errors only, so header warnings need not be kept.
_PARSE_OPTIONS = 0x200 | 0x4000

_index: ci.Index | None = None


def parse_tu(task: ParseTask) -> TUFacts:
    """Facts for one TU.  Never raises for bad input: failures become notifications."""
    started = time.perf_counter()
    path = os.path.realpath(os.path.join(task.directory, task.file))
    global _index
    load()
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
            Level.ERROR, f"libclang could not parse the translation unit: {exc}", path,
            kind=FATAL),),
            parse_seconds=time.perf_counter() - started)
    finally:
        os.chdir(cwd)
    x = TU(tu, task)
    notes = diagnostics(x)
    collecting = gc.isenabled()
    gc.disable()  # tens of thousands of acyclic ctypes objects: collections are pure cost
    try:
        functions, stores = walk_declarations(x)
    finally:
        if collecting:
            gc.enable()
    included = includes(x, path)
    unsaved = {os.path.realpath(p): data for p, data in task.unsaved}
    comments = file_suppressions((path, *included), unsaved)
    return TUFacts(path, tuple(functions), tuple(stores), included,
                   tuple(notes + x.notes), time.perf_counter() - started, tuple(comments))
