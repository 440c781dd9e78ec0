"""Coverage is part of the result: a run that analysed nothing, or too little, never passes.

Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or input error or analysis
incomplete.  A failed TU yields no usable facts (a missing include, a crash, a timeout,
libclang refusing it, a missing source file); a degraded TU was parsed with errors in its
own source or in a header it includes, or hit clang's error limit.  Both count towards
--max-failed-tus (default 5%)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import named_checker_config

from kmeminit.analyzer.cli import main

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "kmeminit.analyzer.cli"]


def _tree(root: Path, n: int, broken: dict[int, str] | None = None) -> Path:
    """`n` TUs mm/fN.c, each defining pfn_walkN(); `broken` maps an index to the text of a
    TU that replaces it."""
    (root / "mm").mkdir(parents=True)
    entries = []
    for i in range(n):
        text = (broken or {}).get(i, f"int pfn_walk{i}(int pfn)\n{{\n\treturn pfn + {i};\n}}\n")
        (root / "mm" / f"f{i}.c").write_text(text)
        entries.append({"directory": str(root), "file": f"mm/f{i}.c",
                        "arguments": ["gcc", "-Iinclude", "-c", f"mm/f{i}.c"]})
    (root / "compile_commands.json").write_text(json.dumps(entries))
    return root


UNPREPARED = '#include <generated/autoconf.h>\nint x(void) { return 0; }\n'


def _one_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("kmeminit: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_unprepared_tree_exits_2_with_the_reason(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A tree without generated headers: every TU fails; whatever --fail-on says, exit 2."""
    tree = _tree(tmp_path / "src", 3, {i: UNPREPARED for i in range(3)})
    out = tmp_path / "r.sarif"
    assert main(["check", "-p", str(tree), "--fail-on", "none", "--format", "sarif",
                 "-o", str(out)]) == 2
    line = _one_error(capsys.readouterr().err)
    assert line == ("kmeminit: error: analysis incomplete: 3 of 3 TUs failed (first: mm/f0.c: "
                    "'generated/autoconf.h' file not found); allowed: 5% (--max-failed-tus)")
    log = json.loads(out.read_text())  # the output is still written, and says so
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is False


def test_all_tus_timing_out(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "src", 2)
    proc = subprocess.run([*CLI, "check", "-p", str(tree), "--tu-timeout", "1", "-j", "2",
                           "--fail-on", "none", "--no-progress"], capture_output=True,
                          text=True, cwd=REPO, check=False,
                          env={**os.environ, "KMEMINIT_FAULT": "hang:mm/f"})
    assert proc.returncode == 2, proc.stderr
    assert "0 parsed, 0 from cache, 0 parsed with errors, 2 failed" in proc.stderr
    assert "analysis incomplete: 2 of 2 TUs failed (first: mm/f" in _one_error(proc.stderr)
    assert "parse timed out after 1 s" in proc.stderr


def test_one_tu_failing_out_of_many_is_within_the_default(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    """1 of 25 TUs (4%) is within the default 5%: the exit code says what was found, the
    SARIF says the execution was not entirely successful, the failure is listed."""
    tree = _tree(tmp_path / "src", 25, {7: UNPREPARED})
    plugin = named_checker_config(tmp_path, monkeypatch, ["pfn_walk3"])
    out = tmp_path / "r.sarif"
    assert main(["check", "-p", str(tree), "--config", str(plugin), "--format", "sarif",
                 "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "24 parsed, 0 from cache, 0 parsed with errors, 1 failed" in err
    assert "analysis incomplete" not in err
    log = json.loads(out.read_text())
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    notes = [n["message"]["text"] for n in invocation["toolExecutionNotifications"]]
    assert "'generated/autoconf.h' file not found" in notes
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["TEST001"]
    # the same tree with a tighter threshold is incomplete
    assert main(["check", "-p", str(tree), "--config", str(plugin), "--max-failed-tus",
                 "0"]) == 2
    assert "1 of 25 TUs failed" in _one_error(capsys.readouterr().err)


def test_degraded_tus_are_not_parsed_tus(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Errors in a TU's own source: its facts are kept (findings in the functions clang
    recovered) but it is not counted as parsed, and it counts towards the threshold."""
    tree = _tree(tmp_path / "src", 2, {1: "int broken(int x)\n{\n\treturn x +;\n}\n"})
    assert main(["index", "-p", str(tree)]) == 2
    err = capsys.readouterr().err
    assert "2 TUs: 1 parsed, 0 from cache, 1 parsed with errors, 0 failed" in err
    assert ("analysis incomplete: 0 of 2 TUs failed and 1 were parsed with errors (first: "
            "mm/f1.c: error in its own source, line 3: expected expression)") in err
    assert main(["index", "-p", str(tree), "--max-failed-tus", "50%"]) == 0
    assert "1 from cache, 1 parsed with errors" in capsys.readouterr().err  # still degraded


def test_missing_source_file_fails_its_tu(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    tree = _tree(tmp_path / "src", 1)
    db = json.loads((tree / "compile_commands.json").read_text())
    db.append({"directory": str(tree), "file": "mm/gone.c", "arguments": ["gcc", "-c",
                                                                          "mm/gone.c"]})
    (tree / "compile_commands.json").write_text(json.dumps(db))
    out = tmp_path / "r.sarif"
    assert main(["check", "-p", str(tree), "--format", "sarif", "-o", str(out)]) == 2
    assert ("analysis incomplete: 1 of 2 TUs failed (first: mm/gone.c: source file of "
            "compile command not found)") in _one_error(capsys.readouterr().err)
    log = json.loads(out.read_text())
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is False


@pytest.mark.parametrize("option, value, message", [
    ("--tu-timeout", "-1", "argument --tu-timeout: must be greater than 0, got -1"),
    ("-j", "0", "argument -j/--jobs: must be greater than 0, got 0"),
    ("--max-failed-tus", "5x", "argument --max-failed-tus: '5x' is not a count or a "
                               "percentage"),
    ("--max-failed-tus", "150%", "argument --max-failed-tus: '150%' is out of range"),
])
def test_invalid_option_values_are_usage_errors(tmp_path: Path, option: str, value: str,
                                                message: str) -> None:
    tree = _tree(tmp_path / "src", 1)
    proc = subprocess.run([*CLI, "check", "-p", str(tree), f"{option}={value}"],
                          capture_output=True, text=True, cwd=REPO, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tree / ".kmeminit").exists()  # nothing was done


@pytest.mark.parametrize("yaml_text, message", [
    ("rules:\n  KMI003:\n    level: critical\n",
     "k.yaml:3: 'rules.KMI003.level' must be one of error, note, warning, got 'critical'"),
    ("rules:\n  KMI003:\n    enabled: sometimes\n",
     "k.yaml:3: 'rules.KMI003.enabled' must be of type boolean, got 'sometimes'"),
    ("index:\n  tu_timeout: soon\n",
     "k.yaml:2: 'index.tu_timeout' must be of type integer or number, got 'soon'"),
    ("rules:\n  KMI003:\n    colour: blue\n",
     "k.yaml:3: unknown key 'colour' in rules.KMI003"),
])
def test_bad_config_values_are_usage_errors(tmp_path: Path, yaml_text: str, message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    tree = _tree(tmp_path / "src", 1)
    (tmp_path / "k.yaml").write_text(yaml_text)
    assert main(["check", "-p", str(tree), "--config", str(tmp_path / "k.yaml")]) == 2
    line = _one_error(capsys.readouterr().err)
    assert message in line
