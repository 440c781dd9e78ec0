"""The HTML report: self-contained, every part present, and it opens in a real browser
(Debian's chromium, headless): the DOM after its script ran and a screenshot."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from helpers import EXAMPLE, example_compdb
from sarif_fixtures import make_report, make_tree

from kmeminit.analyzer.cli import main
from kmeminit.analyzer.model import Level, Location
from kmeminit.analyzer.results import Finding
from kmeminit.analyzer.triage import TriageInputs
from kmeminit.analyzer.triage.suppressions import Suppression
from kmeminit.sarif.html import format_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Without the background-networking flags chromium keeps calling home on a closed network.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--hide-scrollbars", "--virtual-time-budget=5000"]


def _self_contained(page: str) -> None:
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page)
    assert not re.search(r"url\(\s*['\"]?https?:", page)
    assert "@import" not in page


def test_report_parts(tmp_path: Path) -> None:
    page = format_html(make_report(make_tree(tmp_path)))
    _self_contained(page)
    assert page.startswith("<!DOCTYPE html>")
    assert 'id="by-rule"' in page and 'id="by-file"' in page and 'id="by-directory"' in page
    # the message links to the related location, which is shown with its source
    assert '<a href="#f2-r1">memmap init</a>' in page
    assert re.search(r'<span class="line hit"><span class="ln">8</span>\s*<mark>'
                     r'set_page_owner</mark>\(page, 0, 0\);</span>', page)
    assert "## What it finds" not in page and "<h2>What it finds</h2>" in page
    assert 'id="rule-KMI003"' in page and "notifications" in page


def test_baseline_states_and_suppressions_are_shown(tmp_path: Path) -> None:
    src = make_tree(tmp_path)
    why = "pages initialised by the caller"
    extra = Finding.make("KMI002", Level.NOTE, "a <b>note</b>",
                         Location(str(src / "mm" / "page_owner.c"), 3), None)
    report = make_report(src, extra_findings=(extra,), inputs=TriageInputs(
        suppressions=(Suppression("s.yaml", 1, why, rule="KMI003", path="mm/*",
                                  function="init_pages"),)))
    page = format_html(report)
    assert 'data-suppressed="yes"' in page and f"Suppressed: {why}" in page
    assert "a &lt;b&gt;note&lt;/b&gt;" in page  # escaped
    assert 'name="suppressed"' in page


def _png_size_and_colours(data: bytes) -> tuple[int, int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    return width, height, len(set(raw[::7]))


@pytest.fixture(scope="module")
def example_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html")
    example_compdb(out)
    page = out / "report.html"
    assert main(["check", "-p", str(out), "--source-root", str(EXAMPLE), "--no-progress",
                 "--store", str(out / "facts.db"), "--fail-on", "none", "--format", "html",
                 "-o", str(page), "--json-output", str(out / "report.json")]) == 0
    return page


def _findings(page: Path) -> int:
    """How many findings the same run has (its JSON output)."""
    return len(json.loads((page.parent / "report.json").read_text())["findings"])


def test_example_report_links_the_inventories(example_report: Path) -> None:
    page = example_report.read_text()
    _self_contained(page)
    assert page.count("<article") == _findings(example_report) > 20
    assert 'id="reserved"' in page and 'id="origins"' in page
    assert 'Evidence: <a href="#reserved-site-' in page
    assert 'Evidence: <a href="#origins-' in page
    assert "<details class=\"fix\" open><summary>Fix: use pfn_to_online_page()" in page


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                    reason="Debian's chromium is not installed (make test installs it as root)")
def test_example_report_in_headless_chromium(example_report: Path, tmp_path: Path) -> None:
    assert CHROMIUM is not None, "CI must have chromium: make test installs it"
    profile = tmp_path / "profile"
    url = example_report.as_uri()
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'data-ready="yes"' in html  # the script ran to its end
    n = _findings(example_report)
    assert f"{n} of {n} findings shown" in html
    rows = re.findall(r'<tr data-value="(KMI00\d)">', html)
    assert rows == [f"KMI00{i}" for i in range(1, 8)]
    assert re.search(r'<span class="line hit"><span class="ln">\d+</span>[^<]*<mark>', html)
    assert re.search(r'<ol class="flow">', html)
    assert re.search(r'<svg class="kmi-graph"[^>]*>', html)
    assert re.search(r'<g class="node focus"', html)
    shot = tmp_path / "report.png"
    run = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}",
                          "--window-size=1400,1800", f"--screenshot={shot}", url],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    width, height, colours = _png_size_and_colours(shot.read_bytes())
    assert (width, height) == (1400, 1800)
    assert colours > 20  # text, tables and badges, not a blank page
