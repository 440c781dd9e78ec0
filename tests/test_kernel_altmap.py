"""Opt-in: the altmap rules (KMI004, KMI005) and the origin inventory on the 6.12 slice.

KMEMINIT_KERNEL_TREE=/path/to/linux-source-6.12 pytest -m kernel tests/test_kernel_altmap.py

The mutation test indexes a scratch copy of mm/sparse-vmemmap.c (the tree is never touched)
with a helper that recovers the dev_pagemap from the altmap on the section-population
path, into a copy of the store, so only that TU is parsed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import KERNEL_SLICE

from kmeminit.analyzer.compdb import open_compdb
from kmeminit.analyzer.config import Config, load_config
from kmeminit.analyzer.dataflow.inventory import inventory
from kmeminit.analyzer.index import index_entries
from kmeminit.analyzer.kernel import kernel_facts
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.rules import build_rules, run_rules
from kmeminit.analyzer.store import FactStore

pytestmark = pytest.mark.kernel

ALTMAP = "struct vmem_altmap *"
PATH_FUNCTIONS = {"add_pages", "arch_add_memory", "__add_pages", "sparse_add_section",
                  "section_activate", "populate_section_memmap", "__populate_section_memmap",
                  "vmemmap_populate", "pagemap_range", "move_pfn_range_to_zone",
                  "memmap_init_range"}


def run(program: Program, rules: set[str], config: Config | None = None) -> list:
    config = config or load_config()
    checkers, _ = build_rules(rules, config)
    findings, notes = run_rules(checkers, program, config, debug=True)
    assert not notes
    return findings


def kinds_of(program: Program) -> dict[str, set[str]]:
    sets = inventory(kernel_facts(program, load_config()).origins(ALTMAP), PATH_FUNCTIONS).sets
    return {f"{s.function}:{s.variable}": set(s.kinds) for s in sets}


def test_origins_inventory_along_the_hotplug_and_device_paths(kernel_program) -> None:
    kinds = kinds_of(kernel_program)
    for var in ("__add_pages:parameter params->altmap", "sparse_add_section:parameter 'altmap'",
                "section_activate:parameter 'altmap'",
                "__populate_section_memmap:parameter 'altmap'",
                "vmemmap_populate:parameter 'altmap'"):
        assert {"embedded", "heap"} <= kinds[var], var
    assert kinds["pagemap_range:parameter params->altmap"] == {"embedded"}
    assert kinds["move_pfn_range_to_zone:parameter 'altmap'"] == {"embedded", "null"}
    assert kinds["memmap_init_range:parameter 'altmap'"] == {"embedded", "null"}


def test_no_unsafe_recovery_and_no_pure_proxy_in_6_12(kernel_program) -> None:
    assert run(kernel_program, {"KMI005"}) == []
    config = load_config()
    config = Config({**config.data, "rules": {"KMI004": {"require_recovery": True}}},
                    config.origins)
    assert run(kernel_program, {"KMI004"}, config) == []


def test_kmi004_names_the_pgmap_only_chains_at_their_outermost_parameter(kernel_program
                                                                         ) -> None:
    found = {f.function: f for f in run(kernel_program, {"KMI004"})}
    # the two survey results of main before issue #14, now the default check
    assert set(found) == {"move_pfn_range_to_zone", "compound_nr_pages"}
    move = found["move_pfn_range_to_zone"]
    assert "move_pfn_range_to_zone(altmap) -> memmap_init_range(altmap)" in move.message
    heads = [s.message for s in move.trace if s.message.startswith("[")]
    assert heads[0].startswith("[embedded in struct dev_pagemap.altmap]")
    assert any(h.startswith("[NULL]") for h in heads)  # both origin witnesses
    # nothing on the memmap_on_memory section chain: its altmaps include kmemdup()'d ones
    assert not {"__add_pages", "sparse_add_section", "section_activate",
                "__populate_section_memmap", "vmemmap_populate"} & set(found)


HELPER = """
/* kmeminit mutation test: assumes every altmap sits inside a dev_pagemap */
static unsigned long __meminit altmap_pgmap_shift(struct vmem_altmap *altmap)
{
	struct dev_pagemap *pgmap = container_of(altmap, struct dev_pagemap, altmap);

	return pgmap->vmemmap_shift;
}

"""
SIGNATURE = "struct page * __meminit __populate_section_memmap(unsigned long pfn,"
CALL = "\tunsigned long __maybe_unused kmi_shift = altmap ? altmap_pgmap_shift(altmap) : 0;\n"


def mutate(text: str) -> str:
    at = text.index(SIGNATURE)
    body = text.index("{\n", at) + 2
    return text[:at] + HELPER + text[at:body] + CALL + text[body:]


def test_mutation_recovery_on_the_population_path_fires(kernel_tree: Path,
                                                       tmp_path: Path) -> None:
    tree = kernel_tree.resolve()
    original = tree / "mm" / "sparse-vmemmap.c"
    scratch = tmp_path / "mm" / "sparse-vmemmap.c"
    scratch.parent.mkdir()
    scratch.write_text(mutate(original.read_text()))
    db = json.loads((tree / "compile_commands.json").read_text())
    [entry] = [e for e in db if os.path.realpath(os.path.join(e["directory"], e["file"]))
               == str(original)]
    mutated = dict(entry, file=str(scratch))
    command = entry["command"].rsplit(" ", 1)
    mutated["command"] = f"{command[0]} -iquote {tree}/mm {scratch}"
    (tmp_path / "compile_commands.json").write_text(json.dumps([mutated] + db))
    config = load_config()
    warm = os.environ.get("KMEMINIT_KERNEL_STORE")
    store_path = tmp_path / "facts.db"
    if warm and Path(warm).is_file():
        shutil.copyfile(warm, store_path)
    slice_entries = [e for e in open_compdb(tmp_path, config, KERNEL_SLICE, str(tree)).entries
                     if e.file != str(original)]
    [scratch_entry] = open_compdb(tmp_path, config, [str(scratch)], str(tree)).entries
    entries = slice_entries + [scratch_entry]
    stats = index_entries(entries, FactStore(store_path), config, jobs=os.cpu_count() or 1,
                          timeout=300)
    assert stats.failed == 0, [n.message for n in stats.notifications]
    program = Program.from_store(FactStore(store_path), [e.file for e in entries])
    [finding] = run(program, {"KMI005"})
    assert finding.function == "altmap_pgmap_shift"
    assert Path(finding.location.file) == scratch
    heads = [s.message for s in finding.trace if s.message.startswith("[")]
    assert heads[0].startswith("[standalone heap object (kmemdup)]")
    assert any(h.startswith("[embedded in struct dev_pagemap.altmap]") for h in heads)
    chain = [s.function for s in finding.trace]
    assert "create_altmaps_and_memory_blocks" in chain and "__populate_section_memmap" in chain
