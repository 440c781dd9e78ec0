"""Packaging: one `kmeminit` namespace, and a wheel that lives beside other tools.

The repository keeps the card's folders at the top (analyzer/, checkers/, config/, sarif/)
and they install as kmeminit.analyzer, kmeminit.checkers, kmeminit.config, kmeminit.sarif.
sarif-tools ships a top-level `sarif` package: before the namespace, installing it
overwrote kmeminit's `sarif/__init__.py` and uninstalling it deleted the file.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parent.parent
FOLDERS = ("analyzer", "checkers", "config", "sarif")
SARIF_TOOLS = "sarif-tools==3.0.5"


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_every_package_directory_is_installed() -> None:
    tool = _pyproject()["tool"]["setuptools"]
    listed = set(tool["packages"])
    found = {"kmeminit." + str(d.relative_to(REPO)).replace(os.sep, ".")
             for folder in FOLDERS for d in [REPO / folder, *(REPO / folder).rglob("*")]
             if d.is_dir() and (d / "__init__.py").is_file()}
    assert found == listed
    assert tool["package-dir"] == {f"kmeminit.{f}": f for f in FOLDERS}


def test_no_import_outside_the_namespace() -> None:
    """`import analyzer` would still work from a checkout (the cwd is on sys.path) and
    create a second copy of every class; in a wheel it fails.  Nothing may use it."""
    bare = re.compile(r"^(?:analyzer|checkers|config|sarif)(?:\.|$)")
    offenders = []
    for path in sorted(REPO.rglob("*.py")):
        if ".venv" in path.parts or "examples" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom)
                     and not node.level else [])
            offenders += [f"{path.relative_to(REPO)}:{node.lineno}: {n}" for n in names
                          if bare.match(n)]
    assert not offenders


def test_version_comes_from_the_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    from kmeminit.analyzer.cli import main

    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"kmeminit {metadata.version('kmeminit')}"
    assert metadata.version("kmeminit") == _pyproject()["project"]["version"]


def test_license_is_an_spdx_expression() -> None:
    assert _pyproject()["project"]["license"] == "GPL-2.0-only"


def _sarif_tools_wheel(where: Path) -> Path:
    """sarif-tools' wheel: the one `make` downloaded into .venv/wheels, else from PyPI."""
    cached = sorted((REPO / ".venv" / "wheels").glob("sarif_tools-*.whl"))
    if cached:
        return cached[-1]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d",
                    str(where), SARIF_TOOLS], check=True)
    return next(where.glob("sarif_tools-*.whl"))


def test_wheel_beside_sarif_tools(tmp_path: Path) -> None:
    """Build the wheel, install it into a fresh venv next to sarif-tools, run `kmeminit
    check` on the example tree, uninstall sarif-tools, run it again."""
    from helpers import EXAMPLE, example_compdb

    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(dist), str(REPO)], check=True,
                   capture_output=True)
    wheel = next(dist.glob("kmeminit-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], check=True, capture_output=True,
                          text=True).stdout.strip()
    # kmeminit's dependencies come from the project's venv (no network); its own editable
    # finder there is not activated through a .pth-added directory.
    deps = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "deps.pth").write_text("\n".join(deps) + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(py)]
    subprocess.run([*pip, "install", "-q", "--no-deps", "--no-index", str(wheel),
                    str(_sarif_tools_wheel(tmp_path))], check=True, capture_output=True)
    assert (Path(site) / "sarif" / "__init__.py").is_file()  # sarif-tools' own package
    assert not (Path(site) / "analyzer").exists()
    compdb = example_compdb(tmp_path / "db")
    kmeminit = venv / "bin" / "kmeminit"

    def check() -> dict:
        out = tmp_path / "out.sarif"
        proc = subprocess.run([str(kmeminit), "check", "-p", str(compdb), "--source-root",
                               str(EXAMPLE), "--store", str(tmp_path / "facts.db"),
                               "--format", "sarif", "-o", str(out), "--fail-on", "none"],
                              capture_output=True, text=True, cwd=tmp_path, check=False)
        assert proc.returncode == 0, proc.stderr
        return json.loads(out.read_text())

    first = check()
    assert first["runs"][0]["results"]
    where = subprocess.run([str(py), "-c", "import kmeminit.sarif, kmeminit.analyzer; "
                            "print(kmeminit.sarif.__file__, kmeminit.analyzer.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert all(str(venv) in p for p in where.split())
    subprocess.run([*pip, "uninstall", "-q", "-y", "sarif-tools"], check=True,
                   capture_output=True)
    assert not (Path(site) / "sarif").exists()
    second = check()
    assert [r["ruleId"] for r in second["runs"][0]["results"]] == \
        [r["ruleId"] for r in first["runs"][0]["results"]]
    # the HTML report's templates are package data: the installed wheel renders it
    page = tmp_path / "report.html"
    proc = subprocess.run([str(kmeminit), "check", "-p", str(compdb), "--source-root",
                           str(EXAMPLE), "--store", str(tmp_path / "facts.db"), "--format",
                           "html", "-o", str(page), "--fail-on", "none"],
                          capture_output=True, text=True, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    assert page.read_text().count("<article") == len(first["runs"][0]["results"])
    version = subprocess.run([str(kmeminit), "--version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    assert version == f"kmeminit {_pyproject()['project']['version']}"
