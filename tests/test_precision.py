"""What the precision fixtures' findings say: callbacks labelled in witnesses, the guard
actually present named, the caller that lacks a guarantee named next to the one that has
it, conditional values as facts.  (tests/test_rule_fixtures.py checks where they are.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import build_program

from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.model import ValueKind
from kmeminit.analyzer.rules import build_rules, run_rules

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def run(rule: str, files: list[Path], tmp_path: Path) -> dict[str, object]:
    program = build_program(files, tmp_path)
    config = load_config()
    checkers, _ = build_rules({rule}, config)
    found, notes = run_rules(checkers, program, config, debug=True)
    assert not notes
    return {f.function: f for f in found if f.rule == rule}


def test_callback_steps_are_labelled(tmp_path: Path) -> None:
    found = run("KMI001", [FIXTURES / "KMI001" / "callbacks.c"], tmp_path)
    steps = [s.message for s in found["online_block_early"].trace]
    assert steps[0] == "callback: walk_memory_blocks() calls back online_block_early()"
    assert "online_blocks_early()" in found["online_block_early"].message
    own = [s.message for s in found["add_and_online_store"].trace]
    assert own[0].startswith("pfns become valid: arch_add_memory()")


@pytest.fixture(scope="module")
def kmi003(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return run("KMI003", sorted((FIXTURES / "KMI003").glob("*.c")),
               tmp_path_factory.mktemp("kmi003"))


def test_messages_name_the_guard_present(kmi003: dict) -> None:
    assert "checked only by valid_section()" in kmi003["zone_reserved_by_section"].message
    assert "checked only by present_section_nr()" in \
        kmi003["zone_offline_by_section"].message
    nid = kmi003["node_pages_in_zone"]
    assert nid.message.startswith("pfn_to_nid() reads the struct page of [pfn_to_nid(pfn)]")
    assert "page_to_nid() in its expansion" in nid.trace[1].message


def test_a_surviving_finding_shows_who_guarantees_and_who_does_not(kmi003: dict) -> None:
    finding = kmi003["range_movable"]
    assert "unchecked_range_movable() does not" in finding.message
    steps = {s.function: s.message for s in finding.trace}
    assert "after pfn_to_online_page(): the range is online" in steps["checked_range_movable"]
    assert "without proving the range online" in steps["unchecked_range_movable"]
    unknown = [s.message for s in kmi003["range_dirty"].trace]
    assert any("called from an unknown context" in m for m in unknown)


def test_conditional_values_are_facts(tmp_path: Path) -> None:
    program = build_program([FIXTURES / "KMI004" / "conditional.c"], tmp_path)
    [fn] = program.named("map_device_range")
    [choice] = [a.value for a in fn.assigns if a.target.name == "altmap"]
    assert choice.kind is ValueKind.CHOICE
    assert [a.kind for a in choice.args] == [ValueKind.ADDR_FIELD, ValueKind.NULL]
    [fn] = program.named("pgmap_base")
    [call] = [c for c in fn.calls if c.callee == "device_base"]
    assert [a.kind for a in call.args[0].args] == [ValueKind.ADDR_FIELD, ValueKind.CALL,
                                                   ValueKind.NULL]
    [fn] = [f for f in program.named("pick_altmap")]
    [ret] = fn.returns
    assert ret.value.kind is ValueKind.CHOICE  # GNU `a ?: b`
    assert [a.kind for a in ret.value.args] == [ValueKind.PARAM, ValueKind.PARAM]
