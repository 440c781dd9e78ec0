"""What clang says about a TU besides its declarations: diagnostics and included files.

Diagnostics become our `Notification`s: errors with their file and line, and a note for
each command-line flag clang ignored or rejected (a gcc-only flag the compile database
still holds), naming the flag so that the triage stage folds one per run with its count.
Text goes through our own bindings: cindex decodes strictly, and a message or file name
may hold a name that is not UTF-8.
"""

from __future__ import annotations

import ctypes
import os
import re
from ctypes import c_uint, c_void_p

from clang import cindex as ci

from kmeminit.analyzer.frontend.libclang import take_str
from kmeminit.analyzer.frontend.tu import TU
from kmeminit.analyzer.model import ERROR_LIMIT, FATAL, Level, Notification

_FLAG = re.compile(r"'([^']+)'")
_FLAG_DIAGS = ("unknown argument", "unknown warning option", "is not supported",
               "argument unused during compilation", "unsupported option", "invalid value",
               "unsupported argument", "does not support")
# "invalid value 'sp_el0' in 'mstack-protector-guard-reg='", "unsupported argument 'x' to
# option '-mfoo='": the flag is the option and its value
_VALUE_IN = re.compile(r"(?:invalid value|unsupported argument) '([^']*)' (?:in|to option) "
                       r"'([^']+)'")
_LIMIT = "too many errors emitted"  # clang's error limit (-ferror-limit, 20 by default)
# A missing include is fatal for clang; KeepGoing (which we parse with, to get facts past
# it) reports it as a plain error, so it is recognised by its text.
_MISSING = "' file not found"
_INCLUSION_VISITOR = ctypes.CFUNCTYPE(None, c_void_p, c_void_p, c_uint, c_void_p)


def diagnostics(x: TU) -> list[Notification]:
    out = []
    for d in x.tu.diagnostics:
        message = take_str(x.lib.clang_getDiagnosticSpelling(d.ptr))
        f = d.location.file
        if f is None and any(s in message for s in _FLAG_DIAGS):
            out.append(Notification(Level.NOTE, f"clang ignored command-line flag "
                                    f"{_flag(message, x.task.args)}: {message}"))
        elif d.severity >= ci.Diagnostic.Error:
            name = (os.path.realpath(os.path.join(x.task.directory,
                                                  take_str(x.lib.clang_getFileName(f.obj))))
                    if f else None)
            kind = (ERROR_LIMIT if _LIMIT in message
                    else FATAL if d.severity >= ci.Diagnostic.Fatal or _MISSING in message
                    else None)
            out.append(Notification(Level.ERROR, message, name,
                                    d.location.line if f else None, kind=kind))
    return out


def _flag(message: str, args: tuple[str, ...] | list[str]) -> str:
    """The command-line flag a driver diagnostic is about, as written on the command line
    (clang says "unsupported option '-mabi='" of `-mabi=lp64`)."""
    value_in = _VALUE_IN.search(message)
    if value_in:
        value, option = value_in.groups()
        option = option if option.startswith("-") else "-" + option
        return option + value if option.endswith("=") else f"{option} {value}"
    quoted = _FLAG.findall(message)
    flag = next((q for q in quoted if q.startswith("-")), quoted[0] if quoted else "")
    if flag.endswith("="):
        return next((a for a in args if a.startswith(flag)), flag)
    return flag


def includes(x: TU, main: str) -> tuple[str, ...]:
    """Every file the TU includes, directly or not, except the main file."""
    files: set[int] = set()

    def visit(f: int, _stack: int, depth: int, _data: int) -> None:
        if depth:
            files.add(f)

    lib = x.lib
    lib.clang_getInclusions.argtypes = [c_void_p, _INCLUSION_VISITOR, c_void_p]
    lib.clang_getInclusions.restype = None
    lib.clang_getInclusions(x.tu.obj, _INCLUSION_VISITOR(visit), None)
    return tuple(sorted({x.file_name(f) for f in files} - {main, ""}))
