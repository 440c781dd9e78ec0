"""GitHub Actions workflow, problem matcher and pre-commit hook shipped for integrations."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from sarif_fixtures import make_report, make_tree

from kmeminit.analyzer.model import Level, Location
from kmeminit.analyzer.results import Finding
from kmeminit.sarif import format_text
from kmeminit.sarif.text import TextOptions
from tests.helpers import EXAMPLE, example_compdb

REPO = Path(__file__).resolve().parent.parent
GITHUB = REPO / "examples" / "github"


def _matchers() -> dict[str, dict]:
    data = json.loads((GITHUB / "kmeminit-problem-matcher.json").read_text())
    return {m["owner"]: m for m in data["problemMatcher"]}


def _js_regexp(pattern: str) -> re.Pattern[str]:
    # The runner evaluates it as a JavaScript RegExp; keep to the shared subset.
    assert "(?P" not in pattern and "(?<" not in pattern
    return re.compile(pattern)


def _annotations(text: str) -> list[dict[str, str]]:
    """What the runner makes of `text` with both matchers on: one annotation per line
    that a matcher matches, its severity from the line or the matcher's default."""
    found = []
    for matcher in _matchers().values():
        [pattern] = matcher["pattern"]
        regexp = _js_regexp(pattern["regexp"])
        for line in text.splitlines():
            match = regexp.match(line)
            if match:
                fields = {key: match.group(pattern[key]) for key in
                          ("file", "line", "column", "message", "code")}
                fields["severity"] = (match.group(pattern["severity"]) if "severity" in pattern
                                      else matcher["severity"])
                found.append(fields)
    return sorted(found, key=lambda f: (f["file"], int(f["line"]), f["code"]))


def test_problem_matcher_severities_are_the_runners() -> None:
    """The runner knows error, warning and notice: a note becomes a notice through the
    second matcher's default severity, never through a captured `note`."""
    matchers = _matchers()
    assert set(matchers) == {"kmeminit", "kmeminit-note"}
    assert matchers["kmeminit-note"]["severity"] == "notice"
    assert "(error|warning)" in matchers["kmeminit"]["pattern"][0]["regexp"]


def test_problem_matcher_parses_text_output(tmp_path: Path) -> None:
    src = make_tree(tmp_path)
    spaced = Finding.make("KMI002", Level.NOTE, "a note: with [brackets] inside",
                          Location(str(src / "mm" / "page_owner.c"), 2, 3), None)
    text = format_text(make_report(src, extra_findings=(spaced,)),
                       TextOptions(min_level=Level.NOTE))
    assert _annotations(text) == [
        {"file": "mm/page_owner.c", "line": "2", "column": "3", "severity": "notice",
         "message": "a note: with [brackets] inside", "code": "KMI002"},
        {"file": "mm/page_owner.c", "line": "6", "column": "22", "severity": "error",
         "message": "memmap of start_pfn never initialised", "code": "KMI001"},
        {"file": "mm/page_owner.c", "line": "8", "column": "2", "severity": "warning",
         "message": "page used before memmap init in init_pages", "code": "KMI003"}]


# Lines a richer terminal output may put between findings (a source line with its caret,
# a summary table, notifications): the matchers must take none of them for a finding.
EXTRA_LINES = [
    "   47 |         page = pfn_to_page(pfn);",
    "      |                ^~~~~~~~~~~~~~~~",
    "  mm/page_owner.c:49:10: note: pfn_to_page(pfn) converts the pfn",
    "| KMI003 | 2 | 0 |",
    "mm/page_owner.c:3: warning: clang: unknown flag -mfoo [kmeminit]",
    "kmeminit: error: checker KMI002 crashed and was skipped: boom [kmeminit]",
    "kmeminit: 28 findings (2 errors, 3 warnings, 23 notes) in 194 functions",
]


def test_problem_matcher_on_the_example_trees_text_output(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every finding line of `kmeminit check` over examples/minikernel is one annotation,
    with the finding's file, line, column, severity and rule; nothing else is."""
    from kmeminit.analyzer.cli import main

    example_compdb(tmp_path)
    args = ["check", "-p", str(tmp_path), "--source-root", str(EXAMPLE), "--store",
            str(tmp_path / "facts.db"), "--fail-on", "none", "--no-progress", "-j", "2"]
    assert main([*args, "--format", "json", "-o", str(tmp_path / "r.json")]) == 0
    findings = json.loads((tmp_path / "r.json").read_text())["findings"]
    capsys.readouterr()
    assert main([*args, "--min-level", "note"]) == 0
    text = capsys.readouterr().out
    severity = {"error": "error", "warning": "warning", "note": "notice"}
    expected = sorted(({"file": f["file"], "line": str(f["line"]), "column": str(f["column"]),
                        "severity": severity[f["level"]], "code": f["rule"]}
                       for f in findings), key=lambda f: (f["file"], int(f["line"]), f["code"]))
    assert len(expected) > 20
    got = [{k: v for k, v in a.items() if k != "message"} for a in _annotations(text)]
    assert got == expected
    noisy = "\n".join(line for finding in text.splitlines() for line in (finding, *EXTRA_LINES))
    assert len(_annotations(noisy)) == len(expected)
    assert not _annotations("\n".join(EXTRA_LINES))


def test_workflow_runs_the_action_per_architecture() -> None:
    workflow = yaml.safe_load((GITHUB / "kmeminit.yml").read_text())
    job = workflow["jobs"]["kmeminit"]
    assert job["permissions"] == {"contents": "read", "security-events": "write",
                                  "actions": "read"}
    assert [(m["arch"], m["cross-compile"]) for m in job["strategy"]["matrix"]["include"]] == [
        ("x86_64", ""), ("arm64", "aarch64-linux-gnu-")]
    steps = job["steps"]
    [checkout] = [s for s in steps if s.get("uses", "").startswith("actions/checkout@")]
    assert checkout["with"] == {"fetch-depth": 2, "persist-credentials": False}
    [action] = [s for s in steps if s.get("uses", "").startswith("kmeminit/kmeminit@")]
    assert action["with"]["category"] == "kmeminit/${{ matrix.arch }}/"
    assert "pull-request" in action["with"]["mode"] and "full" in action["with"]["mode"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "gen_compile_commands.py" in runs and "pip install" not in runs
    upload = yaml.safe_load((GITHUB / "kmeminit-upload.yml").read_text())
    assert list(upload[True]) == ["workflow_run"]  # YAML 1.1 reads the key `on` as True
    assert upload["jobs"]["upload"]["permissions"]["security-events"] == "write"


def test_pre_commit_hook() -> None:
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "kmeminit" and hook["language"] == "python"
    assert hook["entry"].startswith("kmeminit diff --base HEAD")
    assert re.search(hook["files"], "mm/memremap.c") and re.search(hook["files"], "a/b.h")
    assert not re.search(hook["files"], "README.md")


def _readme_blocks(lang: str) -> list[str]:
    text = (REPO / "README.md").read_text()
    return [re.sub(r"^  ", "", b, flags=re.MULTILINE)
            for b in re.findall(rf"```{lang}\n(.*?)```", text, re.DOTALL)]


def test_readme_github_and_pre_commit_snippets_fit_the_files() -> None:
    """The README's YAML is what the repository offers: the pre-commit config names a
    hook of .pre-commit-hooks.yaml at a commit (no tag exists), the action snippet only
    inputs action.yml has, the same pins as the example workflow."""
    action = yaml.safe_load((REPO / "action.yml").read_text())
    example = (GITHUB / "kmeminit.yml").read_text()
    hooks = {h["id"] for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    [pre_commit] = [yaml.safe_load(b) for b in _readme_blocks("yaml") if "repos:" in b]
    [repo] = pre_commit["repos"]
    assert repo["repo"] == "https://github.com/kmeminit/kmeminit"
    assert re.fullmatch(r"[0-9a-f]{40}", repo["rev"]) and {h["id"] for h in repo["hooks"]} <= hooks
    [steps] = [yaml.safe_load(b) for b in _readme_blocks("yaml") if "kmeminit/kmeminit@" in b]
    for step in steps:
        assert step["uses"].split(" ")[0] in example  # the same pins as the example
        if step["uses"].startswith("kmeminit/kmeminit@"):
            assert set(step["with"]) <= set(action["inputs"])
    assert repo["rev"] in steps[-1]["uses"]
