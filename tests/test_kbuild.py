"""kmeminit-cc (make C=1 CHECK=kmeminit-cc) and kmeminit report, on the example tree."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kmeminit.analyzer.cli.cc import KbuildError, entry_for, run, split_argv
from kmeminit.analyzer.compdb import open_compdb
from kmeminit.analyzer.config import load_config
from tests.helpers import EXAMPLE, example_compdb

# What kbuild passes before c_flags for x86_64 (top Makefile + arch/x86/Makefile), with
# sparse-only options a developer might add through CF.
CHECKFLAGS = ["-D__linux__", "-Dlinux", "-D__STDC__", "-Dunix", "-D__unix__", "-Wbitwise",
              "-Wno-return-void", "-Wno-unknown-attribute", "--arch=x86", "-mlittle-endian",
              "-m64", "-D__x86_64__", "-Wsparse-all", "-fmax-warnings=100", "-Wno-decl"]
CC = [sys.executable, "-m", "kmeminit.analyzer.cli", "cc"]


@pytest.fixture(scope="module")
def compdb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return example_compdb(tmp_path_factory.mktemp("compdb"))


def kbuild_argv(entry: dict, cf: tuple[str, ...] = ()) -> list[str]:
    """$(CHECKFLAGS) $(c_flags) file.c for a database entry (gcc ... -c -o x.o x.c)."""
    args = entry["arguments"][1:-1]
    i = args.index("-c")
    c_flags = args[:i] + args[i + 3:]
    return [*CHECKFLAGS, *cf, *c_flags, os.path.relpath(entry["file"], entry["directory"])]


def raw_entries(compdb: Path) -> list[dict]:
    return json.loads((compdb / "compile_commands.json").read_text())


def test_sparse_flags_dropped_and_args_as_from_the_database(compdb: Path) -> None:
    config = load_config()
    for raw, entry in zip(raw_entries(compdb), open_compdb(compdb, config).entries,
                          strict=True):
        argv = kbuild_argv(raw, ("--kmeminit-fail-on=error",))
        opts, source, gcc, dropped = split_argv(argv, config)
        assert opts.fail_on == "error"
        assert source == argv[-1]
        assert set(CHECKFLAGS) <= set(dropped)
        _, cc_entry, _ = entry_for(argv, config, str(EXAMPLE))
        # the same sanitised arguments, hence the same cache key and facts as `check`
        assert cc_entry.clang_args == entry.clang_args
        assert cc_entry.file == entry.file


def test_unusable_input_exits_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(EXAMPLE)
    monkeypatch.setenv("KMEMINIT_STORE", str(tmp_path / "facts.db"))
    assert run([*CHECKFLAGS, "-I./include"]) == 2
    assert "no .c source file" in capsys.readouterr().err
    assert run([*CHECKFLAGS, "mm/no_such_file.c"]) == 2
    assert "source file not found" in capsys.readouterr().err
    assert run(["--kmeminit-colour=yes", "mm/sparse.c"]) == 2
    with pytest.raises(KbuildError):
        split_argv(["--kmeminit-fail-on=sometimes", "x.c"], load_config())


def test_crash_is_a_notice_and_exit_0(compdb: Path, tmp_path: Path) -> None:
    raw = next(e for e in raw_entries(compdb) if e["file"].endswith("page_owner.c"))
    env = dict(os.environ, KMEMINIT_STORE=str(tmp_path / "facts.db"),
               KMEMINIT_FAULT="crash:page_owner")
    proc = subprocess.run([*CC, *kbuild_argv(raw, ("--kmeminit-fail-on=note",))],
                          cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line]
    assert len(lines) == 1 and "crashed" in lines[0] and "mm/page_owner.c" in lines[0]


@pytest.fixture(scope="module")
def kbuild_run(compdb: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[Path, list[subprocess.CompletedProcess[str]]]:
    """Every example TU through kmeminit-cc, 8 at a time (make -j8), CF=--kmeminit-fail-on=
    warning; one TU twice, as a rerun after make's dependency files changed would."""
    store = tmp_path_factory.mktemp("kbuild") / "facts.db"
    env = dict(os.environ, KMEMINIT_STORE=str(store))
    env.pop("KMEMINIT_FAULT", None)
    argvs = [kbuild_argv(e, ("--kmeminit-fail-on=warning",)) for e in raw_entries(compdb)]
    argvs.append(argvs[0])

    def one(argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CC, *argv], cwd=EXAMPLE, env=env, capture_output=True,
                              text=True, timeout=120)

    with ThreadPoolExecutor(8) as pool:
        return store, list(pool.map(one, argvs))


def test_concurrent_invocations_store_each_tu_once(
        compdb: Path, kbuild_run: tuple[Path, list[subprocess.CompletedProcess[str]]]) -> None:
    store, procs = kbuild_run
    assert all("Traceback" not in p.stderr for p in procs), [p.stderr for p in procs]
    db = sqlite3.connect(store)
    files = [r[0] for r in db.execute("SELECT file FROM tus")]
    expected = sorted(e.file for e in open_compdb(compdb, load_config()).entries)
    assert sorted(files) == expected  # each TU exactly once, none lost
    assert sorted(r[0] for r in db.execute("SELECT file FROM tu_commands")) == expected
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    usrs = [r[0] for r in db.execute("SELECT usr FROM header_functions")]
    assert usrs and len(usrs) == len(set(usrs))


def test_findings_gcc_style_and_fail_on(
        kbuild_run: tuple[Path, list[subprocess.CompletedProcess[str]]]) -> None:
    _, procs = kbuild_run
    for proc in procs:
        errors = [line for line in proc.stderr.splitlines()
                  if (": error: " in line or ": warning: " in line)
                  and line.rstrip().endswith("]") and "[KMI" in line]
        assert proc.returncode == (1 if errors else 0), proc.stderr
    findings = [line for p in procs for line in p.stderr.splitlines() if "[KMI" in line]
    assert any(p.returncode == 1 for p in procs)
    # gcc-style, relative to the object tree: path:line:col: level: message [RULE]
    assert all(line.split(":")[0].endswith(".c") and not line.startswith("/")
               for line in findings if not line.startswith(" "))


def test_one_tu_never_invents_an_entry(
        kbuild_run: tuple[Path, list[subprocess.CompletedProcess[str]]]) -> None:
    """mm/sparse.c alone: online_mem_sections() has no caller in the TU, but it is
    exported, so its callers are elsewhere; it is not an uncalled hotplug entry, and the
    SECTION_IS_ONLINE store it makes is not reported (the whole run does not report it)."""
    _, procs = kbuild_run
    sparse = [p for p in procs if p.args[-1] == "mm/sparse.c"]
    assert sparse and all("[KMI001]" not in p.stderr for p in sparse), sparse[0].stderr
    # ... and it says what it left to `kmeminit report`: the ordering verdict on
    # online_mem_sections() and the altmap origins of its altmap parameters
    [deferred] = [line for line in sparse[0].stderr.splitlines() if "verdict" in line]
    assert deferred.startswith("kmeminit-cc: mm/sparse.c: ")
    assert "need the other TUs (KMI001 1, KMI004 " in deferred
    assert deferred.endswith("`kmeminit report` gives them after the build")


def test_a_tu_with_everything_in_view_defers_nothing(
        kbuild_run: tuple[Path, list[subprocess.CompletedProcess[str]]]) -> None:
    """fs/proc/page.c decides its /proc reader alone (a file operation: called from an
    unknown context whatever the other TUs hold): no deferral line."""
    _, procs = kbuild_run
    [page] = [p for p in procs if p.args[-1] == "fs/proc/page.c"]
    assert "[KMI003]" in page.stderr and "verdict" not in page.stderr


def test_report_equals_check(compdb: Path, tmp_path: Path,
                             kbuild_run: tuple[Path, list[subprocess.CompletedProcess[str]]]
                             ) -> None:
    from kmeminit.analyzer.cli import main

    store, _ = kbuild_run
    report_out, check_out = tmp_path / "report.json", tmp_path / "check.json"
    assert main(["report", "--store", str(store), "--format", "json", "-o", str(report_out),
                 "--fail-on", "none"]) == 0
    assert main(["check", "-p", str(compdb), "--store", str(tmp_path / "check.db"),
                 "--source-root", str(EXAMPLE), "--format", "json", "-o", str(check_out),
                 "--fail-on", "none", "--no-progress", "-j", "2"]) == 0

    def prints(path: Path) -> list[str]:
        return sorted(f["fingerprint"] for f in json.loads(path.read_text())["findings"])

    assert prints(report_out) and prints(report_out) == prints(check_out)
    # paths select TUs, as for check
    assert main(["report", "--store", str(store), "--format", "json", "-o",
                 str(report_out), "--fail-on", "none", "mm/page_owner.c"]) == 0
    files = {f["file"] for f in json.loads(report_out.read_text())["findings"]}
    assert "mm/page_owner.c" in files
    assert all(f == "mm/page_owner.c" or f.startswith("include/") for f in files)


def test_report_without_store_is_a_usage_error(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from kmeminit.analyzer.cli import main

    assert main(["report", "--store", str(tmp_path / "none.db")]) == 2
    assert "no fact store" in capsys.readouterr().err


def test_in_source_suppression_under_kbuild(compdb: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A `kmeminit: ignore` comment on the finding's line silences what kmeminit-cc
    prints, and with it the failure --kmeminit-fail-on asks for."""
    import shutil

    tree = tmp_path / "linux"
    shutil.copytree(EXAMPLE, tree)
    # fs/proc/page.c's walker is a /proc reader: its KMI003 holds in the TU alone
    raw = next(e for e in raw_entries(compdb) if e["file"].endswith("proc/page.c"))
    argv = kbuild_argv(raw, ("--kmeminit-fail-on=warning",))
    monkeypatch.chdir(tree)
    monkeypatch.setenv("KMEMINIT_STORE", str(tmp_path / "facts.db"))
    assert run(argv) == 1
    [finding] = [line for line in capsys.readouterr().err.splitlines() if "[KMI003]" in line]
    line = int(finding.split(":")[1])
    source = tree / "fs" / "proc" / "page.c"
    lines = source.read_text().splitlines(keepends=True)
    lines[line - 1] = lines[line - 1].rstrip("\n") + " // kmeminit: ignore KMI003 reviewed\n"
    source.write_text("".join(lines))
    assert run(argv) == 0
    assert "[KMI003]" not in capsys.readouterr().err


def _skip_tree(tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    """The prefilter's test tree, and kbuild's CHECK arguments for each of its TUs."""
    from tests.test_prefilter import SOURCES, _tree

    _tree(tmp_path, SOURCES)
    argvs = {}
    for raw in json.loads((tmp_path / "compile_commands.json").read_text()):
        c_flags = [a for a in raw["arguments"][1:-1] if a != "-c"]
        argvs[Path(raw["file"]).name] = [*CHECKFLAGS, "-Wp,-MMD,x.o.d", *c_flags,
                                         Path(raw["file"]).name]
    return tmp_path / "src", argvs


def _built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
           ) -> tuple[Path, dict[str, list[str]], Path]:
    """The prefilter's test tree after `make C=1 CHECK=kmeminit-cc` of every TU: its
    sources, the CHECK arguments of each, the store (make's working directory: src)."""
    src, argvs = _skip_tree(tmp_path)
    store = tmp_path / "kbuild.db"
    monkeypatch.chdir(src)
    monkeypatch.setenv("KMEMINIT_STORE", str(store))
    for argv in argvs.values():
        assert run(argv) == 0
    return src, argvs, store


def _names(db: sqlite3.Connection, table: str) -> list[str]:
    return sorted(Path(r[0]).name for r in db.execute(f"SELECT file FROM {table}"))


def _boom(*_: object, **__: object) -> None:
    raise AssertionError("an unchanged TU was scanned or parsed again")


def test_tus_that_mention_nothing_are_recorded_not_parsed_and_report_equals_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    from kmeminit.analyzer import index, prefilter
    from kmeminit.analyzer.cli import main

    src, argvs = _skip_tree(tmp_path)
    store = tmp_path / "kbuild.db"
    monkeypatch.chdir(src)
    monkeypatch.setenv("KMEMINIT_STORE", str(store))
    first = {}
    for name, argv in argvs.items():
        assert run(argv) == 0
        first[name] = capsys.readouterr().err
    db = sqlite3.connect(store)
    # parsed: what mentions a configured symbol, also through a private header
    assert _names(db, "tus") == ["hot.c", "private.c", "walker.c"]
    assert _names(db, "lex_tus") == sorted(argvs) == _names(db, "tu_commands")
    # a second build with nothing changed scans and parses nothing, and prints the same
    with monkeypatch.context() as m:
        m.setattr(prefilter, "lexical_entry", _boom)
        m.setattr(index, "index_entries", _boom)
        for name, argv in argvs.items():
            assert run(argv) == 0
            assert capsys.readouterr().err == first[name]
    # report parses, in one batch, the recorded TUs the rules' demand reaches
    report, check = tmp_path / "report.json", tmp_path / "check.json"
    assert main(["report", "--store", str(store), "--format", "json", "-o", str(report),
                 "--fail-on", "none", "--no-progress", "-j", "2"]) == 0
    err = capsys.readouterr().err
    assert "report over 7 of 8 recorded TUs" in err, err
    # report reads the sanitised commands only, and leaves the remembered ones as they were
    assert len([a for (a,) in db.execute("SELECT arguments FROM tu_commands")
                if json.loads(a)]) == len(argvs)
    assert _names(db, "tus") == sorted(set(argvs) - {"other.c"})
    assert main(["check", "-p", str(tmp_path), "--source-root", str(src), "--no-prefilter",
                 "--store", str(tmp_path / "check.db"), "--format", "json", "-o", str(check),
                 "--fail-on", "none", "--no-progress", "-j", "2"]) == 0

    def findings(path: Path) -> list[tuple[str, str, str]]:
        return sorted((f["fingerprint"], f["message"], json.dumps(f["trace"]))
                      for f in json.loads(path.read_text())["findings"])

    assert findings(report) and findings(report) == findings(check)
    # a skipped TU that starts mentioning a configured symbol is parsed
    other = src / "other.c"
    other.write_text(other.read_text().replace("return 1;", "return PG_reserved;"))
    assert run(argvs["other.c"]) == 0
    assert "other.c" in _names(db, "tus")


def _reporting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               capsys: pytest.CaptureFixture[str]
               ) -> tuple[Path, Callable[..., tuple[list, str]], Callable[[str], None]]:
    """The test tree built into a store (see `_built`), `report` over a store (its findings
    and stderr), and an edit: a text appended to hot.c and walker.c, which kmeminit-cc
    checks again."""
    from kmeminit.analyzer.cli import main

    src, argvs, store = _built(tmp_path, monkeypatch)
    out = tmp_path / "report.json"
    original = {name: (src / name).read_text() for name in ("hot.c", "walker.c")}

    def report(at: Path, *extra: str) -> tuple[list, str]:
        capsys.readouterr()
        assert main(["report", "--store", str(at), "--format", "json", "-o", str(out),
                     "--fail-on", "none", "--no-progress", *extra]) == 0
        return json.loads(out.read_text())["findings"], capsys.readouterr().err

    def edit(text: str) -> None:
        for name in ("hot.c", "walker.c"):
            (src / name).write_text(original[name] + text)
            assert run(argvs[name]) == 0

    return store, report, edit


@pytest.mark.parametrize("worker", ["works", "dies"])
def test_report_after_an_edit_loads_the_last_runs_programs_early(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        worker: str) -> None:
    """After kbuild re-parsed a TU of every bin the last report spread its rules over,
    into facts whose results the store misses for exactly those rules, `report` starts
    those bins' workers before it checks the store (memo.early_workers); the findings are
    a cold report's.  An early worker that dies costs only time; a run with nothing
    changed, with the same facts (a comment), or back at facts seen before (an edit
    undone) starts none."""
    from kmeminit.analyzer import families
    from kmeminit.analyzer.store import FactStore

    store, report, edit = _reporting(tmp_path, monkeypatch, capsys)
    early = "loaded while the store was checked"
    report(store, "-j", "2")
    _, err = report(store, "-j", "2")
    assert early not in err  # nothing changed: every rule from the store
    edit("\nint kmeminit_one(int x)\n{\n\treturn x + 1;\n}\n")
    first, err = report(store, "-j", "2")
    assert early not in err  # other rules ran last time
    last = FactStore(store).memo("speculation", "last")
    assert len(last["bins"]) == 2 and {Path(f).name for b in last["bins"] for f in b} >= \
        {"hot.c", "walker.c"}, last  # this edit's rules spread over two workers
    if worker == "dies":
        monkeypatch.setattr(families, "_early_worker", lambda *a: os._exit(3))
    edit("\nint kmeminit_two(int x)\n{\n\treturn x + 2;\n}\n")
    with sqlite3.connect(store) as live, sqlite3.connect(tmp_path / "cold.db") as cold_db:
        live.backup(cold_db)  # the store as it is now, its write-ahead log included
    second, err = report(store, "-j", "2")
    assert (early in err) == (worker == "works"), err
    cold, _ = report(tmp_path / "cold.db", "-j", "1", "--recompute")
    assert second == cold and cold
    # a comment: re-parsed, the same facts; then the first edit again: results stored
    edit("\nint kmeminit_two(int x)\n{\n\treturn x + 2;\n}\n/* a comment */\n")
    again, err = report(store, "-j", "2")
    assert early not in err and again == cold
    edit("\nint kmeminit_one(int x)\n{\n\treturn x + 1;\n}\n")
    undone, err = report(store, "-j", "2")
    assert early not in err and undone == first


@pytest.mark.parametrize("asked", ["as last time", "otherwise"])
def test_an_early_worker_runs_its_bins_last_groups_while_the_parent_is_busy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        asked: str) -> None:
    """An early worker with its program loaded before the parent asks (the parent computes
    the prefilter's demand again) runs the groups its bin ran last time meanwhile, and
    answers with that outcome when it is asked exactly those; asked anything else, it
    runs what it is asked.  Either way the findings are a cold report's."""
    import time

    from kmeminit.analyzer import families, prefilter

    store, report, edit = _reporting(tmp_path, monkeypatch, capsys)
    log = tmp_path / "runs.log"
    report(store, "-j", "2")
    edit("\nint kmeminit_one(int x)\n{\n\treturn x + 1;\n}\n")
    report(store, "-j", "2")  # its rules spread over two workers: their groups remembered
    edit("\nint kmeminit_two(int x)\n{\n\treturn x + 2;\n}\n")
    with sqlite3.connect(store) as live, sqlite3.connect(tmp_path / "cold.db") as cold_db:
        live.backup(cold_db)
    real_run_bin, real_index, real_asked = families.run_bin, prefilter.prefilter_index, \
        families.asked

    def run_bin(load, config, groups, order, loaded=None):  # type: ignore[no-untyped-def]
        with log.open("a") as f:  # in the worker: which groups, before or after asked
            f.write(json.dumps([time.monotonic(), real_asked(groups)]) + "\n")
        return real_run_bin(load, config, groups, order, loaded)

    def slow_index(*a, **k):  # type: ignore[no-untyped-def]
        time.sleep(3)  # as a demand computed again over a whole kernel
        asking[0] = time.monotonic()
        return real_index(*a, **k)

    asking = [0.0]
    monkeypatch.setattr(families, "run_bin", run_bin)
    monkeypatch.setattr(prefilter, "prefilter_index", slow_index)
    if asked == "otherwise":  # each group's TUs in another order: not what was run
        monkeypatch.setattr(families, "asked", lambda g: [
            [files[::-1], ids] for files, ids in real_asked(g)])
    found, err = report(store, "-j", "2")
    assert "loaded while the store was checked" in err, err
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    before = [groups for at, groups in runs if at < asking[0]]
    after = [groups for at, groups in runs if at >= asking[0]]
    assert len(before) == 2  # each worker ran its bin's groups before it was asked
    assert len(after) == (0 if asked == "as last time" else 2), runs
    monkeypatch.undo()
    cold, _ = report(tmp_path / "cold.db", "-j", "1", "--recompute")
    assert found == cold and cold


def test_report_checks_the_stored_facts_without_reading_what_the_prefilter_found_unchanged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    """The prefilter's key finds the files it reads unchanged by their stat signatures;
    the store check of the TUs it chose takes their content hashes from it instead of
    reading them again.  A file edited since is read (once, by the key), and its TU is
    parsed again."""
    from kmeminit.analyzer import store as store_module
    from kmeminit.analyzer.cli import main

    src, argvs, store = _built(tmp_path, monkeypatch)
    out = tmp_path / "report.json"

    def report() -> tuple[list[str], str]:
        read: list[str] = []
        real = store_module.file_hash
        with monkeypatch.context() as m:
            m.setattr(store_module, "file_hash", lambda p: read.append(p) or real(p))
            capsys.readouterr()
            assert main(["report", "--store", str(store), "--format", "json", "-o",
                         str(out), "--fail-on", "none", "--no-progress"]) == 0
        return read, capsys.readouterr().err

    for path in src.rglob("*"):  # written long ago: no signature is racy (watch.py)
        os.utime(path, ns=(1, 1))
    report()
    report()  # the signatures as they are now recorded
    read, err = report()
    assert not [p for p in read if p.endswith(".c") or p.endswith(".h")], read
    assert "0 parsed" in err
    (src / "hot.c").write_text((src / "hot.c").read_text() + "\n/* edited */\n")
    read, err = report()
    # the prefilter's key read it again: its new hash is what the store check compares
    assert not read and "7 TUs: 1 parsed, 6 from cache" in err, (read, err)
    # and recorded its new signature (a write deferred while the rules ran, done before
    # the command ended): the next run reads nothing
    from kmeminit.analyzer import prefilter

    os.utime(src / "hot.c", ns=(2, 2))
    report()  # the key reads hot.c once more: its signature changed
    keyed: list[str] = []
    real_read = prefilter._read
    monkeypatch.setattr(prefilter, "_read", lambda p: keyed.append(p) or real_read(p))
    read, err = report()
    assert not keyed and not read and "0 parsed" in err, (keyed, read)


def test_kmeminit_cc_prepares_the_check_while_the_tu_parses(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    """What checking a TU imports is imported while the worker parses it (index_entries'
    `idle`, once); a cached TU parses nothing and prepares nothing; the lines printed are
    the same."""
    from kmeminit.analyzer.cli import cc as cc_module

    src, argvs = _skip_tree(tmp_path)
    monkeypatch.chdir(src)
    monkeypatch.setenv("KMEMINIT_STORE", str(tmp_path / "kbuild.db"))
    prepared: list[int] = []
    real = cc_module._prepare_check
    monkeypatch.setattr(cc_module, "_prepare_check", lambda: prepared.append(1) or real())
    assert run(argvs["walker.c"]) == 0
    first = capsys.readouterr().err
    assert prepared == [1]
    assert run(argvs["walker.c"]) == 0
    assert prepared == [1] and capsys.readouterr().err == first


def test_kmeminit_cc_checks_a_cached_tu_again_after_its_code_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    """The lines printed for a TU are kept with its facts under kmeminit's code: after a
    checkout or an upgrade to another commit (the version unchanged, the rules maybe
    not), an unchanged TU is checked again over its stored facts, not shown as the older
    code found it."""
    import kmeminit.analyzer as analyzer
    from kmeminit.analyzer.cli import cc as cc_module

    src, argvs = _skip_tree(tmp_path)
    monkeypatch.chdir(src)
    monkeypatch.setenv("KMEMINIT_STORE", str(tmp_path / "kbuild.db"))
    checked: list[int] = []
    real = cc_module._check_parsed
    monkeypatch.setattr(cc_module, "_check_parsed",
                        lambda *a, **k: checked.append(1) or real(*a, **k))
    assert run(argvs["walker.c"]) == 0  # parsed and checked
    first = capsys.readouterr().err
    assert run(argvs["walker.c"]) == 0  # the lines kept
    assert len(checked) == 1 and capsys.readouterr().err == first
    monkeypatch.setattr(analyzer, "package_digest", lambda: "another commit")
    assert run(argvs["walker.c"]) == 0
    assert len(checked) == 2 and capsys.readouterr().err == first
    assert run(argvs["walker.c"]) == 0  # kept again, under the new code
    assert len(checked) == 2
    # a TU that mentions nothing configured prints nothing: the code is not hashed
    hashed: list[int] = []
    monkeypatch.setattr(analyzer, "package_digest", lambda: hashed.append(1) or "x")
    for _ in range(2):  # recorded, then skipped unchanged
        assert run(argvs["other.c"]) == 0
    assert not hashed and len(checked) == 2
