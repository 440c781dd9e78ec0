"""Whole-tree prefilter: relevant TUs by text, grown along calls, bounded, same findings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.compdb import open_compdb
from analyzer.config import Config, load_config
from analyzer.index import index_entries
from analyzer.prefilter import config_symbols, prefilter_index
from analyzer.store import FactStore
from tests.helpers import EXAMPLE, compdb_for

SOURCES = {
    # mentions a configured symbol: relevant
    "walker.c": "int pfn_valid(unsigned long pfn);\nint helper_b(int x);\n"
                "int a_walker(unsigned long pfn)\n{\n\treturn pfn_valid(pfn) + helper_b(1);\n}\n",
    # defines a function the slice calls: added in round 1 (callee)
    "helper.c": "static int twice(int x) { return 2 * x; }\n"
                "int helper_b(int x)\n{\n\treturn twice(x);\n}\n",
    # calls a slice function: added in round 1 (caller), and joins the slice
    "user.c": "int a_walker(unsigned long pfn);\nint c_user(void)\n{\n\treturn a_walker(3);\n}\n",
    # calls the caller: added in round 2
    "top.c": "int c_user(void);\nint top(void)\n{\n\treturn c_user();\n}\n",
    # relevant through a private header it includes with quotes
    "private.c": '#include "private.h"\nint p(void) { return 0; }\n',
    "private.h": "#define MARK(page) SetPageReserved(page)\n",
    # unrelated, and a mention only in a comment-free angle-bracket header
    "other.c": "#include <global.h>\nint other(void) { return 1; }\n",
    "inc/global.h": "int pfn_valid(unsigned long pfn);\n",
}


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, list]:
    src = tmp_path / "src"
    for name, text in SOURCES.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    db = compdb_for(sorted(src.glob("*.c")), src, tmp_path)
    raw = json.loads(db.read_text())
    for entry in raw:
        entry["arguments"].insert(1, f"-I{src / 'inc'}")
    db.write_text(json.dumps(raw))
    return tmp_path, open_compdb(db, load_config(), source_root=str(src)).entries


def _run(entries: list, store: FactStore, config: Config) -> tuple[list[str], object, list]:
    batches: list[list[str]] = []
    logged: list[str] = []

    def index(batch: list) -> None:
        batches.append(sorted(Path(e.file).name for e in batch))
        index_entries(batch, store, config, jobs=2, timeout=60)

    kept, report = prefilter_index(entries, store, config, index, logged.append)
    return sorted(Path(e.file).name for e in kept), report, [batches, logged]


def test_relevant_by_text_then_grown_along_calls(tree: tuple[Path, list]) -> None:
    tmp, entries = tree
    kept, report, (batches, logged) = _run(entries, FactStore(tmp / "facts.db"), load_config())
    assert batches[0] == ["private.c", "walker.c"]
    assert batches[1] == ["helper.c", "user.c"]
    assert batches[2] == ["top.c"]
    assert kept == ["helper.c", "private.c", "top.c", "user.c", "walker.c"]  # not other.c
    assert (report.total, report.initial, report.kept) == (6, 2, 5)
    assert report.rounds[:2] == [(1, 1), (0, 1)]
    assert any("round 2" in line for line in logged)
    assert "2 of 6 TUs mention configured symbols" in logged[-1]


def test_growth_is_bounded(tree: tuple[Path, list]) -> None:
    tmp, entries = tree
    config = load_config()
    config.data["prefilter"]["max_rounds"] = 1
    kept, report, _ = _run(entries, FactStore(tmp / "facts.db"), config)
    assert "top.c" not in kept and "user.c" in kept
    assert len(report.rounds) == 1


def test_symbols_come_from_config() -> None:
    symbols = config_symbols(load_config())
    assert {"pfn_valid", "memmap_init_zone", "PG_reserved", "vmem_altmap", "dev_pagemap",
            "memremap_pages"} <= symbols  # events with aliases, types, reserved bits
    assert not {"container_of", "set_bit", "struct"} & symbols


def test_same_findings_with_and_without_prefilter(tmp_path: Path) -> None:
    from analyzer.cli import main

    subprocess.run([sys.executable, str(EXAMPLE / "gen_compdb.py"), str(tmp_path)],
                   check=True, capture_output=True)
    prints = []
    for flag in ("--prefilter", "--no-prefilter"):
        out = tmp_path / f"{flag}.json"
        assert main(["check", "-p", str(tmp_path), "--source-root", str(EXAMPLE), flag,
                     "--store", str(tmp_path / f"{flag}.db"), "--format", "json", "-o",
                     str(out), "--fail-on", "none", "--no-progress", "-j", "2"]) == 0
        prints.append(sorted(f["fingerprint"] for f in json.loads(out.read_text())["findings"]))
    assert prints[0] and prints[0] == prints[1]
