"""`kmeminit graph` on the example tree: golden DOT, other formats, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
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
