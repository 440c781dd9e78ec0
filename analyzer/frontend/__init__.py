"""libclang frontend: one translation unit in, `TUFacts` out.

The only package that imports `clang.cindex`; everything it returns is a plain frozen record
of `kmeminit.analyzer.model`.  Its modules, top down:

- `parse`: `parse_tu`, the entry point (parse, diagnose, walk, assemble)
- `declarations`: the TU's top-level declarations, which functions to walk
- `function`: one function walked into a `Function`, made of `statements` (control flow
  into the CFG), `expressions` (events and values) and `macros` (configured macros)
- `diagnostics`: clang diagnostics as notifications, and the included files
- `tu`: position, declaration and type queries on the parsed TU
- `libclang`: direct ctypes access and the light cursor tree
- `task`: `ParseTask`, built from the config; `cfg_builder` and `source_text`: clang-free

The names below are imported on first use, so that `frontend.task` (the cache key's
options) can be had without loading libclang.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"parse_tu": "parse", "ParseTask": "task", "frontend_options": "task"}

__all__ = ["ParseTask", "frontend_options", "parse_tu"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
