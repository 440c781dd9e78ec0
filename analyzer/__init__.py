"""kmeminit: a static analyzer for Linux-kernel memory-init invariants."""

__version__ = "0.1.0"
