"""Every GitHub workflow and action file of the repository: valid against the GitHub
schemas check-jsonschema vendors, clean under zizmor's security audit (regular persona,
offline), and every action it uses pinned by commit to the majors that run on Node 24."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# The current majors, each running on Node 24 (their release notes: checkout v5+,
# setup-python v6+, cache v5+, codeql-action v4, upload-artifact v6+, download-artifact
# v7+ moved to node24; codeql-action v3 is retired in December 2026).  zizmor asks for
# commit pins; the comment names the release the commit is.
PINS = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/cache/restore": ("55cc8345863c7cc4c66a329aec7e433d2d1c52a9", "v6.1.0"),
    "actions/cache/save": ("55cc8345863c7cc4c66a329aec7e433d2d1c52a9", "v6.1.0"),
    "actions/upload-artifact": ("043fb46d1a93c77aae656e7c1c64a875d1fc6a0a", "v7.0.1"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
    "github/codeql-action/upload-sarif": ("5595ccaf912efad79be6eef63a5619ff05969be3",
                                          "v4.37.6"),
}
SKIP_DIRS = {".git", ".venv", "build", "node_modules", ".pytest_cache"}


def _files() -> tuple[list[Path], list[Path]]:
    """(workflows, actions) in the repository."""
    workflows, actions = [], []
    for path in sorted(REPO.rglob("*.y*ml")):
        if SKIP_DIRS & set(path.relative_to(REPO).parts) or path.suffix not in (".yml",
                                                                                ".yaml"):
            continue
        if path.stem == "action":
            actions.append(path)
        elif path.parent.name == "workflows" or path.parent == REPO / "examples" / "github":
            workflows.append(path)
    return workflows, actions


def _tool(name: str) -> str:
    tool = BIN / name
    if not tool.exists():
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return str(tool)


def test_the_files_are_found() -> None:
    workflows, actions = _files()
    assert REPO / "action.yml" in actions
    assert {p.name for p in workflows} >= {"kmeminit.yml", "kmeminit-upload.yml"}


@pytest.mark.parametrize("kind", ["workflows", "actions"])
def test_github_schemas(kind: str) -> None:
    workflows, actions = _files()
    files = workflows if kind == "workflows" else actions
    proc = subprocess.run([_tool("check-jsonschema"), "--builtin-schema",
                           f"vendor.github-{kind}", *map(str, files)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_regular_persona_offline() -> None:
    workflows, actions = _files()
    proc = subprocess.run([_tool("zizmor"), "--offline", "--no-progress",
                           *map(str, workflows + actions)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr


def _uses(path: Path) -> list[str]:
    data = yaml.safe_load(path.read_text())
    steps = [s for job in data.get("jobs", {}).values() for s in job.get("steps", [])]
    steps += data.get("runs", {}).get("steps", [])
    return [s["uses"] for s in steps if "uses" in s]


def test_actions_pinned_to_current_majors_by_commit() -> None:
    workflows, actions = _files()
    for path in workflows + actions:
        text = path.read_text()
        for uses in _uses(path):
            name, _, ref = uses.partition("@")
            if name == "kmeminit/kmeminit":
                continue  # this repository: test_kmeminit_action_pin
            assert name in PINS, f"{path.name}: {uses} is not a known pin"
            sha, release = PINS[name]
            assert ref == sha, f"{path.name}: {name} pinned to {ref}, expected {sha}"
            assert re.search(rf"{re.escape(uses)} # {re.escape(release)}\b", text), (
                f"{path.name}: {uses} lacks its '# {release}' comment")


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                          check=False)


def test_pinned_kmeminit_commits_exist_with_the_action_and_the_hook() -> None:
    """The example workflow, the README and the hook file pin this repository to a commit
    (kmeminit has no release tags): it must exist and hold the action and the pre-commit
    hook (a squash or a rebase of the history would lose it)."""
    if shutil.which("git") is None or _git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("not a git checkout")
    if _git("rev-parse", "--is-shallow-repository").stdout.strip() == "true":
        pytest.skip("a shallow clone lacks the history the pins name")
    texts = [(REPO / name).read_text() for name in
             ("examples/github/kmeminit.yml", "README.md", ".pre-commit-hooks.yaml")]
    pins = {m for text in texts for m in re.findall(
        r"(?:kmeminit/kmeminit@|rev: )([0-9a-f]{40})", text)}
    assert pins, "no pinned commit found"
    assert not any(re.search(r"rev: v\d|kmeminit/kmeminit@v\d", text) for text in texts)
    for sha in pins:
        for path in ("action.yml", "scripts/action/analyse.sh", ".pre-commit-hooks.yaml"):
            assert _git("cat-file", "-e", f"{sha}:{path}").returncode == 0, (
                f"{sha} is not a commit of this repository with {path}")


def test_shell_is_shellcheck_clean(tmp_path: Path) -> None:
    """The action's scripts and every `run:` block of the workflows (which hold no `${{ }}`
    expression: values reach the shell through env, never spliced into the script)."""
    workflows, actions = _files()
    scripts = sorted((REPO / "scripts" / "action").glob("*.sh"))
    for path in workflows + actions:
        data = yaml.safe_load(path.read_text())
        steps = [s for job in data.get("jobs", {}).values() for s in job.get("steps", [])]
        steps += data.get("runs", {}).get("steps", [])
        for n, step in enumerate(s for s in steps if "run" in s):
            assert "${{" not in step["run"], f"{path.name}: expression in a run: block"
            script = tmp_path / f"{path.stem}-{n}.sh"
            script.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + step["run"])
            scripts.append(script)
    proc = subprocess.run([_tool("shellcheck"), "--severity=style", *map(str, scripts)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout
