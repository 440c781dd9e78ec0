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


def line_hashes(file_bytes_or_text: bytes | str, until: int | None = None) -> dict[int, str]:
    """Every line's `primaryLocationLineHash` (1-based line -> "hex:occurrence"); with
    `until`, at least lines 1 to `until` (the hash is streamed: a line's value and
    occurrence depend only on what precedes its window's end).

    Bytes are decoded as UTF-8 with U+FFFD for invalid sequences, as Node's stream does.
    The hash of a line covers the first BLOCK_SIZE characters from its start, ignoring
    spaces and tabs, with CR and CRLF counted as LF and an EOF marker after the text.
    """
    text = file_bytes_or_text
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    # fingerprints.ts's loop, with its state in locals: this runs once per character of
    # every file a finding is in (a million characters for the whole-vmlinux report)
    window = [0] * _BLOCK_SIZE
    line_numbers = [-1] * _BLOCK_SIZE
    counts: dict[str, int] = {}
    out: dict[int, str] = {}
    value_hash, index = 0, 0
    consumed, began = 0, -1  # units hashed; how many when line until + 1 began
    last = until if until is not None else -1
    line_number = 0
    line_start = True
    prev_cr = False
    units = _utf16_units(text)
    units.append(_EOF)
    mod, first_mod, mask, size = _MOD, _FIRST_MOD, _MASK, _BLOCK_SIZE
    for current in units:
        if current == _SPACE or current == _TAB or (prev_cr and current == _LF):
            prev_cr = False
            continue
        prev_cr = current == _CR
        if prev_cr:
            current = _LF
        if line_numbers[index] != -1:
            value = format(value_hash, "x")
            counts[value] = count = counts.get(value, 0) + 1
            out[line_numbers[index]] = f"{value}:{count}"
            line_numbers[index] = -1
        if began >= 0 and consumed - began >= size:
            return out  # every line up to `until` has had its window
        if line_start:
            line_start = False
            line_number += 1
            line_numbers[index] = line_number
            if line_number == last + 1:
                began = consumed
        if current == _LF:
            line_start = True
        begin = window[index]
        window[index] = current
        value_hash = (mod * value_hash + current - first_mod * begin) & mask
        index = (index + 1) % size
        consumed += 1
    for _ in range(size):
        if line_numbers[index] != -1:
            value = format(value_hash, "x")
            counts[value] = count = counts.get(value, 0) + 1
            out[line_numbers[index]] = f"{value}:{count}"
            line_numbers[index] = -1
        begin = window[index]
        window[index] = 0
        value_hash = (mod * value_hash - first_mod * begin) & mask
        index = (index + 1) % size
    return out
