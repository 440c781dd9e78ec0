"""Program model on C fixtures: USR-keyed nodes, ops-table calls, slices, event ordering
across goto error paths and recursion, field-sensitive origins."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import build_program

from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.dataflow.ordering import OrderingEngine, Query
from kmeminit.analyzer.dataflow.origins import OriginEngine, OriginSpec
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.reports import Origin

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "program"
FILES = ["statics_a.c", "statics_b.c", "ops_driver.c", "ops_core.c", "ordering.c", "origins.c"]
WINDOW = Query.sequence("VALID", "UNLOCK", "INIT", kills={1: ["INIT"], 2: ["LOCK"]})


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Program:
    return build_program([FIXTURES / f for f in FILES], tmp_path_factory.mktemp("program"))


def usr(program: Program, name: str) -> str:
    [fn] = [f for f in program.named(name) if not f.from_header]
    return fn.usr


def test_same_named_statics_are_distinct_nodes(program: Program) -> None:
    statics = program.named("section_count")
    assert len(statics) == 2 and len({f.usr for f in statics}) == 2
    a, b = usr(program, "sections_a"), usr(program, "sections_b")
    [ta] = list(program.graph.successors(a))
    [tb] = list(program.graph.successors(b))
    assert ta != tb
    assert program.functions[ta].file.endswith("statics_a.c")
    assert program.functions[tb].file.endswith("statics_b.c")


def test_external_functions_are_marked(program: Program) -> None:
    graph = program.graph
    [ext] = [n for n, d in graph.nodes(data=True) if d["name"] == "mem_hotplug_done"]
    assert graph.nodes[ext]["external"]


def test_ops_table_calls_resolve_to_every_implementation(program: Program) -> None:
    caller = usr(program, "free_zone_device_page")
    targets = {program.name_of(t) for t in program.graph.successors(caller)}
    assert targets == {"dmirror_page_free", "other_page_free"}
    assert all(program.graph.edges[caller, t]["indirect"]
               for t in program.graph.successors(caller))
    unresolved = [(program.functions[u].name, s.callee) for u, s in program.unresolved]
    assert unresolved == [("call_through_variable", "fn")]
    stats = program.stats()
    assert (stats["indirect_resolved"], stats["indirect_unresolved"]) == (1, 1)


def test_slice_and_call_chains(program: Program) -> None:
    entry, target = usr(program, "device_add"), program.usrs_named(["sparse_add_section"])
    sliced = program.slice([entry], target)
    assert {program.name_of(n) for n in sliced} == {"device_add", "add_pages",
                                                    "sparse_add_section"}
    [chain] = program.call_chains(entry, next(iter(target)))
    assert [program.name_of(n) for n in chain] == ["device_add", "add_pages",
                                                   "sparse_add_section"]
    assert program.call_chains(entry, next(iter(target)), max_depth=1) == []


@pytest.fixture(scope="module")
def ordering(program: Program) -> OrderingEngine:
    return OrderingEngine(program, load_config().name_sets("events"))


def test_window_across_goto_error_path(program: Program, ordering: OrderingEngine) -> None:
    steps = ordering.witness(usr(program, "pagemap_range"), WINDOW)
    labelled = [(s.function, s.label, s.location.line) for s in steps if s.label != "call"]
    # arch_add_memory() is itself configured as VALID (it always activates sections), so
    # the witness names the outermost call that makes the pfns valid.
    assert labelled == [("pagemap_range", "VALID", 15), ("pagemap_range", "UNLOCK", 18),
                        ("pagemap_range", "INIT", 20)]
    unlock = next(s for s in steps if s.label == "UNLOCK")
    assert unlock.conditions == ("error [false]",)  # the branch taken past `goto err_add`


def test_no_window_when_init_is_under_the_lock(program: Program,
                                               ordering: OrderingEngine) -> None:
    assert not ordering.holds(usr(program, "pagemap_range_locked"), WINDOW)
    # but VALID then UNLOCK alone does happen there
    assert ordering.holds(usr(program, "pagemap_range_locked"),
                          Query.sequence("VALID", "UNLOCK"))


def test_recursion_scc(program: Program, ordering: OrderingEngine) -> None:
    unlock_then_init = Query.sequence("UNLOCK", "INIT")
    assert ordering.holds(usr(program, "walk_even"), unlock_then_init)
    steps = ordering.witness(usr(program, "walk_even"), unlock_then_init)
    assert [s.label for s in steps if s.label != "call"] == ["UNLOCK", "INIT"]


@pytest.fixture(scope="module")
def origins(program: Program) -> OriginEngine:
    return OriginEngine(program, OriginSpec(
        "struct vmem_altmap *", frozenset({"kmemdup", "kzalloc"}),
        (("pgmap_altmap", "struct dev_pagemap.altmap"),)))


def kinds(found: dict) -> set[str]:
    return {str(o) for o in found}


def test_origins_through_struct_fields(program: Program, origins: OriginEngine) -> None:
    add = program.functions[usr(program, "add_pages")]
    assert kinds(origins.of(("local", add.usr, "altmap"))) == {
        "embedded in struct dev_pagemap.altmap", "standalone heap object (kmemdup)"}


def test_local_structs_do_not_mix(program: Program, origins: OriginEngine) -> None:
    plain = program.functions[usr(program, "plain_add")]
    [site] = [c for c in plain.calls if c.callee == "sparse_add_section"]
    assert set(origins.of_value(plain, site.args[3])) == {Origin("null")}


def test_memory_block_field_store_and_read(program: Program, origins: OriginEngine) -> None:
    remove = program.functions[usr(program, "hotplug_remove")]
    found = origins.of(("local", remove.usr, "altmap"))
    assert set(found) == {Origin("heap", "kmemdup")}
    chain = [s.function for s in found[Origin("heap", "kmemdup")]]
    assert chain[0] == "hotplug_add" and chain[-1] == "hotplug_remove"


def test_stack_global_and_helper_origins(program: Program, origins: OriginEngine) -> None:
    early = program.functions[usr(program, "early_add")]
    assert set(origins.of_value(early, early.calls[0].args[3])) == {
        Origin("global", "boot_altmap")}
    via = program.functions[usr(program, "via_helper")]
    [site] = [c for c in via.calls if c.callee == "sparse_add_section"]
    assert set(origins.of_value(via, site.args[3])) == {
        Origin("embedded", "struct dev_pagemap.altmap")}


GLOBAL_FP_SOURCE = """\
struct page;
typedef void (*online_page_callback_t)(struct page *page, unsigned int order);
void __free_pages_core(struct page *page, unsigned int order, int context);

void generic_online_page(struct page *page, unsigned int order)
{
	__free_pages_core(page, order, 1);
}

static online_page_callback_t online_page_callback = generic_online_page;

static void driver_online_page(struct page *page, unsigned int order)
{
}

int set_online_page_callback(online_page_callback_t cb)
{
	online_page_callback = driver_online_page;
	return 0;
}

static online_page_callback_t unused_callback;

void online_pages_range(struct page *page)
{
	(*online_page_callback)(page, 0);
	unused_callback(page, 1);
}
"""


def test_calls_through_file_scope_function_pointers(tmp_path: Path) -> None:
    """memory hotplug frees onlined pages through `online_page_callback`: the initialiser
    and every assignment of a function to the variable are its targets."""
    src = tmp_path / "hotplug.c"
    src.write_text(GLOBAL_FP_SOURCE)
    program = build_program([src], tmp_path)
    [caller] = program.by_name["online_pages_range"]
    graph = program.graph
    assert {graph.nodes[t]["name"] for t in graph.successors(caller)} == \
        {"generic_online_page", "driver_online_page"}
    assert all(graph.edges[caller, t]["indirect"] for t in graph.successors(caller))
    assert [site.callee for _, site in program.unresolved] == ["unused_callback"]
