"""Facts decoded ahead while the index parses (FactStore.prefetch, index_entries'
`background`): a load takes them only while the store's rows hold the same bytes, so a
program is the same as one decoded after the parse; and a failing step costs the index
nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import test_index
from test_index import _index

from kmeminit.analyzer.blobs import pack
from kmeminit.analyzer.compdb import load_entries
from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.index import index_entries
from kmeminit.analyzer.model import replace, to_json
from kmeminit.analyzer.store import FactStore, HashCache

tree = test_index.tree  # its fixture: three TUs, one header


def _fresh(path: Path) -> tuple[dict, list]:
    """Every TU's facts and every header function, decoded by a store that decoded
    nothing ahead (as JSON data)."""
    store = FactStore(path)
    try:
        return ({f: to_json(store.load_tu(f)) for f in store.tu_files()},
                [to_json(fn) for fn in store.header_functions()])
    finally:
        store.close()


def test_facts_decoded_ahead_are_taken_while_their_rows_are_unchanged(tree: Path) -> None:
    _, store = _index(tree)
    path = store.path
    files = store.tu_files()
    steps = list(store.prefetch(files))
    assert len(steps) == len(files) + 1  # a TU per step, then the header functions
    ahead = {f: store._early_tus[f][2] for f in files}
    assert all(store.load_tu(f) is ahead[f] for f in files)  # taken, not decoded again
    assert not store._early_tus
    tus, headers = _fresh(path)
    assert {f: to_json(t) for f, t in ahead.items()} == tus

    # rows written after the prefetch: their new facts are loaded, not the old ones
    list(store.prefetch(files))
    a = next(f for f in files if f.endswith("a.c"))
    old = store._early_tus[a][2]
    changed = replace(old, functions=tuple(fn for fn in old.functions if fn.name != "a"))
    store.put_tu(changed, "args", HashCache(), failed=False)
    assert [fn.name for fn in store.load_tu(a).functions] == \
        [fn.name for fn in changed.functions] != [fn.name for fn in old.functions]
    b = next(f for f in files if f.endswith("b.c"))
    early_b = store._early_tus[b][2]
    with sqlite3.connect(path) as db:  # a parse time of its own: decoded again
        db.execute("UPDATE tus SET seconds = seconds + 1 WHERE file = ?", (b,))
    again = store.load_tu(b)
    assert again is not early_b and again.parse_seconds >= 1
    assert to_json(replace(again, parse_seconds=0.0)) == to_json(
        replace(early_b, parse_seconds=0.0))

    # header functions: the same
    assert [to_json(fn) for fn in store.header_functions()] == headers
    list(store.prefetch([]))
    usr, blob = sqlite3.connect(path).execute(
        "SELECT usr, facts FROM header_functions").fetchone()
    kept = store._early_headers[usr][1]
    renamed = replace(kept, name="pfn_helper_renamed")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE header_functions SET facts = ? WHERE usr = ?",
                   (pack(json.dumps(to_json(renamed)).encode()), usr))
    assert [fn.name for fn in store.header_functions()] == ["pfn_helper_renamed"]


def test_a_row_that_cannot_be_decoded_is_left_to_the_load(tree: Path) -> None:
    _, store = _index(tree)
    files = store.tu_files()
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE tus SET facts = ? WHERE file = ?", (b"\x00damaged", files[0]))
    assert len(list(store.prefetch(files))) == len(files) + 1  # no exception
    assert files[0] not in store._early_tus
    with pytest.raises(ValueError):
        store.load_tu(files[0])  # as without the prefetch
    store.forget_prefetched()
    assert not store._early_tus and not store._early_headers


@pytest.mark.parametrize("fails_at", [None, 0, 2])
def test_the_index_runs_background_steps_while_its_workers_parse(
        tree: Path, fails_at: int | None) -> None:
    """The steps run while a TU parses, given the TUs being parsed; a step that raises
    ends the background work and nothing else: the same facts are stored."""
    _index(tree)
    (tree / "c.c").write_text("int c(void) { return 4; }\n")
    (tree / "b.c").write_text('#include "h.h"\nunsigned long b(unsigned long p)\n'
                              "{ return pfn_helper(p) + 5; }\n")
    asked: list[set[str]] = []
    steps: list[int] = []

    def background(parsing: set[str]):
        asked.append(set(parsing))
        for i in range(1000):
            if i == fails_at:
                raise RuntimeError("a step that fails")
            steps.append(i)
            yield

    config = load_config()
    entries, _ = load_entries(tree, config)
    store = FactStore(tree / ".kmeminit" / "facts.db")
    stats = index_entries(entries, store, config, 1, 60, background=background)
    assert (stats.parsed, stats.cached, stats.failed) == (2, 1, 0)
    assert asked == [{str(tree / "b.c"), str(tree / "c.c")}]
    if fails_at is None:
        assert steps  # one step at least while b.c or c.c parsed
    else:
        assert steps == list(range(fails_at))
    program = store.load_tu(str(tree / "b.c"))
    assert program is not None and any(fn.name == "b" for fn in program.functions)


def test_a_forked_workers_store_takes_what_its_parent_decoded(tree: Path) -> None:
    """Another store object of the same database (a rule worker's, forked after the
    prefetch) takes the parent's decoded facts under the same check of each row."""
    _, store = _index(tree)
    assert store.decoded_ahead() is None
    files = store.tu_files()
    list(store.prefetch(files))
    ahead = store.decoded_ahead()
    assert ahead is not None
    worker = FactStore(store.path)
    worker.use_decoded(ahead)
    a, b = files[0], files[1]
    assert worker.load_tu(a) is ahead[0][a][2]
    assert a in store._early_tus  # the parent's own are its own
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE tus SET seconds = seconds + 1 WHERE file = ?", (b,))
    assert worker.load_tu(b) is not ahead[0][b][2]
    assert [to_json(fn) for fn in worker.header_functions()] == _fresh(store.path)[1]


def test_only_commands_that_load_the_program_decode_ahead(
        tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    """`check` decodes the unchanged TUs while the changed one parses; `index` loads no
    program and decodes nothing."""
    from kmeminit.analyzer.cli import main

    asked: list[list[str]] = []
    real = FactStore.prefetch

    def recorded(self: FactStore, files: list[str]):
        asked.append(sorted(Path(f).name for f in files))
        return real(self, files)

    monkeypatch.setattr(FactStore, "prefetch", recorded)
    store = str(tree / "cli.db")
    common = ["-p", str(tree), "--store", store, "--no-progress", "-j", "1"]
    assert main(["index", *common]) == 0
    (tree / "c.c").write_text("int c(void) { return 5; }\n")
    assert main(["index", *common]) == 0
    assert asked == []
    (tree / "c.c").write_text("int c(void) { return 6; }\n")
    assert main(["check", *common, "--fail-on", "none"]) == 0
    assert asked == [["a.c", "b.c"]]
    capsys.readouterr()


def test_the_background_decodes_what_does_not_parse_then_imports_networkx(
        tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands' background work (session.work_ahead): the stored facts of the TUs
    that are not parsing, then, as its last step, the import of networkx that the call
    graph would otherwise make after the parse."""
    import builtins

    from kmeminit.analyzer.cli.session import work_ahead

    _index(tree)
    store = FactStore(tree / ".kmeminit" / "facts.db")
    files = sorted(store.tu_files())
    imported: list[str] = []
    real = builtins.__import__

    def recorded(name: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        imported.append(name)
        return real(name, *args, **kwargs)

    steps = work_ahead(store, files)({files[0]})
    monkeypatch.setattr(builtins, "__import__", recorded)
    for _ in steps:
        assert "networkx" not in imported  # a step ends where it imported it
        if store.decoded_ahead() and len(store.decoded_ahead()[1]) == len(
                store.header_usrs()):
            break
    assert set(store.decoded_ahead()[0]) == set(files[1:])
    assert "networkx" not in imported
    assert next(steps, "end") is None and "networkx" in imported
    assert next(steps, "end") == "end"
