"""Opt-in: KMI001-KMI003 on the real 6.12 slice, unmodified and mutated (issues #5, #14).

KMEMINIT_KERNEL_TREE=/path/to/linux-source-6.12 pytest -m kernel tests/test_kernel_rules_pfn.py
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import KERNEL_SLICE
from kernel_mutation import findings, mutant_program
from precision_table import triage_table

from kmeminit.analyzer.config import Config, load_config
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.rules import build_rules, run_rules

pytestmark = pytest.mark.kernel

# The triaged KMI003 findings of the unmodified 6.12 slice: docs/precision.md.  Issue #14
# dropped mm/vmalloc.c:vmap_pte_range (its only read is dump_page() before BUG()).
KMI003_TRIAGE = {(row.location.split(":")[0], row.function): row.verdict
                 for row in triage_table() if row.rule == "KMI003"}


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
    assert set(KMI003_TRIAGE.values()) <= {"true", "benign"}


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


def _hits(program: Program, mutant: Path, config: Config | None = None) -> list:
    config = config or load_config()
    checkers, _ = build_rules({"KMI003"}, config)
    found, _ = run_rules(checkers, program, config, debug=True)
    already = {fn for _, fn in KMI003_TRIAGE}
    return [f for f in found if f.location.file == str(mutant) and f.function not in already]


# /proc/pagetypeinfo's block counter, with the guards of issue #14: a section-level
# memmap-exists predicate, and a conversion hidden in pfn_to_nid().
VMSTAT_GUARD = "\t\tpage = pfn_to_online_page(pfn);\n\t\tif (!page)\n\t\t\tcontinue;\n"


def test_kmi003_section_level_guard_is_named(kernel_tree: Path, kernel_store: Path,
                                             tmp_path: Path) -> None:
    program, mutant = mutant_program(
        kernel_tree, kernel_store, KERNEL_SLICE, "mm/vmstat.c", VMSTAT_GUARD,
        "\t\tif (!valid_section(__pfn_to_section(pfn)))\n\t\t\tcontinue;\n"
        "\t\tpage = pfn_to_page(pfn);\n", tmp_path)
    [hit] = _hits(program, mutant)
    assert hit.function == "pagetypeinfo_showblockcount_print"
    assert "checked only by valid_section()" in hit.message


def test_kmi003_pfn_to_nid_is_a_conversion_and_a_read(kernel_tree: Path, kernel_store: Path,
                                                      tmp_path: Path) -> None:
    program, mutant = mutant_program(
        kernel_tree, kernel_store, KERNEL_SLICE, "mm/vmstat.c", VMSTAT_GUARD,
        "\t\tif (!pfn_valid(pfn) || pfn_to_nid(pfn) != zone_to_nid(zone))\n"
        "\t\t\tcontinue;\n\t\tpage = pfn_to_page(pfn);\n", tmp_path)
    hits = _hits(program, mutant)
    assert {h.function for h in hits} == {"pagetypeinfo_showblockcount_print"}
    assert any(h.message.startswith("pfn_to_nid() reads the struct page of "
                                    "[pfn_to_nid(pfn)]") for h in hits)


def test_kmi003_every_caller_validates_the_pageblock(kernel_tree: Path, kernel_store: Path,
                                                     tmp_path: Path) -> None:
    """isolate_freepages_block() given a pfn_valid() check of its own: all three callers
    (isolate_freepages_range, fast_isolate_around, isolate_freepages) validate the
    pageblock with pageblock_pfn_to_page() first, so it is silent; without caller
    guarantees it would be reported."""
    old = "\tpage = pfn_to_page(blockpfn);\n\n\t/* Isolate free pages. */\n"
    program, mutant = mutant_program(
        kernel_tree, kernel_store, KERNEL_SLICE, "mm/compaction.c", old,
        "\tif (!pfn_valid(blockpfn))\n\t\treturn 0;\n" + old, tmp_path)
    assert _hits(program, mutant) == []
    config = load_config()
    config = Config({**config.data, "rules": {"KMI003": {"caller_levels": 0}}},
                    config.origins)
    [hit] = _hits(program, mutant, config)
    assert hit.function == "isolate_freepages_block"
