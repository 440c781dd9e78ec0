"""Start-up: kmeminit-cc runs once per TU of a kernel build, so what the command line
imports before it knows it needs it is paid thousands of times.  Importing the CLI, and
running `--version`, `rules` and kmeminit-cc on a TU whose facts are cached or that was
skipped, must not load networkx, libclang, a YAML parser (the parsed config is cached),
sarif-om or (but for `rules`) the checkers.  bench/startup.py measures the time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.test_kbuild import _skip_tree

HEAVY = ("networkx", "clang", "yaml", "sarif_om", "kmeminit.checkers", "tqdm", "dask")


def _loaded(code: str, cwd: Path | None = None, env: dict[str, str] | None = None
            ) -> set[str]:
    """The heavy modules a fresh interpreter has loaded after running `code`."""
    body = "".join(f"    {line}\n" for line in code.splitlines())
    script = (f"import sys, json\ntry:\n{body}except SystemExit:\n    pass\n"
              "print(json.dumps(sorted(sys.modules)), file=sys.__stdout__)")
    proc = subprocess.run([sys.executable, "-c", script], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    modules = json.loads(proc.stdout.splitlines()[-1])
    return {m for m in modules if m.startswith(HEAVY)}


def test_importing_the_command_line_loads_nothing_heavy() -> None:
    assert not _loaded("import kmeminit.analyzer.cli.app, kmeminit.analyzer.cli.cc")


def test_version_and_rules_load_nothing_heavy() -> None:
    main = "from kmeminit.analyzer.cli import main\nmain({})"
    assert not _loaded(main.format(["--version"]))
    _loaded(main.format(["rules"]))  # the first run caches the parsed config
    assert {m.split(".")[0] for m in _loaded(main.format(["rules"]))} == {"kmeminit"}


def test_kbuild_on_a_cached_or_skipped_tu_loads_nothing_heavy(tmp_path: Path) -> None:
    src, argvs = _skip_tree(tmp_path)
    env = dict(os.environ, KMEMINIT_STORE=str(tmp_path / "kbuild.db"))
    for name in ("walker.c", "other.c"):  # parsed and checked; skipped
        cc = f"from kmeminit.analyzer.cli.cc import run\nrun({argvs[name]!r})"
        first = _loaded(cc, src, env)
        assert bool(first) == (name == "walker.c")  # the parse and the rules
        assert not _loaded(cc, src, env)


def test_both_commands_set_the_collector_for_a_long_lived_heap() -> None:
    """The facts of a program live until the process ends: the default collector thresholds
    walk them again on every pass (docs/bench.md), so both console scripts raise them."""
    code = ("import gc, sys\nfrom kmeminit.analyzer.cli import {mod}\n"
            "sys.argv = ['x', {arg!r}]\ntry:\n    {call}\nexcept SystemExit:\n    pass\n"
            "print(gc.get_threshold())")
    from kmeminit.analyzer.cli.session import COLLECTOR_THRESHOLDS

    for mod, arg, call in (("main", "--version", "main(['--version'])"),
                           ("cc", "--help", "cc.main()")):
        proc = subprocess.run([sys.executable, "-c", code.format(mod=mod, arg=arg, call=call)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines()[-1] == str(COLLECTOR_THRESHOLDS), mod


def test_a_stored_result_is_reported_without_the_graph_libclang_or_sarif_om(
        tmp_path: Path) -> None:
    """`check` whose result the store holds loads no program (networkx), parses nothing
    (libclang) and, but for a SARIF output, does not load sarif-om (40 ms): a text or JSON
    report of `report`, `check` or `diff` is written without it."""
    from kmeminit.analyzer.cli import main
    from tests.test_prefilter import SOURCES, _tree

    _tree(tmp_path, SOURCES)
    common = ["check", "-p", str(tmp_path / "compile_commands.json"), "--store",
              str(tmp_path / "facts.db"), "--no-progress", "--fail-on", "none", "-o",
              str(tmp_path / "out")]
    assert main([*common, "--format", "json"]) == 0  # parsed, every rule run
    run = "from kmeminit.analyzer.cli import main\nassert main({}) == 0"
    for fmt in ("json", "text", "sarif"):
        loaded = {m.split(".")[0] for m in _loaded(run.format([*common, "--format", fmt]))
                  if not m.startswith("kmeminit")}
        assert loaded == ({"sarif_om"} if fmt == "sarif" else set()), fmt
