"""Atomic output: a result file is either the old one or the complete new one."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write `text` to `path` through a temp file in the same directory, fsync and a
    rename, so a failure (disk full, signal) leaves any previous file intact and no partial
    output.  An existing file keeps its mode; a new one gets the umask's, as with open()."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        # surrogateescape: a file name that is not UTF-8 is written back as its bytes.
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp.exists():
            tmp.unlink()
        if isinstance(exc, OSError) and exc.errno and exc.filename is None:  # ENOSPC
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def write_output(path: Path | str | None, text: str) -> None:
    """A command's result: atomically to `path` (-o), else to stdout."""
    if path:
        atomic_write_text(path, text)
    else:
        import sys

        sys.stdout.write(text)
