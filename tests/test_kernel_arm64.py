"""Opt-in: an arm64 6.12 tree (KMEMINIT_ARM64_TREE, prepared by `ARCH=arm64
scripts/prepare-kernel.sh DIR`; KMEMINIT_ARM64_STORE keeps its store between sessions).
About 5 minutes on 2 cores with a cold store.

- `kmeminit check` parses every C TU of the slice for aarch64 with 0 error diagnostics,
  skips the assembly files with one notice, and names the run kmeminit/arm64/;
- the kbuild flow (`make ARCH=arm64 C=2 CHECK=kmeminit-cc`) gives the same arguments, hence
  the same cache keys, as the compile database;
- `kmeminit graph` has the arm64 hotplug chain arch_add_memory -> ... -> vmemmap_populate
  and the remove chain arch_remove_memory -> ... -> vmemmap_free, arch code at both ends;
- with KMEMINIT_KERNEL_TREE too: the findings match the x86_64 run wherever the code is
  shared (a finding site in a file both slices compile outside arch/ is in both runs, unless
  its path runs through arch/ code or through a function the other configuration does not
  compile)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

from kmeminit.analyzer.compdb import open_compdb
from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.store import FactStore
from tests.conftest import KERNEL_SLICE

pytestmark = pytest.mark.arm64

KMEMINIT = [sys.executable, "-m", "kmeminit.analyzer.cli"]
REPO = Path(__file__).resolve().parent.parent
ARM64_SLICE = [p.replace("arch/x86/", "arch/arm64/") for p in KERNEL_SLICE]


def _check(tree: Path, paths: list[str], store: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*KMEMINIT, "check", "-p", str(tree), *paths, "--store", str(store),
                           "--format", "sarif", "-o", str(out), "--fail-on", "none",
                           "--no-progress", "-j2"],
                          cwd=REPO, capture_output=True, text=True, timeout=3600)


@pytest.fixture(scope="module")
def arm64_tree() -> Path:
    return Path(os.environ["KMEMINIT_ARM64_TREE"]).resolve()


@pytest.fixture(scope="module")
def arm64_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(os.environ.get("KMEMINIT_ARM64_STORE")
                or tmp_path_factory.mktemp("arm64") / "facts.db")


@pytest.fixture(scope="module")
def arm64_run(arm64_tree: Path, arm64_store: Path,
              tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess,
                                                                 dict]:
    out = tmp_path_factory.mktemp("arm64-out") / "arm64.sarif"
    proc = _check(arm64_tree, ARM64_SLICE, arm64_store, out)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc, json.loads(out.read_text())


def test_every_c_tu_parses_for_aarch64_without_errors(arm64_tree: Path, arm64_store: Path,
                                                     arm64_run: tuple) -> None:
    proc, log = arm64_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    db = open_compdb(arm64_tree, load_config(), ARM64_SLICE)
    assert len(db.entries) > 150 and db.not_c > 0
    summary = f"{len(db.entries)} TUs: "
    assert summary in proc.stderr
    assert "0 parsed with errors, 0 failed" in proc.stderr, proc.stderr[-3000:]
    run = log["runs"][0]
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is True
    notes = invocation.get("toolExecutionNotifications", [])
    assert [n for n in notes if n["level"] == "error"] == []
    skipped = [n["message"]["text"] for n in notes if "not C skipped" in n["message"]["text"]]
    assert len(skipped) == 1 and skipped[0].startswith(f"{db.not_c} compile commands")
    # one notice per ignored flag for the whole run, never one per TU
    flags = [n["message"]["text"] for n in notes if "command-line flag" in n["message"]["text"]]
    assert len(flags) == len(set(flags))
    assert run["automationDetails"]["id"] == "kmeminit/arm64/"
    selected = {e.file for e in db.entries}
    commands = [c for c in FactStore(arm64_store).commands() if c.file in selected]
    assert len(commands) == len(selected)
    assert all(c.clang_args[0] == "--target=aarch64-linux-gnu" and c.arch == "arm64"
               for c in commands)


def test_kbuild_flow_has_the_compile_database_arguments(arm64_tree: Path,
                                                        tmp_path: Path) -> None:
    cc = shutil.which("kmeminit-cc", path=str(Path(sys.executable).parent))
    assert cc, "kmeminit-cc is not installed next to this python"
    store = tmp_path / "kbuild.db"
    env = dict(os.environ, KMEMINIT_STORE=str(store))
    env.pop("KMEMINIT_FAULT", None)
    make = subprocess.run(["make", "-s", "ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-",
                           "C=2", f"CHECK={cc}", "mm/sparse.o", "arch/arm64/mm/mmu.o"],
                          cwd=arm64_tree, env=env, capture_output=True, text=True, timeout=900)
    assert make.returncode == 0, make.stderr[-3000:]
    assert "Traceback" not in make.stderr
    db = open_compdb(arm64_tree, load_config(), ["mm/sparse.c", "arch/arm64/mm/mmu.c"])
    wanted = {e.file for e in db.entries}
    stored = {c.file: c.clang_args for c in FactStore(store).commands() if c.file in wanted}
    assert stored == {e.file: e.clang_args for e in db.entries}


def _program(tree: Path, store: Path, paths: list[str]) -> Program:
    entries = open_compdb(tree, load_config(), paths).entries
    return Program.from_store(FactStore(store), [e.file for e in entries])


@pytest.mark.parametrize("source, sink", [("arch_add_memory", "vmemmap_populate"),
                                          ("arch_remove_memory", "vmemmap_free")])
def test_arm64_hotplug_chains_in_graph(arm64_tree: Path, arm64_store: Path, arm64_run: tuple,
                                       tmp_path: Path, source: str, sink: str) -> None:
    out = tmp_path / "graph.json"
    proc = subprocess.run([*KMEMINIT, "graph", "-p", str(arm64_tree), *ARM64_SLICE,
                           "--store", str(arm64_store), "--from", source, "--to", sink,
                           "--format", "json", "-o", str(out), "--no-progress"],
                          cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    graph = json.loads(out.read_text())
    nodes = {n["id"]: n for n in graph["nodes"]}
    g = nx.DiGraph((e["from"], e["to"]) for e in graph["edges"])
    ends = {name: [i for i, n in nodes.items() if n["name"] == name] for name in (source, sink)}
    assert all(nodes[i]["file"].startswith("arch/arm64/mm/") for i in ends[source] + ends[sink])
    assert any(nx.has_path(g, a, b) for a in ends[source] for b in ends[sink])
    through = {nodes[i]["name"] for i in g.nodes}
    assert ("__add_pages" if source == "arch_add_memory" else "__remove_pages") in through


def _steps(result: dict) -> list[tuple[str | None, str]]:
    """(function, file) of the primary location and of every trace step."""
    locations = [result["locations"][0]]
    locations += [step["location"] for flow in result.get("codeFlows", [])
                  for thread in flow["threadFlows"] for step in thread["locations"]]
    return [((loc.get("logicalLocations") or [{}])[0].get("name"),
             loc["physicalLocation"]["artifactLocation"]["uri"]) for loc in locations]


def _sites(log: dict, shared: set[str]) -> dict[tuple[str, str, int], dict]:
    out = {}
    for result in log["runs"][0]["results"]:
        loc = result["locations"][0]["physicalLocation"]
        if loc["artifactLocation"]["uri"] in shared:
            out[(result["ruleId"], loc["artifactLocation"]["uri"],
                 loc["region"]["startLine"])] = result
    return out


@pytest.mark.kernel
def test_findings_match_x86_64_where_the_code_is_shared(
        arm64_tree: Path, arm64_store: Path, arm64_run: tuple, kernel_tree: Path,
        kernel_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "x86.sarif"
    proc = _check(kernel_tree, KERNEL_SLICE, kernel_store, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    x86_log, arm64_log = json.loads(out.read_text()), arm64_run[1]
    assert x86_log["runs"][0]["automationDetails"]["id"] == "kmeminit/x86_64/"
    programs = {"x86_64": _program(kernel_tree, kernel_store, KERNEL_SLICE),
                "arm64": _program(arm64_tree, arm64_store, ARM64_SLICE)}
    roots = {"x86_64": os.path.realpath(kernel_tree), "arm64": os.path.realpath(arm64_tree)}
    functions = {arch: {(f.name, os.path.relpath(f.file, roots[arch]))
                        for f in program.functions.values()}
                 for arch, program in programs.items()}
    files = {arch: {os.path.relpath(e.file, roots[arch])
                    for e in open_compdb(Path(roots[arch]), load_config(),
                                         KERNEL_SLICE if arch == "x86_64" else ARM64_SLICE
                                         ).entries}
             for arch in roots}
    shared = {f for f in files["x86_64"] & files["arm64"] if not f.startswith("arch/")}
    sites = {"x86_64": _sites(x86_log, shared), "arm64": _sites(arm64_log, shared)}
    assert len(sites["x86_64"]) > 10
    unexplained = []
    for arch, other in (("x86_64", "arm64"), ("arm64", "x86_64")):
        for site, result in sites[arch].items():
            if site in sites[other]:
                continue
            why = [s for s in _steps(result)
                   if s[1].startswith("arch/") or s not in functions[other]]
            if not why:
                unexplained.append((arch, *site))
    assert unexplained == []
