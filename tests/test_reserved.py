"""The PG_reserved analysis behind KMI006, KMI007 and `kmeminit reserved`: conditions,
unreached sites, walkers, net effects, what-if-drop and the report formats."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import build_example, build_program

from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.kernel import kernel_facts
from kmeminit.sarif.reserved_report import to_dot, to_json, to_markdown

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MINIKERNEL = Path(__file__).resolve().parent.parent / "examples" / "minikernel"


@pytest.fixture(scope="module")
def transitions(tmp_path_factory: pytest.TempPathFactory):
    program = build_program([FIXTURES / "KMI006" / "transitions.c"],
                            tmp_path_factory.mktemp("kmi006"))
    return kernel_facts(program, load_config(FIXTURES / "KMI006" / "kmeminit.yaml")).reserved


def _reach(analysis, function: str, entry: str):
    [reach] = [r for r in analysis.reaches if r.site.function == function
               and r.entry == entry]
    return reach


def test_conditional_set_carries_its_condition(transitions) -> None:
    reach = _reach(transitions, "fx_init_range", "fx_add_memory")
    assert reach.site.op == "set" and reach.kind == "hotplug"
    assert "context == MEMINIT_HOTPLUG" in reach.conditions
    assert [s.function for s in reach.chain] == ["fx_add_memory", "fx_init_range"]
    assert reach.effect == "left reserved"


def test_wrapper_site_is_reached_through_its_caller(transitions) -> None:
    reach = _reach(transitions, "fx_release_page", "fx_free_boot_pages")
    assert reach.site.op == "clear" and reach.chains == 1
    assert "PageReserved(page)" in reach.conditions
    configured = _reach(transitions, "fx_boot_init", "fx_boot_init")
    assert configured.site.via == "wrapper" and configured.site.callee == "fx_firmware_reserve"


def test_unreached_site_is_reported_once_with_entry_none(transitions) -> None:
    reaches = [r for r in transitions.reaches if r.site.function == "fx_unused_reserve"]
    assert [(r.entry, r.entry_usr) for r in reaches] == [("none", None)]


def test_bitops_and_folios(transitions) -> None:
    ops = {(s.callee, s.op, s.via) for s in transitions.sites
           if s.function == "fx_memremap"}
    assert ops == {("set_bit", "set", "bitop"), ("__clear_bit", "clear", "bitop"),
                   ("folio_set_reserved", "set", "call"),
                   ("__folio_clear_reserved", "clear", "call")}


def test_readers_walkers_and_entries(tmp_path: Path) -> None:
    program = build_program([FIXTURES / "KMI007" / "readers.c"], tmp_path)
    analysis = kernel_facts(program, load_config(FIXTURES / "KMI007" / "kmeminit.yaml")).reserved
    walkers = {r.function: r.in_walker for r in analysis.readers}
    assert walkers == {"fx_count_reserved": True, "fx_page_is_refcounted": False,
                       "fx_folio_movable": False, "fx_raw_test": False}
    [reader] = [r for r in analysis.readers if r.function == "fx_page_is_refcounted"]
    assert [(k, n) for k, n, _ in analysis.reader_entries(reader)] == [("device",
                                                                        "fx_memremap")]


@pytest.fixture(scope="module")
def minikernel(tmp_path_factory: pytest.TempPathFactory):
    return build_example(tmp_path_factory.mktemp("mini")), load_config()


def test_minikernel_effects_and_what_if_drop(minikernel) -> None:
    program, config = minikernel
    analysis = kernel_facts(program, config).reserved
    effects = {program.name_of(u): analysis.entry_effect(u) for _, u in analysis.entry_kinds()}
    assert effects["memremap_pages"] == "left reserved"
    assert effects["online_pages"] == "either"
    assert effects["__free_pages_core"] == "cleared"
    [site] = analysis.find_sites("reserve_bootmem_region")
    dropped = {(r.function, why) for r, why in analysis.what_if_drop(site)}
    assert ("page_is_bad_on_free", "after") in dropped
    assert ("kpageflags_read", "walker") in dropped
    assert not any(f == "page_is_refcounted" for f, _ in dropped)


def test_report_formats(minikernel) -> None:
    program, config = minikernel
    data = kernel_facts(program, config).reserved.report("mm/mm_init.c:62")
    root = str(MINIKERNEL)
    md = to_markdown(data, root)
    assert "### device: `memremap_pages()` — net effect: left reserved" in md
    assert "## What if `mm/mm_init.c:62` were dropped" in md
    parsed = json.loads(to_json(data, root))
    assert parsed["what_if_drop"]["sites"] == ["memmap_init_range@62"]
    assert all(not s["file"].startswith("/") for s in parsed["sites"])
    dot = to_dot(data, root)
    assert dot.startswith("digraph pg_reserved {") and "entry:memremap_pages" in dot
    # --what-if-drop in the picture too: the dropped site and the readers it could change
    assert 'label="what if mm/mm_init.c:62 were dropped: ' in dot
    assert re.search(r'"site:memmap_init_range@62" \[[^]]*style="bold,dashed"[^]]*'
                     r'label="DROPPED: set', dot)
    readers = {rid for rid, _ in data.what_if_drop.readers}
    assert readers and all(re.search(rf'"reader:{re.escape(rid)}" \[shape=note, '
                                     r'color=darkorange', dot) for rid in readers)
    assert "DROPPED" not in to_dot(kernel_facts(program, config).reserved.report(), root)


def test_docs_match_the_example_tree(minikernel) -> None:
    """docs/reserved-minikernel.md is what `kmeminit reserved` prints for the example."""
    program, config = minikernel
    data = kernel_facts(program, config).reserved.report("mm/mm_init.c:62")
    docs = Path(__file__).resolve().parent.parent / "docs"
    expected = to_markdown(data, str(MINIKERNEL), "PG_reserved report: examples/minikernel")
    assert (docs / "reserved-minikernel.md").read_text() == expected
    assert (docs / "reserved-minikernel.dot").read_text() == to_dot(
        kernel_facts(program, config).reserved.report(), str(MINIKERNEL))
