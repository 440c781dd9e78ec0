"""`check --baseline/--suppressions/--category` and `kmeminit diff` end to end, with the test
plugin checker of test_cli.py (one finding per function named in rules.TEST001.functions)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import plugin, run  # noqa: F401 - `plugin` is a fixture

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

A_C = "#include \"walk.h\"\nint pfn_walk(int pfn)\n{\n\treturn pfn + STEP;\n}\n"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                           *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, plugin: Path) -> Path:  # noqa: F811
    src = tmp_path / "repo"
    (src / "mm").mkdir(parents=True)
    (src / "mm" / "walk.h").write_text("#define STEP 1\n")
    (src / "mm" / "a.c").write_text(A_C)
    (src / "mm" / "b.c").write_text("int other(void) { return 0; }\n")
    (src / "mm" / "c.c").write_text("int third(void) { return 3; }\n")
    db = [{"directory": str(src), "file": f"mm/{n}", "arguments": ["gcc", "-c", f"mm/{n}"]}
          for n in ("a.c", "b.c", "c.c")]
    (src / "compile_commands.json").write_text(json.dumps(db))
    (src / ".gitignore").write_text(".kmeminit/\n")
    plugin.write_text("rules:\n  TEST001:\n    functions: [pfn_walk, new_walk, third]\n")
    git(src, "init", "-q", "-b", "main")
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "base")
    return src


def _diff(repo: Path, plugin: Path, *extra: str) -> int:  # noqa: F811
    return run("diff", "-p", str(repo), "--config", str(plugin), "--no-progress", "-j", "1",
               *extra)


def _states(log: dict) -> list[tuple[str, int, str]]:
    return [(r["message"]["text"], r["locations"][0]["physicalLocation"]["region"]["startLine"],
             r["baselineState"]) for r in log["runs"][0]["results"]]


def test_diff_reports_new_findings_and_states_them_all(
        repo: Path, plugin: Path, tmp_path: Path,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    # Shift pfn_walk down (same finding, new line), add new_walk in another TU, drop third.
    (repo / "mm" / "a.c").write_text("/* a comment */\n\n" + A_C)
    (repo / "mm" / "b.c").write_text("int other(void) { return 0; }\nint new_walk(void)\n"
                                     "{\n\treturn 1;\n}\n")
    (repo / "mm" / "c.c").write_text("int fourth(void) { return 3; }\n")
    out, js = tmp_path / "new.sarif", tmp_path / "new.json"
    assert _diff(repo, plugin, "--base", "HEAD", "--format", "sarif", "-o", str(out),
                 "--json-output", str(js)) == 1
    err = capsys.readouterr().err
    assert "3 files differ, 3 TUs parsed again for the base; 1 of 2 findings are new" in err
    log = json.loads(out.read_text())
    # the whole head result, each with its state, and base's vanished finding as absent
    assert _states(log) == [("pfn_walk is named", 4, "unchanged"),
                            ("new_walk is named", 2, "new"), ("third is named", 1, "absent")]
    summary = json.loads(js.read_text())["summary"]
    assert summary == {"findings": 2, "reported": 1, "new": 1, "unchanged": 1, "updated": 0,
                       "absent": 1, "suppressed": 0, "baseline": "HEAD"}
    assert _diff(repo, plugin, "--base", "HEAD") == 1
    text = capsys.readouterr().out.splitlines()
    assert text[0] == "mm/b.c:2:1: warning: new_walk is named [TEST001]"
    assert [line for line in text if "[TEST001]" in line] == text[:1]  # the new one only
    assert text[-1] == ("kmeminit: 1 new finding (1 warning) in 4 functions; against HEAD: "
                        "1 new, 1 unchanged, 0 updated, 1 absent")
    # for an upload: the absent result left out, the others as they were
    assert _diff(repo, plugin, "--base", "HEAD", "--format", "sarif", "-o", str(out),
                 "--no-absent") == 1
    assert [s for _, _, s in _states(json.loads(out.read_text()))] == ["unchanged", "new"]


def test_diff_refuses_a_baseline_file(repo: Path, plugin: Path, tmp_path: Path,  # noqa: F811
                                      capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.sarif"
    old.write_text('{"runs": []}')
    assert _diff(repo, plugin, "--base", "HEAD", "--baseline", str(old)) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "--baseline cannot be combined with kmeminit diff" in line


def test_diff_header_change_reparses_its_includers_only(
        repo: Path, plugin: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    (repo / "mm" / "walk.h").write_text("#define STEP 2\n")
    assert _diff(repo, plugin, "--base", "HEAD") == 0
    err = capsys.readouterr().err
    assert "1 files differ, 1 TUs parsed again for the base;" in err
    assert "; 0 of 2 findings are new" in err


def test_diff_between_two_commits_and_suppressions(
        repo: Path, plugin: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    base = git(repo, "rev-parse", "HEAD")
    (repo / "mm" / "c.c").write_text("int new_walk(void) { return 2; }\n")
    git(repo, "commit", "-q", "-am", "head")
    head = git(repo, "rev-parse", "HEAD")
    (repo / "mm" / "c.c").write_text("int third(void) { return 3; }\n")  # working tree: base
    assert _diff(repo, plugin, "--base", base, "--head", head) == 1
    assert "mm/c.c:1:1: warning: new_walk is named" in capsys.readouterr().out
    (repo / ".kmeminit-suppressions.yaml").write_text(
        "suppressions:\n  - rule: TEST001\n    path: mm/c.c\n    function: new_walk\n"
        "    reason: reviewed\n")
    assert _diff(repo, plugin, "--base", base, "--head", head, "--format", "sarif") == 0
    log = json.loads(capsys.readouterr().out)
    new = [r for r in log["runs"][0]["results"] if r["baselineState"] == "new"]
    assert [r["suppressions"] for r in new] == [[{"kind": "external",
                                                 "justification": "reviewed"}]]
    assert log["runs"][0]["versionControlProvenance"][0]["revisionId"] == head


@pytest.mark.parametrize("args, message", [
    (["--base", "nosuchrev"], "'nosuchrev' is not a commit"),
    (["--base=--upload-pack=x"], "is not a revision"),
])
def test_diff_bad_revision(repo: Path, plugin: Path, args: list[str], message: str,  # noqa: F811
                           capsys: pytest.CaptureFixture[str]) -> None:
    assert _diff(repo, plugin, *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_diff_needs_a_git_checkout(repo: Path, plugin: Path,  # noqa: F811
                                   capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(repo / ".git")
    assert _diff(repo, plugin, "--base", "HEAD") == 2
    assert "not a git checkout" in capsys.readouterr().err


def test_check_baseline_category_provenance(repo: Path, plugin: Path, tmp_path: Path,  # noqa: F811
                                            capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.sarif"
    assert run("check", "-p", str(repo), "--config", str(plugin), "--format", "sarif",
               "-o", str(old)) == 1
    run_ = json.loads(old.read_text())["runs"][0]
    assert run_["automationDetails"] == {"id": "kmeminit/unknown/"}
    vcs = run_["versionControlProvenance"][0]
    assert (vcs["revisionId"], vcs["branch"]) == (git(repo, "rev-parse", "HEAD"), "main")
    assert vcs["repositoryUri"] == repo.resolve().as_uri()
    (repo / "mm" / "b.c").write_text("int new_walk(void) { return 1; }\n")
    capsys.readouterr()
    assert run("check", "-p", str(repo), "--config", str(plugin), "--baseline", str(old)) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "mm/b.c:1:1: warning: new_walk is named [TEST001]"
    assert out[-1].startswith("kmeminit: 1 new finding")
    assert out[-1].endswith(": 1 new, 2 unchanged, 0 updated, 0 absent")
    (repo / "mm" / "b.c").write_text("int other(void) { return 0; }\n")
    assert run("check", "-p", str(repo), "--config", str(plugin), "--baseline", str(old),
               "--category", "linux/x86", "--format", "sarif") == 0
    log = json.loads(capsys.readouterr().out)
    assert log["runs"][0]["automationDetails"] == {"id": "linux/x86"}
    assert {r["baselineState"] for r in log["runs"][0]["results"]} == {"unchanged"}


@pytest.mark.parametrize("setup, message", [
    ("baseline", "old.sarif:1: baseline is not valid JSON"),
    ("suppressions", ".kmeminit-suppressions.yaml:2: a suppression needs a 'reason'"),
    ("missing", "nowhere.yaml: suppressions file not found"),
])
def test_check_bad_triage_files_exit_2(repo: Path, plugin: Path, tmp_path: Path,  # noqa: F811
                                       setup: str, message: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check", "-p", str(repo), "--config", str(plugin)]
    if setup == "baseline":
        (tmp_path / "old.sarif").write_text("{oops")
        args += ["--baseline", str(tmp_path / "old.sarif")]
    elif setup == "suppressions":
        (repo / ".kmeminit-suppressions.yaml").write_text(
            "suppressions:\n  - fingerprint: x\n")
    else:
        args += ["--suppressions", str(tmp_path / "nowhere.yaml")]
    assert run(*args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_diff_counts_agree_in_every_format(repo: Path, plugin: Path, tmp_path: Path,  # noqa: F811
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Text summary, JSON summary, SARIF baselineStates and the Markdown table count the
    same findings, whether written by one run or by one run per format."""
    import re
    from collections import Counter

    (repo / "mm" / "b.c").write_text("int new_walk(void) { return 1; }\n")
    (repo / "mm" / "c.c").write_text("int fourth(void) { return 3; }\n")
    (repo / "kmeminit-suppressions.yaml").write_text(
        "suppressions:\n  - function: pfn_walk\n    reason: reviewed\n")
    sarif, js, md = tmp_path / "r.sarif", tmp_path / "r.json", tmp_path / "r.md"
    capsys.readouterr()
    assert _diff(repo, plugin, "--base", "HEAD", "--sarif-output", str(sarif),
                 "--json-output", str(js), "--markdown-output", str(md)) == 1
    summary_line = capsys.readouterr().out.splitlines()[-1]
    text = dict((k, int(v)) for v, k in re.findall(r"(\d+) (new|unchanged|updated|absent|"
                                                     r"suppressed)\b", summary_line))
    summary = json.loads(js.read_text())["summary"]
    states = Counter(r["baselineState"] for r in json.loads(sarif.read_text())["runs"][0]
                     ["results"])
    assert text == {k: summary[k] for k in text} == {
        "new": 1, "unchanged": 1, "updated": 0, "absent": 1, "suppressed": 1}
    assert {k: states[k] for k in ("new", "unchanged", "updated", "absent")} == {
        k: summary[k] for k in ("new", "unchanged", "updated", "absent")}
    assert "| TEST001 named-functions | warning | 1 | 1 | 0 | 1 | 1 |" in md.read_text()
    assert _diff(repo, plugin, "--base", "HEAD", "--format", "json") == 1
    assert json.loads(capsys.readouterr().out)["summary"] == summary


def test_diff_reuses_the_base_result_a_check_or_diff_left_in_the_store(
        repo: Path, plugin: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    """A check of the clean checkout keeps HEAD's findings; a diff against it then
    analyses only the head side, with the result of a diff that analyses both."""
    assert run("check", "-p", str(repo), "--config", str(plugin), "--no-progress",
               "--fail-on", "none") == 0
    capsys.readouterr()
    (repo / "mm" / "b.c").write_text("int other(void) { return 0; }\nint new_walk(void)\n"
                                     "{\n\treturn 1;\n}\n")
    assert _diff(repo, plugin, "--base", "HEAD") == 1
    cached = capsys.readouterr()
    assert "the base's result from the store;" in cached.err
    assert "; 1 of 3 findings are new" in cached.err
    fresh_store = str(repo / "fresh.db")
    assert _diff(repo, plugin, "--base", "HEAD", "--store", fresh_store) == 1
    fresh = capsys.readouterr()
    assert "1 files differ, 1 TUs parsed again for the base" in fresh.err
    assert fresh.out == cached.out and "new_walk is named" in cached.out
    # that diff kept the base's result too; a dirty tree is never taken for HEAD
    assert _diff(repo, plugin, "--base", "HEAD", "--store", fresh_store) == 1
    assert "the base's result from the store" in capsys.readouterr().err
    assert run("check", "-p", str(repo), "--config", str(plugin), "--no-progress",
               "--fail-on", "none", "--store", str(repo / "dirty.db")) == 0
    assert _diff(repo, plugin, "--base", "HEAD", "--store", str(repo / "dirty.db")) == 1
    assert "parsed again for the base" in capsys.readouterr().err


# One-line changes of the example tree, each touching another rule family: the diff, whose
# base side comes from the store, must report as new what two full runs differ by.
EDITS = [
    # KMI003: a walker trusts pfn_valid()
    ("mm/compaction.c", "struct page *page = pfn_to_online_page(low_pfn);",
     "struct page *page = pfn_valid(low_pfn) ? pfn_to_page(low_pfn) : NULL;"),
    # KMI001: sections online before the memmap is initialised
    ("mm/memory_hotplug.c", "\tmove_pfn_range_to_zone(zone, pfn, nr_pages, NULL, MIGRATE_ISOLATE);",
     "\tonline_mem_sections(pfn, pfn + nr_pages);\n"
     "\tmove_pfn_range_to_zone(zone, pfn, nr_pages, NULL, MIGRATE_ISOLATE);"),
    # KMI006: a new site on the online path; KMI007: a new reader there
    ("mm/memory_hotplug.c", "\t__free_pages_core(page, order, MEMINIT_HOTPLUG);",
     "\t__ClearPageReserved(page);\n\t__free_pages_core(page, order, MEMINIT_HOTPLUG);"),
    ("mm/memory_hotplug.c", "\t__free_pages_core(page, order, MEMINIT_HOTPLUG);",
     "\tif (PageReserved(page))\n\t\treturn;\n\t__free_pages_core(page, order, MEMINIT_HOTPLUG);"),
    # a PG_reserved site under a new condition: the same findings
    ("mm/mm_init.c", "\t\t__SetPageReserved(page);\n\t}\n}",
     "\t\tif (nid)\n\t\t\t__SetPageReserved(page);\n\t}\n}"),
    # a comment: nothing to re-check
    ("mm/page_owner.c", "#include", "/* a comment */\n#include"),
]


@pytest.fixture(scope="module")
def example_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.helpers import EXAMPLE

    repo = tmp_path_factory.mktemp("example") / "minikernel"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(
        ".kmeminit", "compile_commands.json", "__pycache__"))
    subprocess.run([sys.executable, str(repo / "gen_compdb.py")], check=True,
                   capture_output=True)
    (repo / ".gitignore").write_text(".kmeminit/\ncompile_commands.json\n*.db\n*.json\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    return repo


def _prints(path: Path, state: str | None = None) -> set[str]:
    return {f["fingerprint"] for f in json.loads(path.read_text())["findings"]
            if state is None or f.get("baseline_state") == state}


@pytest.mark.parametrize("file, old, new", EDITS)
def test_diff_with_the_stored_base_result_equals_two_full_runs(
        example_repo: Path, tmp_path: Path, file: str, old: str, new: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    repo = example_repo
    common = ["-p", str(repo), "--store", str(tmp_path / "facts.db"), "--no-progress", "-j",
              "2", "--fail-on", "none", "--format", "json"]
    assert run("check", *common, "-o", str(tmp_path / "base.json")) == 0
    path = repo / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    git(repo, "commit", "-q", "-a", "-m", "edit")
    try:
        assert run("diff", *common, "--base", "HEAD~1", "-o", str(tmp_path / "new.json")) == 0
        assert "the base's result from the store" in capsys.readouterr().err
        assert run("check", *common, "-o", str(tmp_path / "head.json")) == 0
        truth = _prints(tmp_path / "head.json") - _prints(tmp_path / "base.json")
        assert _prints(tmp_path / "new.json", "new") == truth
        assert bool(truth) == ("comment" not in new and "if (nid)" not in new)
    finally:
        git(repo, "reset", "-q", "--hard", "HEAD~1")
