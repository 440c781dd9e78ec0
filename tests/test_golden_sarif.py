"""Golden SARIF for the example tree: `kmeminit check --format sarif` over examples/minikernel,
with times, absolute paths, the version and the kmeminit checkout's own git revision
normalised.  Regenerate deliberately with `pytest --update-golden` (it changes whenever a
rule's output does) and review the diff."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kmeminit.analyzer import version
from kmeminit.analyzer.cli import main

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "minikernel"
GOLDEN = Path(__file__).resolve().parent / "golden" / "minikernel.sarif"


def _check(tmp_path: Path, name: str) -> str:
    subprocess.run([sys.executable, str(EXAMPLE / "gen_compdb.py"), str(tmp_path)], check=True)
    out = tmp_path / name
    code = main(["check", "-p", str(tmp_path / "compile_commands.json"), "--store",
                 str(tmp_path / "facts.db"), "--no-progress", "-j", "2", "--fail-on", "none",
                 "--format", "sarif", "-o", str(out)])
    assert code == 0
    return out.read_text(encoding="utf-8")


def normalise(text: str, tmp_path: Path) -> str:
    log = json.loads(text)
    run = log["runs"][0]
    run.pop("versionControlProvenance", None)  # the kmeminit checkout's commit
    run["tool"]["driver"]["semanticVersion"] = run["tool"]["driver"]["version"] = "VERSION"
    inv = run["invocations"][0]
    inv["startTimeUtc"] = inv["endTimeUtc"] = "TIME"
    inv["commandLine"], inv["arguments"] = "kmeminit check", []
    inv["workingDirectory"] = {"uri": "file:///CWD/"}
    out = json.dumps(log, indent=2, ensure_ascii=False) + "\n"
    for path, name in ((tmp_path, "TMP"), (EXAMPLE, "MINIKERNEL")):
        out = out.replace(path.as_uri(), f"file:///{name}").replace(str(path), name)
    return out


def test_golden_sarif_for_the_example_tree(tmp_path: Path, update_golden: bool) -> None:
    text = normalise(_check(tmp_path, "out.sarif"), tmp_path)
    assert '"VERSION"' in text and version()
    if update_golden:
        GOLDEN.write_text(text, encoding="utf-8")
    assert GOLDEN.exists(), "run pytest --update-golden to create the golden file"
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_two_runs_byte_identical_apart_from_times(tmp_path: Path) -> None:
    first = _check(tmp_path / "a", "out.sarif")
    second = _check(tmp_path / "b", "out.sarif")

    def strip(text: str, where: Path) -> dict:
        log = json.loads(text.replace(str(where), "TMP"))
        inv = log["runs"][0]["invocations"][0]
        assert inv.pop("startTimeUtc") and inv.pop("endTimeUtc")
        return log

    # apart from times and the (differing) temp dirs on the command line, byte for byte
    a = json.dumps(strip(first, tmp_path / "a"), indent=2)
    b = json.dumps(strip(second, tmp_path / "b"), indent=2)
    assert a == b
