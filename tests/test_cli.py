"""CLI wiring: exit codes, one-line errors, outputs, the plugin path end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import named_checker_config

from kmeminit.analyzer.cli import main

REPO = Path(__file__).resolve().parent.parent



@pytest.fixture
def tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "mm").mkdir(parents=True)
    (src / "mm" / "a.c").write_text("int pfn_walk(int pfn)\n{\n\treturn pfn + 1;\n}\n")
    (src / "mm" / "b.c").write_text("int other(void) { return 0; }\n")
    db = [{"directory": str(src), "file": f"mm/{n}", "arguments": ["gcc", "-c", f"mm/{n}"]}
          for n in ("a.c", "b.c")]
    (src / "compile_commands.json").write_text(json.dumps(db))
    return src


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return named_checker_config(tmp_path, monkeypatch, ["pfn_walk"])


def run(*args: str) -> int:
    return main(list(args))


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run("--version")
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("kmeminit 0.")


def test_check_without_findings_exits_0(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("check", "-p", str(tree), "--no-progress") == 0
    captured = capsys.readouterr()
    assert "0 findings" in captured.out
    assert "2 TUs: 2 parsed" in captured.err


def test_findings_exit_1_and_fail_on(tree: Path, plugin: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert run("check", "-p", str(tree), "--config", str(plugin)) == 1
    out = capsys.readouterr().out
    assert "mm/a.c:1:1: warning: pfn_walk is named [TEST001]" in out
    assert run("check", "-p", str(tree), "--config", str(plugin), "--fail-on", "error") == 0
    assert run("check", "-p", str(tree), "--config", str(plugin), "--fail-on", "none") == 0
    assert run("check", "-p", str(tree), "--config", str(plugin), "mm/b.c") == 0


def test_sarif_and_json_outputs(tree: Path, plugin: Path, tmp_path: Path) -> None:
    sarif, js = tmp_path / "out" / "r.sarif", tmp_path / "r.json"
    run("check", "-p", str(tree), "--config", str(plugin), "--format", "sarif", "-o", str(sarif))
    log = json.loads(sarif.read_text())
    [result] = log["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "mm/a.c", "uriBaseId": "%SRCROOT%"}
    run("check", "-p", str(tree), "--config", str(plugin), "--format", "json", "-o", str(js))
    assert json.loads(js.read_text())["findings"][0]["rule"] == "TEST001"


def test_rules_and_explain(plugin: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("rules") == 0
    assert "TEST001" in capsys.readouterr().out
    assert run("explain", "test001") == 0
    assert "## What it finds" in capsys.readouterr().out


@pytest.mark.parametrize("setup, args, message", [
    (None, ["check", "-p", "{tmp}/nowhere"], "compile database not found"),
    ("invalid", ["check", "-p", "{tmp}"], "compile_commands.json:1: invalid JSON"),
    ("yaml", ["check", "-p", "{tree}", "--config", "{tmp}/bad.yaml"], "bad.yaml:3: YAML error"),
    (None, ["explain", "KMI999"], "unknown rule 'KMI999'"),
    (None, ["check", "-p", "{tree}", "--rules", "KMI999"], "unknown rule id(s): KMI999"),
    (None, ["check", "-p", "{tree}", "nosuchdir/"], "no C compile command matches"),
])
def test_usage_errors_exit_2_with_one_line(tree: Path, tmp_path: Path, setup: str | None,
                                           args: list[str], message: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    if setup == "invalid":
        (tmp_path / "compile_commands.json").write_text("[{oops")
    if setup == "yaml":
        (tmp_path / "bad.yaml").write_text("index:\n  tu_timeout: [\n")  # unclosed at 2
    argv = [a.format(tmp=tmp_path, tree=tree) for a in args]
    assert run(*argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_missing_source_is_an_input_error_but_results_are_written(
        tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = json.loads((tree / "compile_commands.json").read_text())
    db.append({"directory": str(tree), "file": "mm/gone.c", "arguments": ["gcc", "mm/gone.c"]})
    (tree / "compile_commands.json").write_text(json.dumps(db))
    out = tmp_path / "r.sarif"
    assert run("check", "-p", str(tree), "--format", "sarif", "-o", str(out)) == 2
    assert "mm/gone.c: error: source file of compile command not found" in \
        capsys.readouterr().err
    assert json.loads(out.read_text())["runs"][0]["invocations"][0][
        "toolExecutionNotifications"]


def test_no_traceback_from_the_console_script(tmp_path: Path) -> None:
    (tmp_path / "compile_commands.json").write_text("not json")
    proc = subprocess.run([sys.executable, "-m", "kmeminit.analyzer.cli", "check", "-p",
                           str(tmp_path)], capture_output=True, text=True, cwd=REPO, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def _subcommands() -> list[str]:
    from kmeminit.analyzer.cli.app import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)


@pytest.mark.parametrize("command", _subcommands())
def test_every_subcommand_help_documents_every_option(
        command: str, capsys: pytest.CaptureFixture[str]) -> None:
    from kmeminit.analyzer.cli.app import build_parser

    if command == "cc":  # kbuild's argv is gcc's: its own usage text
        assert run("cc", "--help") == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: kmeminit-cc") and "--kmeminit-min-level" in out
        return
    with pytest.raises(SystemExit) as info:
        run(command, "--help")
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: kmeminit {command}")
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    undocumented = [a.option_strings or a.dest for a in sub._actions
                    if not a.help and a.dest != "help"]
    assert not undocumented


def test_rule_switches_take_ids_and_names(tree: Path, plugin: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    base = ["check", "-p", str(tree), "--config", str(plugin), "--no-progress"]
    assert run(*base, "--disable", "TEST001") == 0
    assert run(*base, "--disable", "kmi003,test001") == 0
    assert run(*base, "--rules", "KMI003", "--enable", "test001") == 0  # --rules wins
    capsys.readouterr()
    assert run(*base, "--enable", "nonsense") == 2
    assert "unknown rule id(s): NONSENSE" in capsys.readouterr().err
    assert run("explain", "pfn-walker-uninit-memmap") == 0
    assert capsys.readouterr().out.startswith("KMI003 pfn-walker-uninit-memmap")


def test_the_console_script_exits_fast_with_every_byte_written(tmp_path: Path) -> None:
    """`kmeminit` skips the interpreter's teardown (analyzer/cli/__init__.py: script): its
    output through a pipe and its exit codes must be those of main()."""
    from helpers import EXAMPLE, example_compdb

    example_compdb(tmp_path)
    cli = [sys.executable, "-m", "kmeminit.analyzer.cli"]
    proc = subprocess.run([*cli, "check", "-p", str(tmp_path), "--source-root", str(EXAMPLE),
                           "--store", str(tmp_path / "s.db"), "--no-progress", "-j", "1",
                           "--format", "json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr  # the example has warnings: fail-on warning
    assert len(json.loads(proc.stdout)["findings"]) > 10
    assert subprocess.run([*cli, "--version"], capture_output=True).returncode == 0
    bad = subprocess.run([*cli, "no-such-command"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
