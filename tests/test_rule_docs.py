"""Every built-in rule's documentation: the sections exist, the *Example* really fires and
the *Fix* stays clean (each ```c block is compiled against examples/minikernel/include)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import build_program

from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.rules import (
    build_rules,
    builtin_checkers,
    doc_problems,
    rule_doc,
    run_rules,
)

SECTION = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)
C_BLOCK = re.compile(r"```c\n(.*?)```", re.DOTALL)


def blocks(doc: str, section: str) -> list[str]:
    parts = SECTION.split(doc)
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        if title.strip().lower() == section.lower():
            return C_BLOCK.findall(body)
    return []


def findings_for(rule: str, code: str, tmp_path: Path) -> list:
    src = tmp_path / "example.c"
    src.write_text(code)
    program = build_program([src], tmp_path)
    config = load_config()
    checkers, _ = build_rules({rule}, config)
    findings, notes = run_rules(checkers, program, config, debug=True)
    return [f for f in findings if f.rule == rule]


@pytest.mark.parametrize("checker", builtin_checkers(), ids=lambda c: c.id)
def test_doc_sections(checker: type) -> None:
    assert doc_problems(rule_doc(checker)) == []


@pytest.mark.parametrize("checker", builtin_checkers(), ids=lambda c: c.id)
def test_doc_example_fires_and_fix_is_clean(checker: type, tmp_path: Path) -> None:
    doc = rule_doc(checker)
    [example] = blocks(doc, "Example")
    [fix] = blocks(doc, "Fix")
    (tmp_path / "bad").mkdir()
    (tmp_path / "good").mkdir()
    assert findings_for(checker.id, example, tmp_path / "bad"), "the Example does not fire"
    assert findings_for(checker.id, fix, tmp_path / "good") == [], "the Fix still fires"
