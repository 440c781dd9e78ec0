"""Scratch-copy mutations of real kernel files for the opt-in rule tests.

A mutant is the original file with one textual change, written outside the kernel tree;
its compile command is the original's with `-iquote <original dir>` so that quoted
includes still resolve.  The warm store is copied (SQLite backup), so only the mutant is
parsed.  Nothing in the kernel tree is modified."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from kmeminit.analyzer.compdb import open_compdb
from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.index import index_entries
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.rules import build_rules, run_rules
from kmeminit.analyzer.store import FactStore


def mutant_program(tree: Path, store: Path, slice_: list[str], rel: str, old: str, new: str,
                   tmp: Path) -> tuple[Program, Path]:
    config = load_config()
    entries = open_compdb(tree, config, slice_).entries
    source = (tree / rel).resolve()
    text = source.read_text()
    assert text.count(old) == 1, f"{rel}: the text to mutate is not unique (kernel changed?)"
    mutant = tmp / f"mutant-{source.name}"
    mutant.write_text(text.replace(old, new))
    [original] = [e for e in entries if e.file == str(source)]
    replaced = dataclasses.replace(original, file=str(mutant),
                                   clang_args=original.clang_args + ("-iquote",
                                                                     str(source.parent)))
    entries = [replaced if e is original else e for e in entries]
    copy = tmp / "facts.db"
    with sqlite3.connect(store) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    facts = FactStore(copy)
    stats = index_entries(entries, facts, config, jobs=1, timeout=300)
    assert stats.failed == 0 and stats.parsed == 1, stats.summary()
    return Program.from_store(facts, [e.file for e in entries]), mutant


def findings(program: Program, rule: str) -> list:
    config = load_config()
    checkers, _ = build_rules({rule}, config)
    found, notes = run_rules(checkers, program, config, debug=True)
    return [f for f in found if f.rule == rule]
