"""PG_reserved inventory on the 6.12 slice: 100 % recall against a grep done at test time.

Opt-in: KMEMINIT_KERNEL_TREE=/path/to/linux-source-6.12 pytest -m kernel
tests/test_kernel_reserved.py (KMEMINIT_KERNEL_STORE keeps the fact store warm).

The grep covers the analysed .c files (the slice's compile commands).  A hit counts when
it is code this configuration compiles: comments are stripped, lines outside every
analysed function's extent are #ifdef'd-out code (the function is not in the program),
and a call inside a debug macro compiled out without CONFIG_DEBUG_VM (VM_WARN_ON*,
VM_BUG_ON*: `BUILD_BUG_ON_INVALID`, an unevaluated sizeof) is not a call.  Header
inline functions are outside the grep; their sites are in the inventory when analysed
code calls them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.kernel import kernel_facts
from kmeminit.analyzer.program import Program

pytestmark = pytest.mark.kernel

SETTERS = re.compile(r"\b(?:__)?(?:SetPage|ClearPage)Reserved\s*\(|"
                     r"\b(?:__)?folio_(?:set|clear)_reserved\s*\(|"
                     r"\b(?:__)?(?:set|clear)_bit\s*\(\s*PG_reserved\b")
READERS = re.compile(r"\bPageReserved\s*\(|\bfolio_test_reserved\s*\(|"
                     r"\btest_bit\s*\(\s*PG_reserved\b")
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
DEBUG_VM = re.compile(r"\bVM_(?:WARN|BUG)_ON\w*\s*\(")


def _code_lines(path: Path) -> list[str]:
    """The file's lines with comments blanked (newlines kept, so numbers stay)."""
    text = path.read_text(errors="replace")
    return COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text).splitlines()


def _grep(program: Program, kernel_tree: Path, pattern: re.Pattern[str]
          ) -> set[tuple[str, int]]:
    debug_vm = "CONFIG_DEBUG_VM=y" in (kernel_tree / ".config").read_text()
    extents: dict[str, list[tuple[int, int]]] = {}
    for fn in program.functions.values():
        extents.setdefault(fn.file, []).append((fn.line, fn.end_line))
    hits = set()
    for tu in program.tus:
        for number, line in enumerate(_code_lines(Path(tu)), 1):
            if not pattern.search(line):
                continue
            if not any(a <= number <= b for a, b in extents.get(tu, [])):
                continue  # in no compiled function: preprocessed out
            if not debug_vm and DEBUG_VM.search(line):
                continue
            hits.add((tu, number))
    return hits


@pytest.fixture(scope="module")
def analysis(kernel_program: Program):
    return kernel_facts(kernel_program, load_config()).reserved


def test_every_set_and_clear_is_in_the_inventory(kernel_program: Program, kernel_tree: Path,
                                                 analysis) -> None:
    grepped = _grep(kernel_program, kernel_tree, SETTERS)
    found = {(s.location.file, s.location.line) for s in analysis.sites}
    missing = sorted(grepped - found)
    assert not missing, f"recall {len(grepped & found)}/{len(grepped)}; missing {missing}"
    mm = {(f, n) for f, n in grepped if "/mm/" in f and "/arch/" not in f}
    assert len(mm) >= 8  # kernel-prep.md: 8 call sites in mm/ for this config
    reached = {(r.site.location.file, r.site.location.line) for r in analysis.reaches}
    assert found <= reached  # every site is in the KMI006 inventory, entry or "none"


def test_every_reader_is_in_the_inventory(kernel_program: Program, kernel_tree: Path,
                                          analysis) -> None:
    grepped = _grep(kernel_program, kernel_tree, READERS)
    found = {(r.location.file, r.location.line) for r in analysis.readers}
    missing = sorted(grepped - found)
    assert not missing, f"recall {len(grepped & found)}/{len(grepped)}; missing {missing}"
    assert len(grepped) >= 14


def test_zone_device_and_hotplug_conditions(analysis) -> None:
    by = {(r.entry, r.site.function): r for r in analysis.reaches}
    device = by[("memremap_pages", "memmap_init_range")]
    assert {"context == MEMINIT_HOTPLUG", "zone == ZONE_DEVICE"} <= set(device.conditions)
    assert by[("memremap_pages", "__init_zone_device_page")].site.op == "set"
    assert analysis.entry_effect(
        next(u for k, u in analysis.entry_kinds() if k == "freeing"
             and analysis.program.name_of(u) == "free_reserved_page")) == "cleared"
