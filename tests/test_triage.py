"""The triage stage (baselines, suppressions), GitHub's limits and run metadata in the
SARIF writer."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest
from sarif_fixtures import make_report, make_result, make_tree

import kmeminit.sarif.limits as limits
from kmeminit.analyzer import version
from kmeminit.analyzer.config import ConfigError
from kmeminit.analyzer.model import Level, Location
from kmeminit.analyzer.results import Finding, Provenance, Related, Report, Step
from kmeminit.analyzer.triage import BaseRun, TriageInputs, triage
from kmeminit.analyzer.triage.baseline import BaselineError, read_baseline
from kmeminit.analyzer.triage.suppressions import load_suppressions
from kmeminit.sarif import format_notifications, format_text, summary_line, to_json_report, to_sarif
from kmeminit.sarif.serialise import dumps
from kmeminit.sarif.text import TextOptions
from kmeminit.sarif.writer import build_sarif

TODAY = dt.date(2026, 1, 15)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return make_tree(tmp_path)


def _results(log: dict) -> list[dict]:
    return log["runs"][0]["results"]


def _reported(report: Report) -> list[Finding]:
    return [t.finding for t in report.reported]


def _note(src: Path, line: int, rule: str = "KMI002", template: str = "note {n}") -> Finding:
    return Finding.make(rule, Level.NOTE, template, Location(str(src / "mm" / "page_owner.c"),
                                                            line, 1), "init_pages", n=str(line))


# -- baselines ------------------------------------------------------------------------------

def test_baseline_new_unchanged_absent(src: Path, tmp_path: Path) -> None:
    old = tmp_path / "old.sarif"
    gone = _note(src, 4)
    old.write_text(dumps(to_sarif(make_report(src, extra_findings=(gone,)))))
    new = _note(src, 5)
    result = make_report(src, extra_findings=(new,),
                         inputs=TriageInputs(baseline=read_baseline(old)))
    states = [(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"],
               r["baselineState"]) for r in _results(to_sarif(result))]
    assert states == [("KMI002", 4, "absent"), ("KMI002", 5, "new"), ("KMI001", 6, "unchanged"),
                      ("KMI003", 8, "unchanged")]
    absent = _results(to_sarif(result))[0]
    assert absent["ruleIndex"] == 1 and "codeFlows" not in absent
    text = format_text(result, TextOptions(min_level=Level.NOTE, source=False, summary=False))
    assert text.splitlines() == ["mm/page_owner.c:5:1: note: note 5 [KMI002]"]
    assert summary_line(result) == (
        "kmeminit: 1 new finding (1 note) in 12 functions; against the baseline: 1 new, "
        "2 unchanged, 0 updated, 1 absent, 2 notifications")
    assert _reported(result) == [new]
    assert {f["baseline_state"] for f in to_json_report(result)["findings"]} == {
        "new", "unchanged"}


def test_baseline_of_a_clean_run_reports_everything_absent(src: Path, tmp_path: Path) -> None:
    old = tmp_path / "old.sarif"
    old.write_text(dumps(to_sarif(make_report(src))))
    clean = dataclasses.replace(make_result(src), findings=())
    result = triage(clean, TriageInputs(baseline=read_baseline(old)))
    assert [r["baselineState"] for r in _results(to_sarif(result))] == ["absent", "absent"]
    assert "0 new findings" in format_text(result)
    # a baseline of a baseline: absent results are history, not part of it
    again = tmp_path / "again.sarif"
    again.write_text(dumps(to_sarif(result)))
    assert read_baseline(again) == {}


def test_baseline_updated_when_level_or_message_changes(src: Path, tmp_path: Path) -> None:
    """Same fingerprint (rule, path, function, line text, template), other arguments or
    level: updated, neither new nor shown; a message with unlinked related locations (the
    SARIF text grows a "See also" sentence) is still unchanged."""
    old = tmp_path / "old.sarif"
    old.write_text(dumps(to_sarif(make_report(src, extra_findings=(_note(src, 4),)))))
    moved = dataclasses.replace(_note(src, 4), args=(("n", "four"),))
    result = make_report(src, extra_findings=(moved,),
                         inputs=TriageInputs(baseline=read_baseline(old)))
    assert [t.baseline_state for t in result.findings] == ["updated", "unchanged", "unchanged"]
    assert result.reported == () and result.counts().updated == 1


def test_base_revision_states_and_absent_findings(src: Path) -> None:
    """`kmeminit diff`: the base revision's findings are the baseline; one that vanished is
    an absent result rendered from the base's lines, in SARIF and JSON alike."""
    base_file = str(src / "mm" / "page_owner.c")
    old_text = (src / "mm" / "page_owner.c").read_text().replace("set_page_owner", "old_call")
    gone = Finding.make("KMI002", Level.NOTE, "note {n}", Location(base_file, 8, 2),
                        "init_pages", n="gone")
    changed = dataclasses.replace(_note(src, 2), args=(("n", "before"),))
    base = BaseRun((*make_result(src).findings, gone, changed),
                   {base_file: old_text.encode()}, "v6.12")
    report = make_report(src, extra_findings=(_note(src, 2), _note(src, 4)),
                         inputs=TriageInputs(base=base))
    states = [(t.finding.location.line, t.baseline_state) for t in report.findings]
    # line 8 differs at the base (old_call): the base's KMI003 has another fingerprint
    assert states == [(2, "updated"), (4, "new"), (6, "unchanged"), (8, "new")]
    log = to_sarif(report)
    sarif = [(r["locations"][0]["physicalLocation"]["region"]["startLine"], r["baselineState"])
             for r in _results(log)]
    # merged by place (path, line, column, rule): KMI002 before KMI003 on line 8
    assert sarif == [(2, "updated"), (4, "new"), (6, "unchanged"), (8, "absent"), (8, "new"),
                     (8, "absent")]
    js = to_json_report(report)
    assert [(a["rule"], a["baseline_state"]) for a in js["absent"]] == [
        ("KMI002", "absent"), ("KMI003", "absent")]
    counts = js["summary"]
    assert (counts["new"], counts["unchanged"], counts["updated"], counts["absent"]) == (
        2, 1, 1, 2)
    assert format_text(report, TextOptions(min_level=Level.NOTE)).splitlines()[-1].endswith(
        "; against v6.12: 2 new, 1 unchanged, 1 updated, 2 absent, 2 notifications")



def test_line_hashes_only_change_when_asked_for(src: Path) -> None:
    """Without SARIF output (TriageInputs.line_hashes off) no file is hashed for GitHub's
    primaryLocationLineHash; everything else of the report, and the JSON output, is equal."""
    base = BaseRun((*make_result(src).findings,), {}, "v6.12")
    extra = (_note(src, 2), _note(src, 4))
    full = make_report(src, extra_findings=extra, inputs=TriageInputs(base=base))
    bare = make_report(src, extra_findings=extra,
                       inputs=TriageInputs(base=base, line_hashes=False))
    assert all(t.line_hash for t in full.findings)
    assert all(t.line_hash is None for t in bare.findings)
    assert [dataclasses.replace(t, line_hash=None) for t in full.findings] == list(
        bare.findings)
    assert to_json_report(full) == to_json_report(bare)


@pytest.mark.parametrize("content, message", [
    ("{\n  \"runs\": [\n", "old.sarif:3: baseline is not valid JSON"),
    ("[]", "old.sarif: baseline is not a SARIF log (no 'runs' array)"),
    ('{"runs": [{"results": [{"ruleId": "X"}]}]}',
     "old.sarif: result 0 of run 0 has no kmeminit/v1 fingerprint"),
    ('{"runs": [{"results": 3}]}', "old.sarif: run 0 of the baseline has no 'results' array"),
])
def test_malformed_baseline_is_one_line(tmp_path: Path, content: str, message: str) -> None:
    old = tmp_path / "old.sarif"
    old.write_text(content)
    with pytest.raises(BaselineError) as info:
        read_baseline(old)
    assert message in str(info.value) and "\n" not in str(info.value)


# -- suppressions ---------------------------------------------------------------------------

def _fingerprint(src: Path, rule: str) -> str:
    return next(t.fingerprint for t in make_report(src).findings if t.finding.rule == rule)


def _suppressed(src: Path, path: Path, today: dt.date = TODAY, report_unused: bool = True
                ) -> Report:
    entries = tuple(load_suppressions(path))
    return make_report(src, inputs=TriageInputs(suppressions=entries, today=today,
                                                report_unused=report_unused))


def _suppressions(src: Path, text: str) -> Path:
    path = src / ".kmeminit-suppressions.yaml"
    path.write_text(text)
    return path


def test_suppressions_used_unused_expired(src: Path) -> None:
    path = _suppressions(src, f"""\
suppressions:
  - fingerprint: {_fingerprint(src, "KMI001")}
    reason: start_pfn is initialised by the caller
  - rule: kmi003
    path: mm/*.c
    function: init_pages
    reason: set_page_owner only records the owner
    expires: 2026-12-31
  - rule: KMI003
    path: mm/other.c
    function: f
    reason: nothing matches me
  - fingerprint: "{"f" * 64}"
    reason: expired long ago
    expires: 2025-01-01
""")
    result = _suppressed(src, path)
    assert sorted(t.suppressed for t in result.findings if t.suppressed) == [
        "set_page_owner only records the owner", "start_pfn is initialised by the caller"]
    assert _reported(result) == []
    text = format_text(result)
    assert text.splitlines()[0].startswith("kmeminit: 0 findings") and "2 suppressed" in text
    results = _results(to_sarif(result))
    assert [r["suppressions"] for r in results] == [
        [{"kind": "external", "justification": "start_pfn is initialised by the caller"}],
        [{"kind": "external", "justification": "set_page_owner only records the owner"}]]
    notes = {(n.line, n.level, n.message.split(";")[0].split(" and ")[0])
             for n in result.notifications if n.file == str(path)}
    assert notes == {(9, Level.NOTE, "suppression matches no finding"),
                     (13, Level.WARNING, "suppression expired on 2025-01-01")}
    quiet = _suppressed(src, path, report_unused=False)
    assert [n.line for n in quiet.notifications if n.file == str(path)] == [13]


def test_expired_suppression_no_longer_applies(src: Path) -> None:
    path = _suppressions(src, f"""\
suppressions:
  - fingerprint: {_fingerprint(src, "KMI001")}
    reason: temporary
    expires: "2026-01-14"
""")
    result = _suppressed(src, path)
    assert all(t.suppressed is None for t in result.findings)
    assert len(result.reported) == 2
    same_day = _suppressed(src, path, dt.date(2026, 1, 14))
    assert len(same_day.reported) == 1


@pytest.mark.parametrize("text, message", [
    ("suppressions:\n  - rule: KMI001\n    path: a.c\n    function: f\n",
     ":2: a suppression needs a 'reason'"),
    ("suppressions:\n  - fingerprint: abc\n    reason: r\n", ":2: 'fingerprint' must be"),
    ("suppressions:\n  - reason: r\n",
     ":2: a suppression needs 'fingerprint', or any of 'rule', 'path' and 'function'"),
    ("suppressions:\n  - reason: r\n    rule: KMI001\n    fingerprint: " + "a" * 64 + "\n",
     ":2: give either 'fingerprint' or any of 'rule', 'path' and 'function', not both"),
    ("suppressions:\n  - reason: r\n    rule: pfn-walker\n",
     ":3: 'rule' must be a rule id such as KMI003, got 'pfn-walker'"),
    ("suppressions:\n  - reason: r\n    rule: KMI003\n    expires: 2031-13-45\n",
     ":4: '2031-13-45' is not a valid date: month must be in 1..12"),
    ("suppressions:\n  - reason: r\n    rule: KMI001\n    path: a\n    function: f\n"
     "    colour: red\n", ":6: unknown key 'colour'"),
    ("suppressions:\n  - reason: r\n    rule: KMI001\n    path: a\n    function: f\n"
     "    expires: soon\n", ":6: 'expires' must be a date"),
    ("suppressions:\n  - reason: ''\n    fingerprint: x\n", ":2: 'reason' must be a non-empty"),
    ("suppressions:\n  - reason: r\n    fingerprint: 123\n", ":3: 'fingerprint' must be a "
     "non-empty string (quote it)"),
    ("suppressions:\n  - [\n", ":3: YAML error"),
    ("ignore: []\n", ":1: unknown key 'ignore'"),
    ("suppressions: 3\n", ":1: 'suppressions' must be a list"),
])
def test_malformed_suppressions_name_file_and_line(src: Path, text: str, message: str) -> None:
    path = _suppressions(src, text)
    with pytest.raises(ConfigError) as info:
        load_suppressions(path)
    assert str(info.value).startswith(str(path)) and message in str(info.value), info.value


# -- GitHub's limits ------------------------------------------------------------------------

def test_results_over_the_limit_dropped_by_rank_with_warning(src: Path, monkeypatch) -> None:
    monkeypatch.setattr(limits, "MAX_RESULTS", 3)
    extra = tuple(_note(src, line) for line in (1, 2, 3))
    sarif = build_sarif(make_report(src, extra_findings=extra))
    log, notes = sarif.log, sarif.notes
    kept = [(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"])
            for r in _results(log)]
    # the error and the warning outrank the notes; the notes kept are the first by line
    assert kept == [("KMI002", 1), ("KMI001", 6), ("KMI003", 8)]
    [note] = notes
    assert "at most 3 results per run: kept 3 of 5" in note.message
    messages = [n["message"]["text"] for n in
                log["runs"][0]["invocations"][0]["toolExecutionNotifications"]]
    assert note.message in messages


def test_new_findings_outrank_unchanged_ones(src: Path, tmp_path: Path, monkeypatch) -> None:
    old = tmp_path / "old.sarif"
    old.write_text(dumps(to_sarif(make_report(src))))
    monkeypatch.setattr(limits, "MAX_RESULTS", 1)
    result = make_report(src, extra_findings=(_note(src, 2),),
                         inputs=TriageInputs(baseline=read_baseline(old)))
    [kept] = _results(to_sarif(result))
    assert (kept["ruleId"], kept["baselineState"]) == ("KMI002", "new")


def test_locations_and_thread_flow_limits(src: Path, monkeypatch) -> None:
    monkeypatch.setattr(limits, "MAX_LOCATIONS_PER_RESULT", 3)
    monkeypatch.setattr(limits, "MAX_THREAD_FLOW_LOCATIONS", 4)
    c_file = str(src / "mm" / "page_owner.c")
    big = Finding.make(
        "KMI001", Level.ERROR, "many [a](1) and [b](2)", Location(c_file, 6, 2), "init_pages",
        related=tuple(Related(i, Location(c_file, i, 1), f"r{i}") for i in range(1, 6)),
        trace=tuple(Step(Location(c_file, 6, 2), f"s{i}", i) for i in range(7)))
    sarif = build_sarif(make_report(src, extra_findings=(big,)))
    log, notes = sarif.log, sarif.notes
    [res] = [r for r in _results(log) if r["message"]["text"].startswith("many")]
    assert [loc["id"] for loc in res["relatedLocations"]] == [1, 2]
    steps = res["codeFlows"][0]["threadFlows"][0]["locations"]
    assert [s["location"]["message"]["text"] for s in steps] == ["s0", "s1", "s2", "s3"]
    assert sorted(n.message.split(":")[1].strip() for n in notes) == [
        "kept 2 of 5 related locations (GitHub accepts 3 locations per result)",
        "trace cut to 4 of 7 steps (GitHub accepts 4 thread-flow locations per result)"]


def test_gzip_size_limit(src: Path, monkeypatch) -> None:
    extra = tuple(_note(src, line, template=f"note {{n}} {'x' * 40}") for line in range(1, 9))
    full = build_sarif(make_report(src, extra_findings=extra)).log
    size = limits.gzip_size(dumps(full))
    monkeypatch.setattr(limits, "MAX_GZIP_BYTES", size - 1)
    sarif = build_sarif(make_report(src, extra_findings=extra))
    log, notes = sarif.log, sarif.notes
    assert sarif.text == dumps(log) and limits.gzip_size(sarif.text) <= size - 1
    assert 0 < len(_results(log)) < len(_results(full))
    assert {"KMI001", "KMI003"} <= {r["ruleId"] for r in _results(log)}  # notes go first
    [note] = notes
    assert f"limit of {size - 1} bytes gzipped" in note.message
    again = build_sarif(make_report(src, extra_findings=extra))
    assert again.text == sarif.text


# -- run metadata ---------------------------------------------------------------------------

def test_run_metadata(src: Path) -> None:
    result = dataclasses.replace(
        make_result(src), category="kmeminit/x86/",
        provenance=Provenance("https://github.com/o/linux", "a" * 40, "main", True))
    run = to_sarif(triage(result))["runs"][0]
    assert run["automationDetails"] == {"id": "kmeminit/x86/"}
    assert run["versionControlProvenance"] == [{
        "repositoryUri": "https://github.com/o/linux", "revisionId": "a" * 40,
        "branch": "main", "mappedTo": {"uriBaseId": "%SRCROOT%"}}]
    assert run["artifacts"] == [{"location": {"uri": "mm/page_owner.c",
                                              "uriBaseId": "%SRCROOT%"}}]
    rule = run["tool"]["driver"]["rules"][0]
    assert rule["help"]["markdown"].startswith("Demo rule.")
    assert "## " not in rule["help"]["text"] and "```" not in rule["help"]["text"]
    assert "What it finds" in rule["help"]["text"]


def test_unlinked_related_locations_are_linked_from_a_second_sentence(src: Path) -> None:
    c_file = str(src / "mm" / "page_owner.c")
    finding = Finding.make("KMI001", Level.ERROR, "pfn {pfn} published early",
                           Location(c_file, 6, 2), "init_pages",
                           related=(Related(3, Location(c_file, 9, 2), "memmap init"),),
                           pfn="start_pfn")
    result = triage(dataclasses.replace(make_result(src), findings=(finding,)))
    [res] = _results(to_sarif(result))
    assert res["message"]["text"] == ("pfn start_pfn published early. "
                                      "See also [memmap init](3).")
    assert "See also" not in format_text(result)


def test_two_runs_byte_identical_apart_from_times(src: Path, tmp_path: Path) -> None:
    old = tmp_path / "old.sarif"
    old.write_text(dumps(to_sarif(make_report(src, extra_findings=(_note(src, 4),)))))

    def run(start: str, end: str) -> str:
        result = make_result(src, start, end, extra_findings=(_note(src, 2), _note(src, 1)))
        result = dataclasses.replace(result, category="kmeminit/x86/")
        return dumps(to_sarif(triage(result, TriageInputs(baseline=read_baseline(old)))))

    first = run("2024-05-01T10:00:00Z", "2024-05-01T10:00:05Z")
    second = run("2030-01-01T00:00:00Z", "2030-01-01T00:00:09Z")
    assert first.replace("2024-05-01T10:00:00Z", "S").replace("2024-05-01T10:00:05Z", "E") == \
        second.replace("2030-01-01T00:00:00Z", "S").replace("2030-01-01T00:00:09Z", "E")
    assert json.loads(first)["runs"][0]["results"][0]["baselineState"] == "new"


GOLDEN = Path(__file__).resolve().parent / "golden"


def _golden(name: str, text: str, tmp_path: Path, update: bool) -> None:
    text = text.replace(tmp_path.as_uri(), "file:///TMP").replace(str(tmp_path), "TMP")
    text = text.replace(f'"{version()}"', '"VERSION"')
    if update:
        (GOLDEN / name).write_text(text, encoding="utf-8")
    assert text == (GOLDEN / name).read_text(encoding="utf-8")


def test_golden_outputs_with_triage_and_metadata(src: Path, tmp_path: Path,
                                                 update_golden: bool) -> None:
    """Every output of a run with a baseline (new, unchanged and absent results), used,
    unused and expired suppressions, a finding outside the source root, a category and
    provenance, byte for byte (regenerate with `pytest --update-golden`)."""
    old = tmp_path / "old.sarif"
    old.write_text(dumps(to_sarif(make_report(src, extra_findings=(_note(src, 4),)))))
    path = _suppressions(src, f"""\
suppressions:
  - fingerprint: "{_fingerprint(src, 'KMI001')}"
    reason: checked
  - rule: KMI002
    path: mm/page_owner.c
    function: nothing_here
    reason: matches nothing
  - rule: KMI003
    path: mm/*.c
    function: init_pages
    reason: expired
    expires: 2025-12-31
""")
    stray = Finding.make("KMI003", Level.WARNING, "stray {x}",
                         Location(str(src.parent / "outside.c"), 1, 5), "f", x="x")
    result = dataclasses.replace(
        make_result(src, extra_findings=(_note(src, 2), stray)), category="c/",
        provenance=Provenance("https://h/r", "b" * 40, None, False))
    result = triage(result, TriageInputs(read_baseline(old), tuple(load_suppressions(path)),
                                         today=TODAY))
    _golden("triage.sarif", dumps(to_sarif(result)), tmp_path, update_golden)
    text = format_text(result, TextOptions(min_level=Level.NOTE))
    _golden("triage.txt", text + format_notifications(result), tmp_path, update_golden)
    report = to_json_report(result)
    for finding in report["findings"]:  # hashes an absolute path: the test's temp dir
        if finding["file"].startswith(str(tmp_path)):
            finding["fingerprint"] = "OUTSIDE"
    _golden("triage.json", dumps(report), tmp_path, update_golden)


def test_formatters_render_the_report_without_reading_sources(src: Path) -> None:
    """Identity is decided once, by the triage stage: the formatters give the same output
    when the source files are gone (the text output's source line under a finding is the
    one thing read, for display only)."""
    report = make_report(src)
    plain = TextOptions(source=False)
    outputs = (dumps(to_sarif(report)), format_text(report, plain),
               dumps(to_json_report(report)))
    (src / "mm" / "page_owner.c").unlink()
    assert (dumps(to_sarif(report)), format_text(report, plain),
            dumps(to_json_report(report))) == outputs
    assert make_report(src).findings[0].fingerprint != report.findings[0].fingerprint
