"""One answer in every flow: partial views never invent findings.

Over the example tree and every rule's fixture directory:
- `check PATH` (any single path, and random subsets of paths) reports exactly the whole
  run's findings located under those paths: the paths choose where findings are reported,
  the rest of the database is analysed for context;
- `check --prefilter` reports a subset of the whole run's findings;
- `kmeminit-cc` on each TU alone (what `make C=1 CHECK=kmeminit-cc` runs) reports a subset
  of the whole run's findings, and `kmeminit report` over its store reports the whole run's.

Findings are compared by (rule, path, line, kmeminit/v1 fingerprint).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import EXAMPLE, compdb_for, example_compdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmeminit.analyzer.cli import main

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
Finding = tuple[str, str, int, str]


class View:
    """One analysed tree: its compile database, source root, config and a warm store."""

    def __init__(self, compdb: Path, root: Path, store: Path, config: Path | None) -> None:
        self.compdb, self.root, self.store, self.config = compdb, root, store, config
        self.files = sorted(str(Path(e["file"]) if Path(e["file"]).is_absolute()
                                else Path(e["directory"], e["file"]))
                            for e in json.loads(compdb.read_text()))

    def options(self) -> list[str]:
        out = ["-p", str(self.compdb), "--source-root", str(self.root), "--store",
               str(self.store), "--fail-on", "none", "--no-progress", "-j", "2"]
        return out + (["--config", str(self.config)] if self.config else [])

    def check(self, *extra: str) -> set[Finding]:
        out = self.store.parent / "out.json"
        assert main(["check", *self.options(), "--format", "json", "-o", str(out),
                     *extra]) == 0
        return {(f["rule"], f["file"], f["line"], f["fingerprint"])
                for f in json.loads(out.read_text())["findings"]}

    def rel(self, path: str) -> str:
        return os.path.relpath(path, self.root)


def _under(found: set[Finding], paths: list[str]) -> set[Finding]:
    return {f for f in found if any(f[1] == p or f[1].startswith(p.rstrip("/") + "/")
                                    for p in paths)}


def _views(tmp: Path) -> list[tuple[str, View]]:
    views = [("example", View(example_compdb(tmp / "example") / "compile_commands.json",
                              EXAMPLE, tmp / "example" / "facts.db", None))]
    for rule_dir in sorted(FIXTURES.glob("KMI*")):
        out = tmp / rule_dir.name
        out.mkdir()
        sources = sorted(rule_dir.glob("*.c"))
        config = rule_dir / "kmeminit.yaml"
        views.append((rule_dir.name, View(compdb_for(sources, rule_dir, out), rule_dir,
                                          out / "facts.db",
                                          config if config.exists() else None)))
    return views


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, View, set[Finding]]]:
    tmp = tmp_path_factory.mktemp("views")
    return [(name, view, view.check()) for name, view in _views(tmp)]


def test_whole_runs_find_something(views) -> None:  # type: ignore[no-untyped-def]
    assert all(whole for _, _, whole in views), [n for n, _, w in views if not w]


def test_every_single_path_reports_the_whole_runs_findings_there(views) -> None:  # type: ignore[no-untyped-def]
    for name, view, whole in views:
        for file in view.files:
            rel = view.rel(file)
            assert view.check(rel) == _under(whole, [rel]), (name, rel)


@settings(max_examples=int(os.environ.get("KMEMINIT_FUZZ_EXAMPLES", 6)), deadline=None,
          derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_subsets_of_paths(views, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    _, view, whole = views[0]  # the example tree: several directories
    rels = sorted({view.rel(f) for f in view.files} | {view.rel(os.path.dirname(f)) + "/"
                                                       for f in view.files})
    chosen = data.draw(st.lists(st.sampled_from(rels), min_size=1, max_size=4, unique=True))
    assert view.check(*chosen) == _under(whole, chosen), chosen


def test_prefilter_is_a_subset(views) -> None:  # type: ignore[no-untyped-def]
    for name, view, whole in views:
        assert view.check("--prefilter") <= whole, name


KBUILD_SPARSE = ["-D__linux__", "-Dlinux", "-D__STDC__", "-Dunix", "-D__unix__",
                 "-Wbitwise", "-Wno-return-void", "-Wno-unknown-attribute", "--arch=x86",
                 "-m64"]


def _cc(view: View, entry: dict, store: Path, tmp: Path) -> set[Finding]:
    """kmeminit-cc on one TU, as kbuild runs it; its findings as the whole run's tuples
    (the JSON of `kmeminit report` restricted to that TU's file is what it printed)."""
    argv = [a for a in entry["arguments"][1:] if a not in ("-c", entry["file"])]
    proc = subprocess.run([sys.executable, "-m", "kmeminit.analyzer.cli", "cc",
                           *KBUILD_SPARSE, "-Wp,-MMD,x.d", *argv,
                           *([f"--kmeminit-config={view.config}"] if view.config else []),
                           entry["file"]], cwd=entry["directory"], capture_output=True,
                          text=True, env={**os.environ, "KMEMINIT_STORE": str(store)},
                          check=False)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    printed = set()
    for line in proc.stderr.splitlines():
        head, _, rest = line.partition(": ")
        if not line.startswith(" ") and rest.split(":")[0] in ("note", "warning", "error") \
                and line.endswith("]"):
            file, number = head.rsplit(":", 2)[0], int(head.rsplit(":", 2)[1])
            printed.add((line.rsplit("[", 1)[1][:-1], view.rel(os.path.join(
                entry["directory"], file)), number))
    return printed


def test_kbuild_one_tu_views_are_subsets(views, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for name, view, whole in views:
        located = {(rule, path, line) for rule, path, line, _ in whole}
        store = tmp_path / f"{name}.db"
        for entry in json.loads(view.compdb.read_text()):
            printed = _cc(view, entry, store, tmp_path)
            assert printed <= located, (name, entry["file"], sorted(printed - located))
        report = tmp_path / f"{name}.json"
        assert main(["report", "--store", str(store), "--source-root", str(view.root),
                     "--format", "json", "-o", str(report), "--fail-on", "none",
                     *(["--config", str(view.config)] if view.config else [])]) == 0
        got = {(f["rule"], f["file"], f["line"], f["fingerprint"])
               for f in json.loads(report.read_text())["findings"]}
        assert got == whole, name
