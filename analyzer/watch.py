"""Whether the files a stored result read are still as they were, without reading them.

A result computed from many files (the prefilter's demand reads every TU's .c file and
every header it reaches) records what it read: each file's stat signature, and each path
it looked for and did not find (an `#include` searched along the include path).  A later
run compares signatures instead of contents:

- a file whose size, mtime, inode and ctime are unchanged is taken as unchanged, unless
  it was modified less than RACY_NS before the recording began (the same-tick problem
  git calls "racy": a write in the same timestamp tick as the read looks unchanged);
  such a file, or a changed one, is read again;
- a path that was absent must still be absent.  Its directory's mtime says when nothing
  was added to it; when the mtime moved (an editor that saves by renaming, a new file
  elsewhere in the directory), or is as racy as above, each absent name of it is looked
  for again.

This module only answers questions about the file system; what a changed file means is
its caller's (analyzer/prefilter.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

RACY_NS = 2_000_000_000  # a file modified this close to a recording is read again

Signature = tuple[int, int, int, int]


def signature(path: str) -> Signature | None:
    """(size, mtime, inode, ctime) of a file, None when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except (OSError, ValueError):
        return None


class Absent:
    """Paths looked for and not found, by directory, with each directory's mtime."""

    def __init__(self) -> None:
        self.names: dict[str, set[str]] = {}

    def add(self, path: str) -> None:
        directory, name = os.path.split(path)
        self.names.setdefault(directory, set()).add(name)

    def encode(self) -> list[list[object]]:
        return [[d, _mtime(d), sorted(names)] for d, names in sorted(self.names.items())]

    @staticmethod
    def unchanged(encoded: Iterable[list[object]], began: int) -> bool:
        """Every path recorded as absent in a recording that began at `began` still is
        (see the module doc)."""
        for directory, mtime, names in encoded:
            if isinstance(mtime, int) and mtime < began - RACY_NS and _mtime(
                    str(directory)) == mtime:
                continue
            if any(os.path.isfile(os.path.join(str(directory), str(n))) for n in names):
                return False
        return True


def trusted(recorded: Iterable[int] | None, now: Signature | None, began: int) -> bool:
    """Whether a file whose signature was `recorded` in a recording that began at `began`
    is unchanged now (signature `now`): equal, and not racy."""
    if recorded is None or now is None or tuple(recorded) != now:
        return False
    return now[1] < began - RACY_NS


__all__ = ["RACY_NS", "Absent", "Signature", "signature", "trusted"]
