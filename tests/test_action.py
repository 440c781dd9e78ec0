"""The GitHub Action (action.yml) run locally on the example tree in a temporary git
repository: both modes and both exit paths, with fake GITHUB_OUTPUT and
GITHUB_STEP_SUMMARY files (tests/action_runner.py runs the composite steps as the runner
does; `uses:` steps are recorded, the upload with the file it would send)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from action_runner import ActionRun, run_action

from kmeminit.analyzer import version
from tests.helpers import EXAMPLE

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

# A pull request that breaks a pfn walker: pfn_to_online_page() replaced by the
# pfn_valid() + pfn_to_page() pair KMI003 reports.
GOOD_WALK = """\
		struct page *page = pfn_to_online_page(pfn);

		if (!page)
			continue;
"""
BAD_WALK = """\
		struct page *page;

		if (!pfn_valid(pfn))
			continue;
		page = pfn_to_page(pfn);
"""
CATEGORY = "kmeminit/x86_64/"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                           *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A kernel repository as GitHub holds it: main, a pull request branch that adds one
    KMI003 finding, a harmless one that only shifts lines, and refs/pull/N/merge commits of
    each into main (which moved on after they branched)."""
    repo = tmp_path_factory.mktemp("origin") / "linux"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(
        ".kmeminit", "compile_commands.json*"))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "uploadpack.allowAnySHA1InWant", "true")  # as GitHub serves
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    shas = {"fork_point": git(repo, "rev-parse", "HEAD")}
    page_owner = repo / "mm" / "page_owner.c"
    original = page_owner.read_text()
    for branch, text in (("bad", original.replace(GOOD_WALK, BAD_WALK)),
                         ("harmless", "// a new first line\n" + original)):
        git(repo, "checkout", "-q", "-b", branch, "main")
        page_owner.write_text(text)
        git(repo, "commit", "-q", "-am", branch)
        shas[branch] = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    (repo / "README.md").write_text((repo / "README.md").read_text() + "\nmain moved on.\n")
    git(repo, "commit", "-q", "-am", "main moves on")
    shas["main"] = git(repo, "rev-parse", "HEAD")
    for n, branch in enumerate(("bad", "harmless"), start=1):
        git(repo, "checkout", "-q", "--detach", "main")
        git(repo, "merge", "-q", "--no-ff", "-m", f"Merge {branch} into main", branch)
        git(repo, "update-ref", f"refs/pull/{n}/merge", "HEAD")
        shas[f"merge_{branch}"] = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    shas["url"] = repo.as_uri()
    return shas


def checkout(origin: dict[str, str], tmp_path: Path, ref: str, depth: int) -> Path:
    """What actions/checkout leaves: a shallow clone at `ref`, detached."""
    work = tmp_path / "work"
    work.mkdir(parents=True)
    git(work, "init", "-q")
    git(work, "remote", "add", "origin", origin["url"])
    git(work, "fetch", "-q", "--no-tags", f"--depth={depth}", "origin", ref)
    git(work, "checkout", "-q", "--detach", "FETCH_HEAD")
    # the workflow's build step: compile_commands.json, untracked as in a kernel tree
    subprocess.run([sys.executable, str(work / "gen_compdb.py")], check=True,
                   capture_output=True)
    return work


def act(work: Path, tmp_path: Path, **inputs: str) -> ActionRun:
    temp = tmp_path / "runner"
    temp.mkdir(parents=True, exist_ok=True)
    # install: false uses the kmeminit of this test's environment (no network here)
    env = {"PATH": f"{Path(sys.executable).parent}:{Path('/usr/bin')}:{Path('/bin')}"}
    github = {"event_name": "pull_request" if inputs.get("mode") == "pull-request" else "push",
              "event": {"pull_request": {"base": {"sha": inputs.pop("event_base", "")}}}}
    return run_action(REPO, {"install": "false", "category": CATEGORY, "jobs": "2", **inputs},
                      work, temp, github, env)


def _upload(run: ActionRun) -> dict:
    upload = run.step("Upload to code scanning")
    assert upload.ran and upload.uploaded is not None, run.step("Analyse").stderr
    assert upload.with_["category"] == CATEGORY
    return json.loads(upload.uploaded)


def _states(log: dict) -> list[tuple[str, str, int, str]]:
    return [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
             r["locations"][0]["physicalLocation"]["region"]["startLine"],
             r.get("baselineState", "")) for r in log["runs"][0]["results"]]


def test_pull_request_with_a_new_finding(origin: dict[str, str], tmp_path: Path) -> None:
    """The merge commit at depth 2 (its first parent is the base): the upload holds the
    full head result, `new` on exactly the new finding, and the job fails after it."""
    work = checkout(origin, tmp_path, "refs/pull/1/merge", depth=2)
    full = act(checkout(origin, tmp_path / "full", origin["main"], 1), tmp_path / "full",
               **{"fail-on": "none"})
    base_results = _states(_upload(full))
    # as actions/checkout leaves it; nothing needs fetching at depth 2
    git(work, "remote", "set-url", "origin", "https://github.com/o/linux")
    run = act(work, tmp_path, mode="pull-request")
    analyse = run.step("Analyse")
    assert analyse.outcome == "success", analyse.stderr
    log = _upload(run)
    states = _states(log)
    new = [s for s in states if s[3] == "new"]
    assert [(rule, uri) for rule, uri, _, _ in new] == [("KMI003", "mm/page_owner.c")]
    assert Counter(s[3] for s in states) == {"new": 1, "unchanged": len(base_results)}
    assert "absent" not in {s[3] for s in states}  # GitHub reads no baselineState
    assert log["runs"][0]["automationDetails"]["id"] == CATEGORY
    # fails after the upload, with the outputs and the summary written
    verdict = run.step("Verdict")
    assert verdict.outcome == "failure" and run.index("Verdict") > run.index(
        "Upload to code scanning")
    assert "kmeminit reported 1 finding (0 errors) at or above 'warning'" in verdict.stdout
    assert run.outputs["new-findings"] == "1" and run.outputs["exit-code"] == "1"
    assert run.outputs["sarif"].endswith("kmeminit.sarif")
    assert "### kmeminit: 1 new finding against" in run.summary
    assert "| KMI003 pfn-walker-uninit-memmap | warning | 1 |" in run.summary
    line = new[0][2]
    assert (f"[mm/page_owner.c:{line}](https://github.com/o/linux/blob/"
            f"{origin['merge_bad']}/mm/page_owner.c#L{line})") in run.summary
    # the problem matcher was on while the text output went by, and every finding
    # line it had to annotate is one it matches
    assert "::add-matcher::" in analyse.stdout and "::remove-matcher owner=kmeminit::" in (
        analyse.stdout)
    lines = [line for line in analyse.stdout.splitlines() if "[KMI003]" in line
             and not line.startswith(" ")]
    assert len(lines) == 1 and lines[0].startswith("mm/page_owner.c:")
    assert not run.step("Save the fact store").ran  # pull requests do not save the cache


def test_pull_request_without_new_findings(origin: dict[str, str], tmp_path: Path) -> None:
    """A change that only shifts lines, checked out at its head (depth 1): the action
    fetches the base and deepens to the merge base; nothing is new, the job passes."""
    work = checkout(origin, tmp_path, origin["harmless"], depth=1)
    run = act(work, tmp_path, mode="pull-request", event_base=origin["main"])
    analyse = run.step("Analyse")
    assert analyse.outcome == "success", analyse.stderr
    assert f"comparing with {origin['fork_point']} (the merge base)" in analyse.stdout
    states = Counter(s[3] for s in _states(_upload(run)))
    assert set(states) == {"unchanged"}
    assert not run.failed and run.step("Verdict").outcome == "success"
    assert run.outputs["new-findings"] == "0" and run.outputs["exit-code"] == "0"
    assert "### kmeminit: 0 new findings against" in run.summary


def test_full_mode_both_exit_paths(origin: dict[str, str], tmp_path: Path) -> None:
    work = checkout(origin, tmp_path, origin["main"], depth=1)
    run = act(work, tmp_path, **{"fail-on": "error"})
    log = _upload(run)
    assert all("baselineState" not in r for r in log["runs"][0]["results"])
    errors = sum(r["level"] == "error" for r in log["runs"][0]["results"])
    assert errors and run.outputs["errors"] == str(errors)
    assert run.step("Verdict").outcome == "failure"
    assert run.index("Verdict") > run.index("Upload to code scanning")
    assert run.step("Save the fact store").ran  # full mode saves the store for next time
    assert "### kmeminit: " in run.summary and "#### Findings" in run.summary
    (work / "kmeminit.yaml").write_text("index:\n  tu_timeout: 60\n")
    again = act(work, tmp_path / "again", **{"fail-on": "none", "config": "kmeminit.yaml"})
    assert not again.failed and again.outputs["exit-code"] == "0"
    keys = [run.step("Install kmeminit").outputs["cache-key"],
            again.step("Install kmeminit").outputs["cache-key"]]
    assert keys[0].endswith(origin["main"]) and keys[0] != keys[1]  # the config is in it
    assert keys[0].startswith(f"kmeminit-Linux-kmeminit-x86_64--{version()}-")


def test_bad_input_skips_the_upload_and_fails(origin: dict[str, str], tmp_path: Path) -> None:
    work = checkout(origin, tmp_path, origin["main"], depth=1)
    (work / "kmeminit-suppressions.yaml").write_text(
        "suppressions:\n  - rule: KMI003\n    reason: r\n    expires: 2031-13-45\n")
    run = act(work, tmp_path)
    assert run.step("Analyse").outcome == "success"
    assert "kmeminit-suppressions.yaml:4: '2031-13-45' is not a valid date" in run.step(
        "Analyse").stderr
    assert not run.step("Upload to code scanning").ran
    assert run.step("Verdict").outcome == "failure" and run.outputs["exit-code"] == "2"
    assert "could not complete the analysis (exit 2)" in run.summary
    fork = act(work, tmp_path / "fork", mode="sideways")
    assert fork.outputs["exit-code"] == "2" and "mode must be full or pull-request" in (
        fork.step("Analyse").stdout)
