"""Indexing: content-hash caching, header fan-out, crash and hang isolation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kmeminit.analyzer.compdb import load_entries
from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.index import index_entries
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.store import FactStore

HEADER = """#ifndef H_H
#define H_H
static inline unsigned long pfn_helper(unsigned long pfn) { return pfn + 1; }
#endif
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "h.h").write_text(HEADER)
    (tmp_path / "a.c").write_text('#include "h.h"\nunsigned long a(unsigned long p)\n'
                                  "{ return pfn_helper(p); }\n")
    (tmp_path / "b.c").write_text('#include "h.h"\nunsigned long b(unsigned long p)\n'
                                  "{ return pfn_helper(p) + 2; }\n")
    (tmp_path / "c.c").write_text("int c(void) { return 3; }\n")
    entries = [{"directory": str(tmp_path), "file": f,
                "arguments": ["gcc", "-I./include", "-Werror", "-c", f]}
               for f in ("a.c", "b.c", "c.c")]
    (tmp_path / "compile_commands.json").write_text(json.dumps(entries))
    return tmp_path


def _index(tree: Path, jobs: int = 2, timeout: float = 60):
    config = load_config()
    entries, notes = load_entries(tree, config)
    assert notes == []
    store = FactStore(tree / ".kmeminit" / "facts.db")
    return index_entries(entries, store, config, jobs, timeout), store


def test_warm_rerun_parses_nothing(tree: Path) -> None:
    cold, _ = _index(tree)
    assert (cold.parsed, cold.cached, cold.failed) == (3, 0, 0)
    warm, store = _index(tree)
    assert (warm.parsed, warm.cached, warm.failed) == (0, 3, 0)
    program = Program.from_store(store)
    assert {f.name for f in program.functions.values()} == {"a", "b", "c", "pfn_helper"}
    assert len(program.named("pfn_helper")) == 1


def test_touching_a_c_file_reparses_only_it(tree: Path) -> None:
    _index(tree)
    (tree / "c.c").write_text("int c(void) { return 4; }\n")
    stats, _ = _index(tree)
    assert (stats.parsed, stats.cached) == (1, 2)


def test_mtime_alone_does_not_reparse(tree: Path) -> None:
    _index(tree)
    (tree / "a.c").touch()
    stats, _ = _index(tree)
    assert stats.parsed == 0


def test_touching_a_header_reparses_exactly_its_includers(tree: Path) -> None:
    _index(tree)
    (tree / "include" / "h.h").write_text(HEADER.replace("pfn + 1", "pfn + 5"))
    stats, store = _index(tree)
    assert (stats.parsed, stats.cached) == (2, 1)
    assert store.counts()["header_functions"] == 1


def test_changed_arguments_reparse(tree: Path) -> None:
    _index(tree)
    db = json.loads((tree / "compile_commands.json").read_text())
    db[2]["arguments"].insert(1, "-DCONFIG_X=1")
    (tree / "compile_commands.json").write_text(json.dumps(db))
    stats, _ = _index(tree)
    assert (stats.parsed, stats.cached) == (1, 2)


def test_crashing_worker_costs_one_tu(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMEMINIT_FAULT", "crash:b.c")
    stats, store = _index(tree, jobs=1)
    assert (stats.parsed, stats.failed) == (2, 1)
    [note] = [n for n in stats.notifications if n.file and n.file.endswith("b.c")]
    assert "signal 9" in note.message
    assert sorted(Path(f).name for f in store.tu_files()) == ["a.c", "c.c"]
    monkeypatch.delenv("KMEMINIT_FAULT")
    again, _ = _index(tree, jobs=1)  # the failed TU is retried, the others come from cache
    assert (again.parsed, again.cached, again.failed) == (1, 2, 0)


def test_hanging_tu_times_out(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMEMINIT_FAULT", "hang:a.c")
    stats, _ = _index(tree, jobs=2, timeout=3)
    assert (stats.parsed, stats.failed) == (2, 1)
    assert any("timed out" in n.message for n in stats.notifications)


def test_corrupt_store_is_rebuilt(tree: Path) -> None:
    db = tree / ".kmeminit" / "facts.db"
    db.parent.mkdir()
    db.write_bytes(b"this is not sqlite" * 100)
    store = FactStore(db)
    assert any("rebuilt" in n.message for n in store.notifications)
    assert store.counts()["tus"] == 0


def test_newer_schema_store_is_rebuilt(tree: Path) -> None:
    _, store = _index(tree)
    store.db.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    store.close()
    again = FactStore(tree / ".kmeminit" / "facts.db")
    assert any("schema version 999" in n.message for n in again.notifications)
    assert again.counts()["tus"] == 0


def test_two_indexers_on_one_store(tree: Path) -> None:
    """Two `kmeminit index` processes at once: WAL + short transactions, nothing lost or
    duplicated."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "kmeminit.analyzer.cli", "index", "-p", str(tree), "-j", "1",
           "--no-progress"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    store = FactStore(tree / ".kmeminit" / "facts.db")
    assert sorted(Path(f).name for f in store.tu_files()) == ["a.c", "b.c", "c.c"]
    assert store.counts() == {"tus": 3, "header_functions": 1}


def test_a_program_holds_the_header_functions_its_tus_reach_whatever_the_store_saw(
        tmp_path: Path) -> None:
    """The store keeps a header inline an older text of a TU called; a program of the TUs
    as they are now leaves it out, as a fresh store's does.  Inlines reached through
    another inline, or handed on as a value, are in."""
    header = ("#ifndef H_H\n#define H_H\n"
              "static inline int deep(int x) { return x + 4; }\n"
              "static inline int via(int x) { return deep(x) + 3; }\n"
              "static inline int taken(int x) { return x + 5; }\n"
              "static inline int old_one(int x) { return x + 6; }\n"
              "#endif\n")
    first = ('#include "h.h"\nint (*hook)(int);\n'
             "int a(int p) { hook = taken; return via(p) + old_one(p); }\n")
    now = ('#include "h.h"\nint (*hook)(int);\n'
           "int a(int p) { hook = taken; return via(p); }\n")

    def tree(where: Path, text: str) -> Path:
        (where / "include").mkdir(parents=True, exist_ok=True)
        (where / "include" / "h.h").write_text(header)
        (where / "a.c").write_text(text)
        (where / "compile_commands.json").write_text(json.dumps([{
            "directory": str(where), "file": "a.c",
            "arguments": ["gcc", "-I./include", "-c", "a.c"]}]))
        return where

    old = tree(tmp_path / "old", first)
    _index(old)
    stats, store = _index(tree(old, now))
    assert stats.parsed == 1
    assert "old_one" in {fn.name for fn in store.header_functions()}  # still stored
    names = {fn.name for fn in Program.from_store(store).functions.values()}
    assert names == {"a", "via", "deep", "taken"}
    _, fresh = _index(tree(tmp_path / "fresh", now))
    assert {fn.name for fn in Program.from_store(fresh).functions.values()} == names
    # kmeminit-cc's one-TU program fetches the same ones by USR, not every stored one
    tus = list(store.iter_tus())
    assert {fn.name for fn in store.header_functions_reached(tus)} == names - {"a"}
    assert Program.from_tus(tus, store.header_functions_reached(tus)).functions == \
        Program.from_store(store).functions
