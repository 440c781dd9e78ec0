"""Opt-in: a `kmeminit: ignore` comment in a real 6.12 file (a scratch copy) silences the
KMI003 finding of read_page_owner() and nothing else; the frontend records it among the
facts of that TU only.

KMEMINIT_KERNEL_TREE=/path/to/linux-source-6.12 pytest -m kernel tests/test_kernel_suppressions.py
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from conftest import KERNEL_SLICE
from kernel_mutation import findings, mutant_program
from sarif_fixtures import make_result

from kmeminit.analyzer.triage import TriageInputs, triage

pytestmark = pytest.mark.kernel

# The finding is reported where the struct page is read (PageBuddy), the line the comment
# goes above; the conversion two lines up is a step of its trace.
SITE = "\t\tif (PageBuddy(page)) {\n\t\t\tunsigned long freepage_order"


def test_in_source_comment_on_a_real_walker(kernel_tree: Path, kernel_store: Path,
                                            tmp_path: Path) -> None:
    comment = "\t\t/* kmeminit: ignore KMI003 the walk holds the zone span seqlock */\n"
    program, mutant = mutant_program(kernel_tree, kernel_store, KERNEL_SLICE,
                                     "mm/page_owner.c", SITE, comment + SITE, tmp_path)
    comments = list(program.suppressions.values())
    assert [(c.file, c.rules, c.reason) for c in comments] == [
        (str(mutant), ("KMI003",), "the walk holds the zone span seqlock")]
    found = findings(program, "KMI003")
    [walker] = [f for f in found if f.function == "read_page_owner"]
    result = dataclasses.replace(make_result(tmp_path), findings=tuple(found),
                                 suppressions=tuple(comments))
    report = triage(result, TriageInputs(today=dt.date(2026, 1, 1)))
    suppressed = [t for t in report.findings if t.suppressions]
    assert [t.finding for t in suppressed] == [walker]
    assert suppressed[0].suppressions[0].kind == "inSource"
    assert len(report.reported) == len(found) - 1
