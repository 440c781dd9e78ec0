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
        self._hashes: dict[str, dict[int, str]] = {}

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
        if file not in self._hashes:
            text = self.text(file)
            self._hashes[file] = line_hashes(text) if text is not None else {}
        return self._hashes[file].get(line)
