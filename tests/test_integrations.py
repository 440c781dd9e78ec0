"""GitHub Actions workflow, problem matcher and pre-commit hook shipped for integrations."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from sarif_fixtures import make_report, make_tree

from kmeminit.analyzer.model import Level, Location
from kmeminit.analyzer.results import Finding
from kmeminit.sarif import format_text
from kmeminit.sarif.text import TextOptions

REPO = Path(__file__).resolve().parent.parent
GITHUB = REPO / "examples" / "github"


def _matcher() -> dict:
    [matcher] = json.loads((GITHUB / "kmeminit-problem-matcher.json").read_text())[
        "problemMatcher"]
    return matcher


def _js_regexp(pattern: str) -> re.Pattern[str]:
    # The runner evaluates it as a JavaScript RegExp; keep to the shared subset.
    assert "(?P" not in pattern and "(?<" not in pattern
    return re.compile(pattern)


def test_problem_matcher_parses_text_output(tmp_path: Path) -> None:
    matcher = _matcher()
    [pattern] = matcher["pattern"]
    regexp = _js_regexp(pattern["regexp"])
    src = make_tree(tmp_path)
    spaced = Finding.make("KMI002", Level.NOTE, "a note: with [brackets] inside",
                          Location(str(src / "mm" / "page_owner.c"), 2, 3), None)
    text = format_text(make_report(src, extra_findings=(spaced,)),
                       TextOptions(min_level=Level.NOTE))
    parsed = []
    for line in text.splitlines():
        match = regexp.match(line)
        if match:
            parsed.append({key: match.group(pattern[key]) for key in
                           ("file", "line", "column", "severity", "message", "code")})
    assert parsed == [
        {"file": "mm/page_owner.c", "line": "2", "column": "3", "severity": "note",
         "message": "a note: with [brackets] inside", "code": "KMI002"},
        {"file": "mm/page_owner.c", "line": "6", "column": "22", "severity": "error",
         "message": "memmap of start_pfn never initialised", "code": "KMI001"},
        {"file": "mm/page_owner.c", "line": "8", "column": "2", "severity": "warning",
         "message": "page used before memmap init in init_pages", "code": "KMI003"}]
    # trace notes (indented) and the summary are not problems of their own
    assert not any(regexp.match(line) for line in text.splitlines() if line.startswith(" "))


def test_workflow_uploads_sarif_with_a_category() -> None:
    workflow = yaml.safe_load((GITHUB / "kmeminit.yml").read_text())
    steps = workflow["jobs"]["kmeminit"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("actions/checkout@") for u in uses)
    [upload] = [s for s in steps if s.get("uses", "").startswith(
        "github/codeql-action/upload-sarif@")]
    assert upload["with"]["category"] and upload["with"]["sarif_file"] == "kmeminit.sarif"
    runs = "\n".join(s.get("run", "") for s in steps)
    for needed in ("gen_compile_commands.py", "pip install", "kmeminit check", "kmeminit diff",
                   "--format sarif", "add-matcher"):
        assert needed in runs, needed
    assert workflow["permissions"]["security-events"] == "write"


def test_pre_commit_hook() -> None:
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "kmeminit" and hook["language"] == "python"
    assert hook["entry"].startswith("kmeminit diff --base HEAD")
    assert re.search(hook["files"], "mm/memremap.c") and re.search(hook["files"], "a/b.h")
    assert not re.search(hook["files"], "README.md")
