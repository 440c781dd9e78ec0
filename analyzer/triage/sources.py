"""Source lines as they were analysed: the files on disk, or where `kmeminit diff` analysed
another revision, that revision's contents (the overlay).  Each file is read at most once."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from kmeminit.analyzer.triage.fingerprints import line_hashes

# Only the line ends the compiler counts: str.splitlines() would also split at the form
# feeds that some kernel files contain and shift every later line number.
_LINE_END = re.compile(r"\r\n|\r|\n")


class Sources:
    """The text of the files below one source root, as analysed."""

    def __init__(self, root: str, overlay: Mapping[str, bytes] | None = None) -> None:
        self.root = os.path.realpath(root)
        # Contents read in place of the files on disk (absolute, symlink-resolved paths).
        self.overlay = overlay or {}
        self._text: dict[str, str | None] = {}
        self._lines: dict[str, list[str]] = {}
        # per file: the line hashes, and the line they were computed up to
        self._hashes: dict[str, tuple[dict[int, str], int]] = {}
        self._expected: dict[str, int] = {}  # per file: the last line that will be asked

    def expect(self, file: str, line: int) -> None:
        """`line_hash(file, line)` will be asked: a file is then hashed once, as far as
        its last such line."""
        self._expected[file] = max(line, self._expected.get(file, 0))

    def text(self, file: str) -> str | None:
        """The file's text (invalid UTF-8 as U+FFFD), or None when it cannot be read."""
        if file not in self._text:
            path = os.path.join(self.root, file)
            data = self.overlay.get(os.path.realpath(path))
            if data is None:
                try:
                    with open(path, "rb") as handle:
                        data = handle.read()
                except OSError:
                    data = None
            self._text[file] = None if data is None else data.decode("utf-8", errors="replace")
        return self._text[file]

    def line(self, file: str, line: int) -> str:
        """The text of a 1-based line; empty beyond the end or when the file is unreadable."""
        if file not in self._lines:
            text = self.text(file)
            self._lines[file] = _LINE_END.split(text) if text is not None else []
        lines = self._lines[file]
        return lines[line - 1] if 0 < line <= len(lines) else ""

    def line_hash(self, file: str, line: int) -> str | None:
        """GitHub's primaryLocationLineHash, or None when the file cannot be read."""
        hashes, upto = self._hashes.get(file, ({}, 0))
        if line > upto:  # hashed as far as will be asked (the hash is streamed)
            text = self.text(file)
            upto = max(line, self._expected.get(file, 0))
            hashes = line_hashes(text, until=upto) if text is not None else {}
            self._hashes[file] = (hashes, upto if text is not None else 1 << 62)
        return hashes.get(line)
