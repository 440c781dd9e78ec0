"""Paths as users see them: relative to the symlink-resolved source root.

Pure path arithmetic (no file is read): the triage stage names each finding's file with
it, and the formatters every other location.
"""

from __future__ import annotations

import os


class SourceTree:
    """Paths below one symlink-resolved source root, cached per file."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        self._rel: dict[str, str | None] = {}

    def relpath(self, file: str) -> str | None:
        """Path relative to the root with `/` separators, or None if outside the root."""
        if file not in self._rel:
            real = os.path.realpath(os.path.join(self.root, file))
            rel = os.path.relpath(real, self.root)
            outside = rel in (os.curdir, os.pardir) or rel.startswith(os.pardir + os.sep)
            self._rel[file] = None if outside else rel.replace(os.sep, "/")
        return self._rel[file]

    def display(self, file: str) -> str:
        """What a human sees: relative inside the root, the resolved absolute path outside."""
        return self.relpath(file) or os.path.realpath(file)
