"""Formatters: a finished Report in, SARIF 2.1.0, gcc-style text or plain JSON out.

The names below are imported on first use: a command that prints one notification line
(kmeminit-cc, `kmeminit rules`) must not load sarif-om."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"to_json_report": "jsonout", "dumps": "serialise", "format_notifications": "text",
            "format_text": "text", "summary_line": "text", "to_sarif": "writer"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
