"""Run a composite action's steps locally, the way the GitHub runner does, for tests.

`run:` steps run under `bash --noprofile --norc -eo pipefail` (the runner's `shell: bash`)
with the step's `env:`, a fresh GITHUB_OUTPUT file per step (its `name=value` lines become
the step's outputs) and the job's GITHUB_STEP_SUMMARY.  `uses:` steps are not run: they are
recorded with their resolved `with:` inputs (and, for upload-sarif, a copy of the file it
would upload).  `${{ }}` expressions are evaluated with the subset of GitHub's expression
language that action files use: contexts (inputs, steps, github, runner), string literals,
`==`, `!=`, `&&`, `||`, `!`, parentheses, and success(), failure(), always().
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\))|"
                    r"(?P<call>[A-Za-z_]+\(\))|(?P<ref>[A-Za-z_][A-Za-z0-9_.-]*))")


@dataclass
class Step:
    name: str
    kind: str  # "run" or "uses"
    ran: bool
    outcome: str  # success, failure, skipped
    outputs: dict[str, str] = field(default_factory=dict)
    uses: str = ""
    with_: dict[str, str] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""
    uploaded: str | None = None  # upload-sarif: the file's content at upload time


@dataclass
class ActionRun:
    steps: list[Step]
    outputs: dict[str, str]
    summary: str

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    @property
    def failed(self) -> bool:
        return any(s.outcome == "failure" for s in self.steps)

    def index(self, name: str) -> int:
        return [s.name for s in self.steps].index(name)


class _Eval:
    def __init__(self, context: dict[str, Any], status: str) -> None:
        self.context = context
        self.status = status

    def __call__(self, text: str) -> Any:
        self.tokens = [m for m in _TOKEN.finditer(text) if m.group().strip()]
        if "".join(m.group() for m in self.tokens).replace(" ", "") != text.replace(" ", ""):
            raise ValueError(f"unsupported expression: {text}")
        self.pos = 0
        value = self._or()
        if self.pos != len(self.tokens):
            raise ValueError(f"unsupported expression: {text}")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.pos].group().strip() if self.pos < len(self.tokens) else None

    def _or(self) -> Any:
        value = self._and()
        while self._peek() == "||":
            self.pos += 1
            right = self._and()
            value = value or right
        return value

    def _and(self) -> Any:
        value = self._cmp()
        while self._peek() == "&&":
            self.pos += 1
            right = self._cmp()
            value = value and right
        return value

    def _cmp(self) -> Any:
        value = self._unary()
        while self._peek() in ("==", "!="):
            op = self._peek()
            self.pos += 1
            right = self._unary()
            same = str(value).lower() == str(right).lower()  # GitHub compares ignoring case
            value = same if op == "==" else not same
        return value

    def _unary(self) -> Any:
        if self._peek() == "!":
            self.pos += 1
            return not self._unary()
        if self._peek() == "(":
            self.pos += 1
            value = self._or()
            assert self._peek() == ")"
            self.pos += 1
            return value
        token = self.tokens[self.pos]
        self.pos += 1
        if token.group("str"):
            return token.group("str")[1:-1].replace("''", "'")
        if token.group("call"):
            name = token.group("call")[:-2]
            return {"always": True, "success": self.status == "success",
                    "failure": self.status == "failure"}[name]
        value: Any = self.context
        for part in token.group("ref").split("."):
            value = value.get(part, "") if isinstance(value, dict) else ""
        return value


def _render(text: str, evaluate: _Eval) -> str:
    return _EXPR.sub(lambda m: str(evaluate(m.group(1))), text)


def run_action(action_dir: Path, inputs: dict[str, str], workspace: Path, temp: Path,
               github: dict[str, Any] | None = None, env: dict[str, str] | None = None
               ) -> ActionRun:
    """Run `action_dir/action.yml` with `inputs` (defaults from the file) in `workspace`."""
    action = yaml.safe_load((action_dir / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    values = {k: str(v.get("default", "")) for k, v in action.get("inputs", {}).items()}
    github = {"token": "TOKEN", "action_path": str(action_dir), "event_name": "push",
              **(github or {})}
    context: dict[str, Any] = {"github": github, "runner": {"temp": str(temp), "os": "Linux"},
                               "steps": {}}
    values = {k: _render(v, _Eval(context, "success")) for k, v in values.items()}
    unknown = set(inputs) - set(values)
    assert not unknown, f"not inputs of the action: {unknown}"
    context["inputs"] = {**values, **inputs}
    summary = temp / "step_summary.md"
    summary.write_text("")
    steps: list[Step] = []
    status = "success"
    for n, spec in enumerate(action["runs"]["steps"]):
        evaluate = _Eval(context, status)
        name = spec.get("name", f"step {n}")
        condition = spec.get("if", "success()")
        if not evaluate(_EXPR.sub(r"\1", str(condition))):
            steps.append(Step(name, "run" if "run" in spec else "uses", False, "skipped"))
            continue
        if "run" in spec:
            step = _run_step(spec, name, evaluate, action_dir, workspace, temp, summary, env)
        else:
            step = _uses_step(spec, name, evaluate)
        steps.append(step)
        if "id" in spec:
            context["steps"][spec["id"]] = {"outputs": step.outputs, "outcome": step.outcome}
        if step.outcome == "failure":
            status = "failure"
    evaluate = _Eval(context, status)
    outputs = {k: _render(str(v["value"]), evaluate)
               for k, v in action.get("outputs", {}).items()}
    return ActionRun(steps, outputs, summary.read_text())


def _run_step(spec: dict, name: str, evaluate: _Eval, action_dir: Path, workspace: Path,
              temp: Path, summary: Path, env: dict[str, str] | None) -> Step:
    assert spec.get("shell") == "bash"
    assert "${{" not in spec["run"], f"{name}: expression in a script (template injection)"
    output = temp / f"output-{name.replace(' ', '_')}"
    output.write_text("")
    step_env = {**os.environ, **(env or {}),
                **{k: _render(str(v), evaluate) for k, v in spec.get("env", {}).items()},
                "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary),
                "GITHUB_ACTION_PATH": str(action_dir), "GITHUB_WORKSPACE": str(workspace),
                "RUNNER_TEMP": str(temp), "RUNNER_OS": "Linux"}
    proc = subprocess.run([shutil.which("bash") or "bash", "--noprofile", "--norc", "-eo",
                           "pipefail", "-c", spec["run"]], cwd=workspace, env=step_env,
                          capture_output=True, text=True, timeout=600)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if line)
    return Step(name, "run", True, "success" if proc.returncode == 0 else "failure", outputs,
                stdout=proc.stdout, stderr=proc.stderr)


def _uses_step(spec: dict, name: str, evaluate: _Eval) -> Step:
    with_ = {k: _render(str(v), evaluate) for k, v in spec.get("with", {}).items()}
    step = Step(name, "uses", True, "success", uses=spec["uses"], with_=with_)
    if "upload-sarif@" in spec["uses"]:
        step.uploaded = Path(with_["sarif_file"]).read_text()
    if "cache/restore@" in spec["uses"]:
        step.outputs = {"cache-hit": "false"}
    return step
