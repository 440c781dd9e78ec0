"""Opt-in: the KMI001-KMI005 results on the 6.12 slice are exactly docs/precision.md's
triage table, each with a verdict and a reason (issue #14).

KMEMINIT_KERNEL_TREE=/path/to/linux-source-6.12 pytest -m kernel tests/test_kernel_precision.py
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kernel_mutation import findings
from precision_table import VERDICTS, triage_table

from kmeminit.analyzer.program import Program

pytestmark = pytest.mark.kernel

RULES = ("KMI001", "KMI002", "KMI003", "KMI004", "KMI005")


def test_the_table_is_well_formed() -> None:
    rows = triage_table()
    assert rows, "docs/precision.md has no result rows"
    assert len({r.key for r in rows}) == len(rows), "a result is listed twice"
    for row in rows:
        assert row.rule in RULES and row.verdict in VERDICTS, row
        assert len(row.reason.split()) >= 5, f"{row.key}: give a reason"
        if row.rule == "KMI003":  # the bar: every walker result true or benign
            assert row.verdict in ("true", "benign"), row


def test_results_are_the_triaged_ones(kernel_tree: Path, kernel_program: Program) -> None:
    root = kernel_tree.resolve()
    got = {(f.rule, f"{Path(f.location.file).relative_to(root)}:{f.location.line}",
            f.function) for rule in RULES for f in findings(kernel_program, rule)}
    table = {row.key for row in triage_table()}
    assert got == table, (f"not in docs/precision.md: {sorted(got - table)}; "
                          f"in the table but not found: {sorted(table - got)}")
