"""End to end on the example tree: every `kmeminit demo: KMI00N` marker has that rule's
finding on the line below it, and the path rules (KMI001-KMI005) report nothing else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import build_example

from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.rules import build_rules, run_rules

ROOT = Path(__file__).resolve().parent.parent / "examples" / "minikernel"
MARKER = re.compile(r"kmeminit demo: (KMI\d{3})")
EXACT = {"KMI001", "KMI002", "KMI003", "KMI004", "KMI005"}  # KMI006/007 are inventories


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> list:
    program = build_example(tmp_path_factory.mktemp("demo"))
    config = load_config()
    checkers, _ = build_rules(None, config)
    found, _ = run_rules(checkers, program, config, debug=True)
    return found


def markers() -> set[tuple[str, int, str]]:
    out = set()
    for source in ROOT.rglob("*.c"):
        for number, line in enumerate(source.read_text().splitlines(), 1):
            for rule in MARKER.findall(line):
                out.add((str(source.relative_to(ROOT)), number + 1, rule))
    return out


def test_every_marker_has_its_finding(findings: list) -> None:
    got = {(str(Path(f.location.file).relative_to(ROOT)), f.location.line, f.rule)
           for f in findings}
    assert markers() <= got, sorted(markers() - got)


def test_path_rules_report_only_the_marked_bugs(findings: list) -> None:
    got = {(str(Path(f.location.file).relative_to(ROOT)), f.location.line, f.rule)
           for f in findings if f.rule in EXACT}
    assert got == {m for m in markers() if m[2] in EXACT}


def test_path_findings_carry_code_flows(findings: list) -> None:
    for finding in findings:
        if finding.rule in EXACT:
            assert len(finding.trace) >= 2, finding
