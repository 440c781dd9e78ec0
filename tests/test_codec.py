"""The stored facts decode to the same objects through msgspec's typed decoder and through
our own (json.loads + from_json), including what msgspec refuses (a file name that is not
UTF-8 is a lone surrogate escape in the JSON text)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import build_example

from kmeminit.analyzer.blobs import unpack
from kmeminit.analyzer.model import (
    Function,
    Level,
    Location,
    Notification,
    TUFacts,
    from_json,
    from_json_bytes,
    to_json,
)
from kmeminit.analyzer.store import FactStore


def test_both_decoders_build_equal_facts(tmp_path: Path) -> None:
    build_example(tmp_path)
    store = FactStore(next(tmp_path.rglob("*.db")))
    blobs = [(TUFacts, b) for (b,) in store.db.execute("SELECT facts FROM tus")]
    blobs += [(Function, b) for (b,) in store.db.execute("SELECT facts FROM header_functions")]
    assert len(blobs) > 20
    for cls, blob in blobs:
        text = unpack(blob)
        fast = from_json_bytes(cls, text)
        assert fast == from_json(cls, json.loads(text))
        assert type(fast) is cls


def test_text_msgspec_refuses_takes_the_plain_way() -> None:
    name = "/src/mm/caf\udce9.c"  # a Latin-1 byte in a UTF-8 tree, as os.fsdecode gives it
    note = Notification(Level.WARNING, "m", name)
    text = json.dumps(to_json(note)).encode()
    assert b"\\udce9" in text
    assert from_json_bytes(Notification, text) == note
    loc = Location(name, 3, 1)
    assert from_json_bytes(Location, json.dumps(to_json(loc)).encode()) == loc


def test_blobs_are_zstd_and_a_zlib_store_is_still_read() -> None:
    """The store's blobs: zstd frames, the same bytes for the same data (memos are keyed
    by them); a zlib stream of an older store decodes too; a damaged blob of either kind
    is a BlobError (a ValueError, as a damaged JSON text is), never a crash."""
    import zlib

    from kmeminit.analyzer.blobs import BlobError, pack

    data = json.dumps({"functions": ["x" * 40] * 200}).encode()
    blob = pack(data)
    assert blob[:4] == b"\x28\xb5\x2f\xfd" and len(blob) < len(data) // 10
    assert pack(data) == blob and unpack(blob) == data
    assert unpack(zlib.compress(data, 3)) == data
    for damaged in (blob[:-3], blob[:4] + b"junk" * 4, zlib.compress(data)[:-5], b"",
                    b"\x00not a blob"):
        with pytest.raises(BlobError):
            unpack(damaged)
    assert issubclass(BlobError, ValueError)


def test_stored_scans_decode_alike_through_msgspec_and_json() -> None:
    """The prefilter's stored scans (analyzer/lexindex.py): msgspec's typed decoder and
    json.loads build equal LexFiles, with and without a vocabulary; a name that is not
    UTF-8 (a lone surrogate, which msgspec refuses) takes json.loads."""
    from kmeminit.analyzer.lexindex import (
        LexFunction,
        _decode_scan_plain,
        decode_scan,
        encode_scan,
        scan_text,
    )

    source = (b'#include "x.h"\nstatic int helper(struct page *p)\n{\n'
              b"\treturn pfn_valid(3) + foo(p) + p->ops->run(p);\n}\n"
              b"int main_fn(void)\n{\n\tstruct ops o = { .f = helper };\n\tcb = helper;\n"
              b"\treturn o.f(0);\n}\n#define M(x) bar(x)\n")
    for path in ("/src/mm/a.c", "/src/mm/caf\udce9.c"):
        lex = scan_text(path, source)
        assert len(lex.functions) == 3
        for vocabulary in (None, frozenset({"pfn_valid", "helper", "page"})):
            blob = encode_scan(lex, vocabulary)
            fast = decode_scan(blob)
            assert fast == _decode_scan_plain(unpack(blob))
            assert all(type(f) is LexFunction and type(f.calls) is frozenset
                       for f in fast.functions)
            assert fast.fp_stores == (("f", "helper"),) and fast.path == path
