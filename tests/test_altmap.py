"""The altmap rules' shared machinery (issue #6): origins of source-text expressions,
recovery sites, the KMI004 survey mode, KMI005 witnesses, and `kmeminit origins`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import build_program, compdb_for

from kmeminit.analyzer.cli import main
from kmeminit.analyzer.config import Config, load_config
from kmeminit.analyzer.dataflow.origins import OriginEngine, OriginSpec, bare_expression
from kmeminit.analyzer.kernel.altmap import AltmapSpec, recoveries
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.reports import Origin
from kmeminit.analyzer.rules import build_rules, run_rules

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EMBEDDED = Origin("embedded", "struct dev_pagemap.altmap")
HEAP = Origin("heap", "kmemdup")


def fn_named(program: Program, name: str):
    [fn] = [f for f in program.named(name) if not f.from_header]
    return fn


@pytest.mark.parametrize(("text", "bare"), [
    ("altmap", "altmap"),
    ("( altmap )", "altmap"),
    ("(void *)(mem->altmap)", "mem->altmap"),
    ("(const struct vmem_altmap *) params -> altmap", "params->altmap"),
    ("(a)->b", "(a)->b"),
])
def test_bare_expression(text: str, bare: str) -> None:
    assert bare_expression(text) == bare


@pytest.fixture(scope="module")
def program_origins(tmp_path_factory: pytest.TempPathFactory) -> tuple[Program, OriginEngine]:
    files = [FIXTURES / "program" / f for f in ("origins.c",)]
    program = build_program(files, tmp_path_factory.mktemp("origins"))
    return program, OriginEngine(program, OriginSpec(
        "struct vmem_altmap *", frozenset({"kmemdup", "kzalloc"}),
        (("pgmap_altmap", "struct dev_pagemap.altmap"),)))


@pytest.mark.parametrize("text", ["altmap", "params->altmap", "(void *)( params->altmap )"])
def test_value_of_text_resolves_locals_and_struct_parameters(program_origins, text) -> None:
    program, engine = program_origins
    add = fn_named(program, "add_pages")
    assert set(engine.value_of_text(add, text)) == {EMBEDDED, HEAP}


def test_value_of_text_parameters_globals_and_unknowns(program_origins) -> None:
    program, engine = program_origins
    remove = fn_named(program, "hotplug_remove")
    assert set(engine.value_of_text(remove, "mem->altmap")) == {HEAP}
    early = fn_named(program, "early_add")
    assert [o.kind for o in engine.value_of_text(early, "nr + 1")] == ["unknown"]


@pytest.fixture(scope="module")
def kmi005(tmp_path_factory: pytest.TempPathFactory) -> Program:
    return build_program(sorted((FIXTURES / "KMI005").glob("*.c")),
                         tmp_path_factory.mktemp("kmi005"))


def test_recoveries_container_of_and_offsetof(kmi005: Program) -> None:
    spec = AltmapSpec.from_config(load_config())
    found = {(fn.name, r.macro.name, r.expr) for fn in kmi005.functions.values()
             for r in recoveries(fn, spec)}
    assert ("params_shift", "offsetof", "(char *)altmap") in found
    assert ("block_shift", "container_of", "mem->altmap") in found
    assert ("null_shift", "container_of_const", "altmap") in found
    assert not any(name == "chunk_used" for name, _, _ in found)


def test_kmi005_witness_has_every_origin_kind(kmi005: Program) -> None:
    config = load_config()
    checkers, _ = build_rules({"KMI005"}, config)
    findings, _ = run_rules(checkers, kmi005, config, debug=True)
    [any_shift] = [f for f in findings if f.function == "any_shift"]
    heads = [s.message for s in any_shift.trace if s.message.startswith("[")]
    assert heads[0].startswith("[standalone heap object (kmemdup)]")
    assert any(h.startswith("[embedded in struct dev_pagemap.altmap]") for h in heads)
    assert any_shift.trace[-1].function == "any_shift"
    assert "container_of(altmap, struct dev_pagemap, altmap)" in any_shift.trace[-1].message
    [stack] = [f for f in findings if f.function == "params_shift"]
    assert "standalone stack object 'boot'" in stack.message
    [foreign] = [f for f in findings if f.function == "carried_shift"]
    assert "embedded in struct fx_carrier.altmap" in foreign.message


def kmi004_findings(tmp_path: Path, recovery_only: bool) -> dict[str, str]:
    program = build_program(sorted((FIXTURES / "KMI004").glob("*.c")), tmp_path)
    config = load_config()
    if recovery_only:
        config = Config({**config.data, "rules": {"KMI004": {"require_recovery": True}}},
                        config.origins)
    checkers, notes = build_rules({"KMI004"}, config)
    assert not notes
    findings, _ = run_rules(checkers, program, config, debug=True)
    return {f.function: f.message for f in findings}


def test_kmi004_reports_every_pgmap_only_chain_once(tmp_path: Path) -> None:
    found = kmi004_findings(tmp_path, recovery_only=False)
    # real altmap users with pgmap-only origins too; a chain is reported once, at the top
    assert set(found) == {"device_reserve", "free_after_reserve", "align_and_shift",
                          "params_shift", "offset_flags", "init_device_range", "device_base",
                          "device_free", "device_align"}
    assert "could take the struct dev_pagemap *" in found["align_and_shift"]
    assert "align_and_shift(altmap) -> shift_of(altmap)" in found["align_and_shift"]
    assert "shift_of() recovers the struct dev_pagemap" in found["align_and_shift"]
    # a pure proxy chain gets the stronger message
    assert "is only a proxy for the struct dev_pagemap" in found["device_reserve"]
    assert "device_reserve(altmap) -> reserve_pfns(altmap) -> reserve_of(altmap)" in \
        found["device_reserve"]


def test_kmi004_recovery_only_reports_the_pure_proxies(tmp_path: Path) -> None:
    found = kmi004_findings(tmp_path, recovery_only=True)
    assert set(found) == {"device_reserve", "shift_of", "params_shift", "offset_flags"}
    assert all("is only a proxy" in m for m in found.values())


def test_origins_command_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sources = sorted((FIXTURES / "KMI005").glob("*.c"))
    db = compdb_for(sources, sources[0].parent, tmp_path)
    store = str(tmp_path / "facts.db")
    common = ["origins", "-p", str(db), "--source-root", str(sources[0].parent),
              "--store", store, "--no-progress"]
    assert main(common + ["--function", "block_shift"]) == 0
    text = capsys.readouterr().out
    assert "struct_fields.c:" in text and "block_shift(): parameter mem->altmap: " \
        "standalone heap object (kmemdup)" in text
    assert "    struct_fields.c:" in text  # the witness chain, relative paths
    out = tmp_path / "origins.json"
    assert main(common + ["--format", "json", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["type"] == "struct vmem_altmap *"
    by_name = {(v["function"], v["variable"]): v for v in data["variables"]}
    any_shift = by_name[("any_shift", "parameter 'altmap'")]
    assert any_shift["kinds"] == ["embedded", "heap"]
    assert all(o["witness"] for o in any_shift["origins"])
    assert ("block_shift", "parameter mem->altmap") in by_name
    assert (None, "struct fx_block.altmap") in by_name
    assert main(common + ["--function", "no_such_function"]) == 2
