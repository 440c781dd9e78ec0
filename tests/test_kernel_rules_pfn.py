"""Opt-in: KMI001-KMI003 on the real 6.12 slice, unmodified and mutated (issue #5).

KMEMINIT_KERNEL_TREE=/path/to/linux-source-6.12 pytest -m kernel tests/test_kernel_rules_pfn.py
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import KERNEL_SLICE
from kernel_mutation import findings, mutant_program

from kmeminit.analyzer.program import Program

pytestmark = pytest.mark.kernel

# The triaged KMI003 findings of the unmodified 6.12 slice (see the issue note):
# (file, function) -> verdict.  A change here is a change of the rule's behaviour.
KMI003_TRIAGE = {
    ("arch/x86/mm/ioremap.c", "__ioremap_check_ram"): "true",
    ("mm/hwpoison-inject.c", "hwpoison_inject"): "true",
    ("mm/page_owner.c", "read_page_owner"): "true",
    ("mm/vmalloc.c", "vmap_pte_range"): "true",
}


def _rel(tree: Path, finding) -> str:
    return str(Path(finding.location.file).relative_to(tree.resolve()))


def test_kmi001_silent_on_unmodified_tree(kernel_program: Program) -> None:
    assert findings(kernel_program, "KMI001") == []


def test_kmi001_fires_when_online_moves_before_init(kernel_tree: Path, kernel_store: Path,
                                                    tmp_path: Path) -> None:
    init = "\tmove_pfn_range_to_zone(zone, pfn, nr_pages, NULL, MIGRATE_ISOLATE);\n"
    program, mutant = mutant_program(
        kernel_tree, kernel_store, KERNEL_SLICE, "mm/memory_hotplug.c", init,
        "\tonline_mem_sections(pfn, pfn + nr_pages);\n" + init, tmp_path)
    [finding] = findings(program, "KMI001")
    assert finding.location.file == str(mutant) and finding.function == "online_pages"
    assert "online_mem_sections" in finding.message
    assert finding.related and "move_pfn_range_to_zone" in finding.related[0].message


def test_kmi002_zone_device_window(kernel_tree: Path, kernel_program: Program) -> None:
    [finding] = findings(kernel_program, "KMI002")
    assert finding.function == "pagemap_range"
    assert _rel(kernel_tree, finding) == "mm/memremap.c"
    labels = [s.message.split(":")[0] for s in finding.trace if not s.message.startswith(
        "calls")]
    assert labels == ["pfns become valid", "the hotplug lock is dropped",
                      "the memmap is initialised only now"]
    assert "mem_hotplug_done" in finding.trace[-2].message
    assert "memmap_init_zone_device" in finding.trace[-1].message


def test_kmi003_findings_are_the_triaged_ones(kernel_tree: Path,
                                              kernel_program: Program) -> None:
    found = {(_rel(kernel_tree, f), f.function) for f in findings(kernel_program, "KMI003")}
    assert found == set(KMI003_TRIAGE)
    verdicts = list(KMI003_TRIAGE.values())
    assert verdicts.count("true") / len(verdicts) >= 0.8


MUTATIONS = [
    # /proc/kpagecount: back to the pre-2019 pfn_valid() walker
    ("fs/proc/page.c", "\t\tpage = pfn_to_online_page(pfn);\n\t\tif (page)\n",
     "\t\tpage = pfn_valid(pfn) ? pfn_to_page(pfn) : NULL;\n\t\tif (page)\n",
     "kpagecount_read"),
    # /proc/kpageflags: the read goes through stable_page_flags() (interprocedural)
    ("fs/proc/page.c", "\t\tstruct page *page = pfn_to_online_page(pfn);\n",
     "\t\tstruct page *page = pfn_valid(pfn) ? pfn_to_page(pfn) : NULL;\n",
     "kpageflags_read"),
    # /proc/pagetypeinfo block counts: a zone-span walker
    ("mm/vmstat.c", "\t\tpage = pfn_to_online_page(pfn);\n\t\tif (!page)\n\t\t\tcontinue;\n",
     "\t\tif (!pfn_valid(pfn))\n\t\t\tcontinue;\n\t\tpage = pfn_to_page(pfn);\n",
     "pagetypeinfo_showblockcount_print"),
    # page_owner's mixed-count walker
    ("mm/page_owner.c", "\t\tpage = pfn_to_online_page(pfn);\n\t\tif (!page) {\n",
     "\t\tpage = pfn_valid(pfn) ? pfn_to_page(pfn) : NULL;\n\t\tif (!page) {\n",
     "pagetypeinfo_showmixedcount_print"),
]


@pytest.mark.parametrize("rel, old, new, function", MUTATIONS, ids=[m[3] for m in MUTATIONS])
def test_kmi003_fires_on_reverted_walkers(kernel_tree: Path, kernel_store: Path,
                                          tmp_path: Path, rel: str, old: str, new: str,
                                          function: str) -> None:
    program, mutant = mutant_program(kernel_tree, kernel_store, KERNEL_SLICE, rel, old, new,
                                     tmp_path)
    already = {fn for _, fn in KMI003_TRIAGE}
    hits = [f for f in findings(program, "KMI003")
            if f.location.file == str(mutant) and f.function not in already]
    assert [f.function for f in hits] == [function]
    assert "pfn_valid()" in hits[0].message and "pfn_to_online_page()" in hits[0].message
