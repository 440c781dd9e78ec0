from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sarif_fixtures import make_report, make_result, make_tree

from kmeminit.analyzer.model import Level, Location, Notification
from kmeminit.analyzer.results import Finding, Related, Step
from kmeminit.analyzer.triage import triage
from kmeminit.sarif import format_notifications, format_text, summary_line, to_json_report, to_sarif
from kmeminit.sarif.text import Paint, TextOptions, source_lines, use_color

REPO = Path(__file__).resolve().parent.parent

GCC = re.compile(r"^(\s*)([^:\s]+):(\d+):(\d+): (note|warning|error): (.*)$")


def test_gcc_style_lines_with_source_caret_notes_and_table(tmp_path: Path):
    text = format_text(make_report(make_tree(tmp_path)))
    assert text.splitlines() == [
        "mm/page_owner.c:6:22: error: memmap of start_pfn never initialised [KMI001]",
        "    6 |         struct page *page = pfn_to_page(start_pfn);",
        "      |                             ^",
        "mm/page_owner.c:8:2: warning: page used before memmap init in init_pages [KMI003]",
        "    8 |         set_page_owner(page, 0, 0);",
        "      |         ^~~~~~~~~~~~~~",
        "    mm/page_owner.c:9:2: note: memmap initialised here",
        "    mm/page_owner.c:6:22: note: page taken from pfn_to_page()",
        "    mm/page_owner.c:8:2: note: page used",
        "",
        "rule    name           errors  warnings     notes",
        "KMI001  demo-kmi001         1         -         -",
        "KMI003  demo-kmi003         -         1         -",
        "kmeminit: 2 findings (1 error, 1 warning) in 12 functions, 2 notifications",
    ]
    findings = [line for line in text.splitlines() if line.startswith("mm/")]
    notes = [line for line in text.splitlines() if line.startswith("    mm/")]
    assert len(findings) == 2 and len(notes) == 3
    assert all(GCC.match(line) for line in findings + notes)
    # the problem matcher shipped for GitHub reads the findings and nothing else
    matcher = json.loads((REPO / "examples/github/kmeminit-problem-matcher.json").read_text())
    pattern = re.compile(matcher["problemMatcher"][0]["pattern"][0]["regexp"])
    assert [line for line in text.splitlines() if pattern.match(line)] == findings


def test_no_source_lines_when_asked_or_unreadable(tmp_path: Path):
    report = make_report(make_tree(tmp_path))
    text = format_text(report, TextOptions(source=False, summary=False))
    assert " | " not in text and len(text.splitlines()) == 5
    (tmp_path / "src" / "mm" / "page_owner.c").unlink()
    assert " | " not in format_text(report)


def test_caret_counts_tabs_and_bytes(tmp_path: Path):
    line = "\tx = \"\u00e9\"; y = page_zone(page);"
    col = len(line[:line.index("page_zone")].encode()) + 1
    loc = Location("f.c", 3, col, 3, col + len("page_zone(page)"))
    shown, caret = source_lines(line, loc, Paint(False))
    assert shown == "    3 |         x = \"\u00e9\"; y = page_zone(page);"
    assert caret.index("^") == shown.index("page_zone")
    assert caret.endswith("^" + "~" * 14)


def test_notes_of_one_place_are_shown_once(tmp_path: Path):
    src = make_tree(tmp_path)
    c_file = str(src / "mm" / "page_owner.c")
    at = Location(c_file, 6, 22)
    twice = Finding.make("KMI003", Level.WARNING, "{what} reads [the page](1)",
                         Location(c_file, 8, 2), "init_pages",
                         related=(Related(1, at, "pfn_to_page(pfn) converts the pfn"),
                                  Related(2, Location(c_file, 9, 2), "elsewhere")),
                         trace=(Step(at, "pfn_to_page(pfn): struct page of an outside pfn"),
                                Step(at, "pfn_to_page(pfn): struct page of an outside pfn"),
                                Step(Location(c_file, 8, 2), "read")), what="x")
    result = make_result(src)
    report = triage(type(result)(result.rules, (twice,), (), result.invocation))
    lines = [line.strip() for line in format_text(report).splitlines() if "note:" in line]
    assert lines == ["mm/page_owner.c:9:2: note: elsewhere",
                     "mm/page_owner.c:6:22: note: pfn_to_page(pfn): struct page of an "
                     "outside pfn",
                     "mm/page_owner.c:8:2: note: read"]


def test_min_level_hides_lower_levels_and_says_so(tmp_path: Path):
    src = make_tree(tmp_path)
    note = Finding.make("KMI002", Level.NOTE, "inventory", Location(str(src / "mm" /
                                                                       "page_owner.c"), 3),
                        None)
    report = make_report(src, extra_findings=(note,))
    default = format_text(report)
    assert "inventory" not in default
    assert default.splitlines()[-1].endswith("; 1 note not shown (--min-level note)")
    assert "KMI002  demo-kmi002         -         -         1" in default
    assert "note: inventory [KMI002]" in format_text(report, TextOptions(min_level=Level.NOTE))
    errors = format_text(report, TextOptions(min_level=Level.ERROR))
    assert "[KMI003]" not in errors and "[KMI001]" in errors
    assert errors.splitlines()[-1].endswith(
        "; 1 warning and 1 note not shown (--min-level note)")


def test_colour(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    report = make_report(make_tree(tmp_path))
    coloured = format_text(report, TextOptions(color=True))
    assert "\x1b[1;31merror:\x1b[0m" in coloured and "\x1b[1;32m^" in coloured
    assert "\x1b[" not in format_text(report)

    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert use_color("auto", Tty()) and not use_color("auto", None)
    assert not use_color("never", Tty()) and use_color("always", None)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color("auto", Tty()) and use_color("always", Tty())


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
    assert f"{tmp_path / 'outside.c'}:1:1: note: stray [KMI003]" in format_text(
        result, TextOptions(min_level=Level.NOTE))


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
    # plain text: the link to related location 1 is a field, not markup
    assert second["message"] == "page used before memmap init in init_pages"
    assert second["related"][0]["id"] == 1
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
