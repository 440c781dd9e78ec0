"""Compressed blobs of the fact store: zstd, which decompresses 2.5 times as fast as zlib.

Loading a program decompresses every stored TU's facts and every header function: 73 MB
of JSON for the 177 TUs of the 6.12 vmlinux's PG_reserved and altmap rules, 0.12 s with
zlib and 0.045 s with zstd at the same size.  Blobs that a store written before zstd holds
(zlib streams) are still read: a zstd frame starts with its magic number, a zlib stream
never does.  Compression is deterministic (one thread, a fixed level), so a TU parsed
again stores the same bytes and the memos keyed by them hold (analyzer/memo.py).
"""

from __future__ import annotations

import zlib
from typing import Any

_MAGIC = b"\x28\xb5\x2f\xfd"  # a zstd frame's first four bytes
LEVEL = 3


class BlobError(ValueError):
    """A stored blob that does not decompress."""


_compressor: Any = None
_decompressor: Any = None


def pack(data: bytes) -> bytes:
    global _compressor
    if _compressor is None:
        import zstandard

        _compressor = zstandard.ZstdCompressor(level=LEVEL)
    return bytes(_compressor.compress(data))


def unpack(blob: bytes) -> bytes:
    """The bytes of a blob `pack` wrote, or of a zlib stream (an older store)."""
    global _decompressor
    if bytes(blob[:4]) == _MAGIC:
        if _decompressor is None:
            import zstandard

            _decompressor = zstandard.ZstdDecompressor()
        try:
            return bytes(_decompressor.decompress(blob))
        except Exception as exc:  # zstandard.ZstdError: a damaged frame
            raise BlobError(f"damaged zstd blob: {exc}") from None
    try:
        return zlib.decompress(blob)
    except zlib.error as exc:
        raise BlobError(f"damaged blob: {exc}") from None
