"""Finding identities that survive edits which only shift lines.

`kmeminit/v1` is our own context-free hash (CodeChecker's idea): rule, relative path,
enclosing function, the primary line's text without whitespace, and the message template.
`primaryLocationLineHash` is GitHub's, computed exactly as github/codeql-action's
src/fingerprints.ts does, so a SARIF uploaded through the raw API deduplicates the same way
as one uploaded through the action.
"""

from __future__ import annotations

import hashlib
import sys
from array import array

from kmeminit.analyzer.results import Finding

FINGERPRINT_KEY = "kmeminit/v1"
LINE_HASH_KEY = "primaryLocationLineHash"

_TAB, _SPACE, _LF, _CR = 9, 32, 10, 13
_EOF = 65535
_BLOCK_SIZE = 100
_MOD = 37
_MASK = (1 << 64) - 1  # fingerprints.ts uses 64-bit `Long` arithmetic, wrapping
_FIRST_MOD = pow(_MOD, _BLOCK_SIZE, 1 << 64)


def kmeminit_fingerprint(finding: Finding, relpath: str, line_text: str) -> str:
    stripped = "".join(line_text.split())
    parts = (finding.rule, relpath, finding.function or "", stripped, finding.template)
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def _utf16_units(text: str) -> array:
    # JavaScript's charCodeAt counts UTF-16 code units: a character outside the BMP is two.
    units = array("H")
    units.frombytes(text.encode("utf-16-le" if sys.byteorder == "little" else "utf-16-be"))
    return units


def line_hashes(file_bytes_or_text: bytes | str) -> dict[int, str]:
    """Every line's `primaryLocationLineHash` (1-based line -> "hex:occurrence").

    Bytes are decoded as UTF-8 with U+FFFD for invalid sequences, as Node's stream does.
    The hash of a line covers the first BLOCK_SIZE characters from its start, ignoring
    spaces and tabs, with CR and CRLF counted as LF and an EOF marker after the text.
    """
    text = file_bytes_or_text
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    window = [0] * _BLOCK_SIZE
    line_numbers = [-1] * _BLOCK_SIZE
    counts: dict[str, int] = {}
    out: dict[int, str] = {}
    state = {"hash": 0, "index": 0}

    def output() -> None:
        index = state["index"]
        value = format(state["hash"], "x")
        counts[value] = counts.get(value, 0) + 1
        out[line_numbers[index]] = f"{value}:{counts[value]}"
        line_numbers[index] = -1

    def update(current: int) -> None:
        index = state["index"]
        begin = window[index]
        window[index] = current
        state["hash"] = (_MOD * state["hash"] + current - _FIRST_MOD * begin) & _MASK
        state["index"] = (index + 1) % _BLOCK_SIZE

    line_number = 0
    line_start = True
    prev_cr = False
    units = _utf16_units(text)
    units.append(_EOF)
    for current in units:
        if current in (_SPACE, _TAB) or (prev_cr and current == _LF):
            prev_cr = False
            continue
        prev_cr = current == _CR
        if prev_cr:
            current = _LF
        if line_numbers[state["index"]] != -1:
            output()
        if line_start:
            line_start = False
            line_number += 1
            line_numbers[state["index"]] = line_number
        if current == _LF:
            line_start = True
        update(current)
    for _ in range(_BLOCK_SIZE):
        if line_numbers[state["index"]] != -1:
            output()
        update(0)
    return out
