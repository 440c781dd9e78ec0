"""Opt-in: the program model and both engines on the real 6.12 slice (issue #3).

KMEMINIT_KERNEL_TREE=/path/to/linux-source-6.12 pytest -m kernel tests/test_kernel_program.py
"""

from __future__ import annotations

import time

import pytest

from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.dataflow.ordering import OrderingEngine, Query
from kmeminit.analyzer.dataflow.origins import OriginEngine, OriginSpec
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.reports import Origin

pytestmark = pytest.mark.kernel


def _usr(program: Program, name: str) -> str:
    [fn] = [f for f in program.named(name) if not f.from_header]
    return fn.usr


def test_page_free_resolves_to_test_hmm(kernel_program: Program) -> None:
    targets = {kernel_program.name_of(t) for t in
               kernel_program.fp_targets("struct dev_pagemap_ops", "page_free")}
    assert "dmirror_devmem_free" in targets
    caller = next(f for f in kernel_program.functions.values()
                  if any(c.indirect and c.field == "page_free" for c in f.calls))
    callees = {kernel_program.name_of(t) for t in kernel_program.graph.successors(caller.usr)}
    assert "dmirror_devmem_free" in callees


def test_valid_unlock_init_witness_from_memremap_pages(kernel_program: Program) -> None:
    config = load_config()
    engine = OrderingEngine(kernel_program, config.name_sets("events"))
    query = Query.sequence("VALID", "UNLOCK", "INIT", kills={1: ["INIT"], 2: ["LOCK"]})
    start = time.perf_counter()
    steps = engine.witness(_usr(kernel_program, "memremap_pages"), query)
    assert time.perf_counter() - start < 60  # generous: a hang guard, not a benchmark
    labelled = [(s.function, s.label, s.callee) for s in steps if s.label != "call"]
    assert [label for _, label, _ in labelled] == ["VALID", "UNLOCK", "INIT"]
    assert labelled[1] == ("pagemap_range", "UNLOCK", "mem_hotplug_done")
    assert labelled[2][2] == "memmap_init_zone_device"
    chain = [s.callee for s in steps if s.label == "call"]
    assert chain[0] == "pagemap_range"
    # arch_add_memory() / add_pages() always activate sections: configured as VALID
    assert labelled[0][:2] == ("pagemap_range", "VALID")
    assert labelled[0][2] in {"arch_add_memory", "add_pages"}


@pytest.fixture(scope="module")
def origins(kernel_program: Program) -> OriginEngine:
    config = load_config()
    section = config.get("origins", "struct vmem_altmap *")
    return OriginEngine(kernel_program, OriginSpec(
        "struct vmem_altmap *", frozenset(section["allocators"]),
        tuple(section["embedded_helpers"].items())))


EMBEDDED = Origin("embedded", "struct dev_pagemap.altmap")


def test_sparse_add_section_altmap_has_both_origins(kernel_program: Program,
                                                    origins: OriginEngine) -> None:
    usr = _usr(kernel_program, "sparse_add_section")
    found = origins.of_param(usr, 3)
    assert EMBEDDED in found
    standalone = [o for o in found if o.standalone]
    assert standalone, found
    chain = found[standalone[0]]
    assert chain[0].function == "create_altmaps_and_memory_blocks"
    assert any(s.function == "pagemap_range" or s.function == "memremap_pages"
               for s in found[EMBEDDED])


def test_add_pages_params_altmap_has_both_origins(kernel_program: Program,
                                                  origins: OriginEngine) -> None:
    """__add_pages takes the altmap inside struct mhp_params (params->altmap)."""
    fn = kernel_program.functions[_usr(kernel_program, "__add_pages")]
    [param] = [p for p in fn.params if p.record == "struct mhp_params"]
    found = origins.of(("pfield", fn.usr, param.index, "struct mhp_params", "altmap"))
    assert EMBEDDED in found and any(o.standalone for o in found)


def test_memmap_init_range_altmap_is_pgmap_or_null(kernel_program: Program,
                                                   origins: OriginEngine) -> None:
    """The seed thread's point: memmap_init_range's altmap only ever comes from a pgmap."""
    fn = kernel_program.functions[_usr(kernel_program, "memmap_init_range")]
    [param] = [p for p in fn.params if p.name == "altmap"]
    assert set(origins.of_param(fn.usr, param.index)) == {EMBEDDED, Origin("null")}
