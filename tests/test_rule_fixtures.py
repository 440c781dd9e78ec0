"""Rules on annotated fixtures: tests/fixtures/<RULE>/*.c.

A line ending in `// expect: KMI003` must carry a KMI003 finding; `// ok: KMI003` marks a
tempting line that must stay clean.  Per rule directory, the set of (file, line) findings of
that rule must equal the `expect` annotations exactly, both ways.  Fixtures are compiled
with examples/minikernel/include (kernel-idiom headers) and the fixture directory on the
include path; an optional kmeminit.yaml in the directory is merged over the defaults.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import build_program

from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.rules import build_rules, builtin_checkers, run_rules

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RULE_DIRS = sorted(p for p in FIXTURES.glob("KMI*") if p.is_dir())
ANNOTATION = re.compile(r"//\s*(expect|ok):\s*((?:KMI\d{3}[\s,]*)+)")


def annotations(path: Path, rule: str) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
    expect, ok = set(), set()
    for number, line in enumerate(path.read_text().splitlines(), 1):
        for kind, rules in ANNOTATION.findall(line):
            if rule in re.findall(r"KMI\d{3}", rules):
                (expect if kind == "expect" else ok).add((path.name, number))
    return expect, ok


def test_every_builtin_rule_has_fixtures() -> None:
    assert {c.id for c in builtin_checkers()} <= {d.name for d in RULE_DIRS}


@pytest.mark.parametrize("rule_dir", RULE_DIRS, ids=lambda p: p.name)
def test_fixture_annotations(rule_dir: Path, tmp_path: Path) -> None:
    rule = rule_dir.name
    sources = sorted(rule_dir.glob("*.c"))
    assert sources, f"{rule_dir} has no .c fixtures"
    program = build_program(sources, tmp_path)
    user = rule_dir / "kmeminit.yaml"
    config = load_config(user if user.exists() else None)
    checkers, notes = build_rules({rule}, config)
    assert checkers and not notes, notes
    findings, notes = run_rules(checkers, program, config, debug=True)
    found = {(Path(f.location.file).name, f.location.line) for f in findings
             if f.rule == rule}
    expect, ok = set(), set()
    for source in sources:
        e, o = annotations(source, rule)
        expect |= e
        ok |= o
    assert expect, f"{rule_dir} has no `// expect: {rule}` annotation"
    assert ok, f"{rule_dir} has no `// ok: {rule}` annotation"
    missing, unexpected = sorted(expect - found), sorted(found - expect)
    assert not missing and not unexpected, (
        f"missing findings: {missing}; unexpected findings: {unexpected}; messages: "
        + "; ".join(f"{Path(f.location.file).name}:{f.location.line} {f.message}"
                    for f in findings if f.rule == rule))
    for finding in findings:
        assert finding.message.strip() and finding.function
