"""Paths in the formatters' output: file URIs, and SARIF's URIs relative to %SRCROOT%.
(Relative and display paths are analyzer.paths.SourceTree.)"""

from __future__ import annotations

import os
from pathlib import PurePosixPath
from urllib.parse import quote


def file_uri(path: str, directory: bool = False) -> str:
    uri = PurePosixPath(path).as_uri()
    return uri + "/" if directory and not uri.endswith("/") else uri


def relative_uri(relpath: str) -> str:
    # The bytes on disk, percent-encoded: a name that is not UTF-8 (a surrogate escape in
    # Python) becomes %E9 rather than an encoding error.
    return quote(os.fsencode(relpath), safe="/")


__all__ = ["file_uri", "relative_uri"]
