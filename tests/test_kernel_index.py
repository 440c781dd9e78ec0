"""Opt-in: index the real 6.12 slice and check facts every later rule relies on.

Run with KMEMINIT_KERNEL_TREE=/path/to/linux-source-6.12 pytest -m kernel
"""

from __future__ import annotations

import pytest

from kmeminit.analyzer.dataflow.cfg import call_precedes
from kmeminit.analyzer.program import Program

pytestmark = pytest.mark.kernel

@pytest.fixture(scope="module")
def program(kernel_program: Program) -> Program:
    return kernel_program


def _fn(program: Program, name: str):
    defs = [f for f in program.named(name) if not f.from_header]
    assert defs, f"{name} not found"
    return defs[0]


def _callees(program: Program, name: str) -> set[str]:
    return {c.callee for c in _fn(program, name).calls}


def test_memremap_pages_calls_pagemap_range(program: Program) -> None:
    assert "pagemap_range" in _callees(program, "memremap_pages")


def test_pagemap_range_calls_and_orders(program: Program) -> None:
    fn = _fn(program, "pagemap_range")
    assert {"move_pfn_range_to_zone", "mem_hotplug_done", "memmap_init_zone_device"} <= \
        {c.callee for c in fn.calls}
    assert call_precedes(fn, "mem_hotplug_done", "memmap_init_zone_device")
    assert not call_precedes(fn, "memmap_init_zone_device", "mem_hotplug_done")


def test_zone_device_and_hotplug_callees(program: Program) -> None:
    assert "__init_zone_device_page" in _callees(program, "memmap_init_zone_device")
    assert "sparse_add_section" in _callees(program, "__add_pages")


def test_sections_and_ops_tables(program: Program) -> None:
    assert "__meminit" in _fn(program, "memmap_init_range").sections or \
        any(".meminit" in s for s in _fn(program, "memmap_init_range").sections)
    # drivers/nvdimm/pmem.c fills a dev_pagemap_ops table (.memory_failure)
    assert any(s.record == "struct dev_pagemap_ops" and s.target.startswith("pmem_")
               for s in program.fp_stores)
