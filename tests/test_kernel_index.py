"""Opt-in: index the real 6.12 slice and check facts every later rule relies on.

Run with KMEMINIT_KERNEL_TREE=/path/to/linux-source-6.12 pytest -m kernel
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from analyzer.compdb import open_compdb
from analyzer.config import load_config
from analyzer.dataflow.cfg import call_precedes
from analyzer.index import index_entries
from analyzer.program import Program
from analyzer.store import FactStore

pytestmark = pytest.mark.kernel

SLICE = ["mm/", "fs/proc/", "drivers/base/memory.c", "arch/x86/mm/", "drivers/dax/",
         "drivers/nvdimm/", "kernel/resource.c"]


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Program:
    tree = Path(os.environ["KMEMINIT_KERNEL_TREE"])
    config = load_config()
    selected = open_compdb(tree, config, SLICE).entries
    store_path = Path(os.environ.get("KMEMINIT_KERNEL_STORE")
                      or tmp_path_factory.mktemp("store") / "facts.db")
    store = FactStore(store_path)
    stats = index_entries(selected, store, config, jobs=os.cpu_count() or 1, timeout=300)
    assert stats.failed == 0, [n.message for n in stats.notifications]
    assert stats.selected > 100
    return Program.from_store(store, [e.file for e in selected])


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
