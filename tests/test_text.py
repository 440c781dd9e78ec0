from __future__ import annotations

import json
import re
from pathlib import Path

from sarif_fixtures import make_report, make_result, make_tree

from kmeminit.analyzer.model import Level, Location, Notification
from kmeminit.analyzer.results import Finding
from kmeminit.analyzer.triage import triage
from kmeminit.sarif import format_notifications, format_text, summary_line, to_json_report, to_sarif

GCC = re.compile(r"^(\s*)([^:\s]+):(\d+):(\d+): (note|warning|error): (.*)$")


def test_gcc_style_lines_with_trace_notes(tmp_path: Path):
    text = format_text(make_report(make_tree(tmp_path)))
    assert text.splitlines() == [
        "mm/page_owner.c:6:22: error: memmap of start_pfn never initialised [KMI001]",
        "mm/page_owner.c:8:2: warning: page used before memmap init in init_pages [KMI003]",
        "    mm/page_owner.c:9:2: note: memmap initialised here",
        "    mm/page_owner.c:6:22: note: page taken from pfn_to_page()",
        "    mm/page_owner.c:8:2: note: page used",
        "kmeminit: 2 findings (1 error, 1 warning) in 12 functions, 2 notifications",
    ]
    assert all(GCC.match(line) for line in text.splitlines()[:-1])


def test_summary_without_findings_or_counts(tmp_path: Path):
    result = make_result(make_tree(tmp_path))
    empty = triage(type(result)(result.rules, (), (), result.invocation))
    assert summary_line(empty) == "kmeminit: 0 findings"
    assert format_text(empty) == "kmeminit: 0 findings\n"


def test_outside_root_shown_with_absolute_path(tmp_path: Path):
    src = make_tree(tmp_path)
    stray = Finding.make("KMI003", Level.NOTE, "stray", Location(str(tmp_path / "outside.c"), 1),
                         None)
    result = make_report(src, extra_findings=(stray,))
    assert f"{tmp_path / 'outside.c'}:1:1: note: stray [KMI003]" in format_text(result)


def test_notifications_for_stderr(tmp_path: Path):
    result = make_result(make_tree(tmp_path))
    assert format_notifications(triage(result)).splitlines() == [
        "kmeminit: error: checker KMI002 crashed and was skipped: boom [kmeminit]",
        "mm/page_owner.c:3: warning: clang: unknown flag -mfoo [kmeminit]",
    ]
    note = Notification(Level.NOTE, "n", str(tmp_path / "src" / "mm" / "page_owner.c"))
    one = triage(type(result)(result.rules, (), (note,), result.invocation))
    assert format_notifications(one) == "mm/page_owner.c: note: n [kmeminit]\n"


def test_json_report_schema(tmp_path: Path):
    report = to_json_report(make_report(make_tree(tmp_path)))
    json.dumps(report)
    assert set(report) == {"version", "summary", "findings", "absent", "notifications"}
    assert report["summary"] == {"findings": 2, "reported": 2, "new": 0, "unchanged": 0,
                                 "updated": 0, "absent": 0, "suppressed": 0,
                                 "baseline": None}
    first, second = report["findings"]
    assert (first["rule"], first["file"], first["line"], first["column"]) == (
        "KMI001", "mm/page_owner.c", 6, 22)
    assert set(second) == {"rule", "level", "message", "file", "line", "column", "function",
                           "related", "trace", "fingerprint"}
    assert [s["depth"] for s in second["trace"]] == [0, 1]
    sarif = to_sarif(make_report(make_tree(tmp_path / "again")))["runs"][0]["results"][1]
    assert second["fingerprint"] == sarif["partialFingerprints"]["kmeminit/v1"]
    assert report["notifications"][1]["file"] == "mm/page_owner.c"


def test_markdown_summary_links_and_table(tmp_path: Path):
    import dataclasses

    from kmeminit.analyzer.results import Provenance
    from kmeminit.sarif.markdown import blob_base, format_markdown

    report = make_report(make_tree(tmp_path))
    assert blob_base(Provenance("ssh://git@github.com/o/linux.git", "c" * 40, None, False,
                                "src")) == f"https://github.com/o/linux/blob/{'c' * 40}/src/"
    assert blob_base(Provenance(f"file://{tmp_path}", "c" * 40)) is None
    linked = dataclasses.replace(report, provenance=Provenance(
        "https://github.com/o/linux", "c" * 40, "main", True))
    text = format_markdown(linked)
    assert text.splitlines()[:5] == [
        "### kmeminit: 2 findings", "", "| Rule | Level | Found | Suppressed |",
        "|---|---|---|---|", "| KMI001 demo-kmi001 | error | 1 | 0 |"]
    assert (f"| error | KMI001 | [mm/page_owner.c:6](https://github.com/o/linux/blob/{'c' * 40}"
            "/mm/page_owner.c#L6) | memmap of start_pfn never initialised |") in text
    assert "| warning | KMI003 | [mm/page_owner.c:8]" in text
    assert "`mm/page_owner.c:8`" in format_markdown(report)  # no web repository: no link
