"""kmeminit: a static analyzer for Linux-kernel memory-init invariants.

The engine package.  Nothing heavy is imported here: `kmeminit --version` and the kbuild
driver start from it.
"""

from __future__ import annotations

import functools


@functools.cache
def version() -> str:
    """The installed distribution's version (from its metadata, the one source of truth)."""
    from importlib import metadata

    try:
        return metadata.version("kmeminit")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


# the packages whose code decides a result (the frontend's is in the facts themselves)
_CODE = ("analyzer", "checkers", "config")


@functools.cache
def package_digest() -> str:
    """kmeminit's own code (analyzer, checkers, config): an editable install, or one
    pinned to a commit, changes it without changing the version.  Results kept in the
    store are keyed by it (analyzer/memo.py, kmeminit-cc's printed lines); 3-7 ms."""
    import hashlib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    digest = hashlib.blake2b(digest_size=16)
    for package in _CODE:
        base = root / package
        if not base.is_dir():  # installed as kmeminit/analyzer, …: the same layout
            continue
        for path in sorted(base.rglob("*")):
            if path.suffix in (".py", ".yaml") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.hexdigest()
