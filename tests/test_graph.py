"""`kmeminit graph` on the example tree: golden DOT, other formats, errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kmeminit.analyzer.cli import main

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "minikernel"
GOLDEN = REPO / "tests" / "golden" / "minikernel_memremap.dot"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("example")
    subprocess.run([sys.executable, str(EXAMPLE / "gen_compdb.py"), str(out)], check=True,
                   capture_output=True)
    return out


def graph(example: Path, tmp_path: Path, *args: str) -> tuple[int, str]:
    out = tmp_path / "g.out"
    code = main(["graph", "-p", str(example), "--source-root", str(EXAMPLE), "--store",
                 str(tmp_path / "facts.db"), "--no-progress", "-o", str(out), *args])
    return code, out.read_text() if out.exists() else ""


def test_golden_dot(example: Path, tmp_path: Path, update_golden: bool) -> None:
    code, dot = graph(example, tmp_path, "--from", "memremap_pages", "--to",
                      "__init_zone_device_page")
    assert code == 0
    if update_golden:
        GOLDEN.write_text(dot)
    assert dot == GOLDEN.read_text()
    assert "memremap_pages\\nmm/memremap.c:" in dot


def test_neighbourhood_json_and_graphml(example: Path, tmp_path: Path) -> None:
    code, text = graph(example, tmp_path, "--function", "free_zone_device_page", "--depth",
                       "1", "--format", "json")
    assert code == 0
    data = json.loads(text)
    names = {n["name"] for n in data["nodes"]}
    assert "dmirror_devmem_free" in names  # reached through pgmap->ops->page_free
    assert any(e["indirect"] for e in data["edges"])
    code, text = graph(example, tmp_path, "--function", "pagemap_range", "--format", "graphml")
    assert code == 0 and text.startswith("<?xml")


def test_focus_events_and_legend(example: Path, tmp_path: Path) -> None:
    code, dot = graph(example, tmp_path, "--from", "memremap_pages", "--to",
                      "__init_zone_device_page")
    assert code == 0
    focused = re.findall(r'label="(\w+)\\n[^"]*"[^;]*fillcolor="#fff4d6"', dot)
    assert sorted(focused) == ["__init_zone_device_page", "memremap_pages"]
    assert "subgraph cluster_legend" in dot and 'legend_direct_b [label="direct call"]' in dot
    assert re.search(r'label="__init_zone_device_page\\n[^"]*\\n\[INIT\] \[reserved-set\]"',
                     dot)
    assert "[reserved-set] sets PG_reserved" in dot


def test_max_nodes_folds_the_farthest(example: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    args = ("--function", "memremap_pages", "--depth", "6", "--format", "json")
    code, text = graph(example, tmp_path, *args, "--max-nodes", "0")
    everything = {n["id"] for n in json.loads(text)["nodes"]}
    code, text = graph(example, tmp_path, *args, "--max-nodes", "20")
    assert code == 0
    data = json.loads(text)
    kept = [n for n in data["nodes"] if not n["collapsed"]]
    folded = [n for n in data["nodes"] if n["collapsed"]]
    assert len(kept) == 20 and {n["id"] for n in kept} <= everything
    assert [n["name"] for n in kept if n["focus"]] == ["memremap_pages"]
    counts = [int(re.match(r"… (\d+) more (callers|callees|caller|callee)$", n["name"])[1])
              for n in folded]
    assert sum(counts) == len(everything) - 20
    ids = {n["id"] for n in data["nodes"]}
    assert all(e["from"] in ids and e["to"] in ids for e in data["edges"])
    assert f"graph of 20 functions ({len(everything) - 20} folded, --max-nodes)" in \
        capsys.readouterr().err


def test_svg_without_graphviz(example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "dot" else real(name))
    code, svg = graph(example, tmp_path, "--from", "memremap_pages", "--to",
                      "__init_zone_device_page", "--format", "svg")
    assert code == 0 and svg.startswith('<?xml version="1.0"')
    assert '<svg class="kmi-graph"' in svg and '<g class="node focus"' in svg
    assert 'class="legend"' in svg and svg.count('class="edge direct"') > 3
    assert "Graphviz's dot is not installed; the SVG uses kmeminit's built-in layout" in \
        capsys.readouterr().err
    ET.fromstring(svg.split("\n", 1)[1])  # well-formed XML


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
def test_svg(example: Path, tmp_path: Path) -> None:
    code, svg = graph(example, tmp_path, "--from", "memremap_pages", "--to",
                      "__init_zone_device_page", "--format", "svg")
    assert code == 0 and "<svg" in svg


@pytest.mark.parametrize("args, message", [
    (["--from", "no_such_fn", "--to", "pagemap_range"], "no function named no_such_fn"),
    (["--from", "pgmap_altmap", "--to", "online_pages"], "no call path"),
    ([], "needs --from and --to, or --function"),
])
def test_graph_errors(example: Path, tmp_path: Path, args: list[str], message: str,
                      capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = graph(example, tmp_path, *args)
    assert code == 2
    assert message in capsys.readouterr().err
