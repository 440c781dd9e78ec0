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
