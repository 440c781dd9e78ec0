from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
import sarif_om as om
from sarif_fixtures import make_report, make_tree

import kmeminit.sarif.limits as limits
from kmeminit.analyzer.fsutil import write_output
from kmeminit.analyzer.model import Level, Location
from kmeminit.analyzer.results import Finding, Report, Step
from kmeminit.sarif import dumps, to_sarif
from kmeminit.sarif.serialise import to_json

SCHEMA = Path(__file__).resolve().parent / "schemas" / "sarif-2.1.0-rtm.5.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(json.loads(SCHEMA.read_text()))


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return make_tree(tmp_path)


def test_valid_sarif_with_rules_results_and_notifications(src, validator):
    log = to_sarif(make_report(src))
    validator.validate(log)
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["semanticVersion"]) == ("kmeminit", "0.1.0")
    assert [r["id"] for r in driver["rules"]] == ["KMI001", "KMI002", "KMI003"]
    kmi002 = driver["rules"][1]  # listed although it never fired
    assert kmi002["help"]["markdown"].startswith("Demo rule.")
    assert kmi002["properties"] == {"tags": ["correctness"], "precision": "high",
                                    "problem.severity": "warning"}
    assert [(r["ruleId"], r["ruleIndex"], r["level"]) for r in run["results"]] == [
        ("KMI001", 0, "error"), ("KMI003", 2, "warning")]
    use = run["results"][1]
    assert use["locations"][0]["logicalLocations"] == [{"name": "init_pages",
                                                        "kind": "function"}]
    assert use["relatedLocations"][0]["id"] == 1
    steps = use["codeFlows"][0]["threadFlows"][0]["locations"]
    assert [(s["nestingLevel"], s["location"]["message"]["text"]) for s in steps] == [
        (0, "page taken from pfn_to_page()"), (1, "page used")]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    crashed = [n for n in notes if n["level"] == "error"][0]
    assert crashed["descriptor"]["id"] == "KMI002"
    assert crashed["associatedRule"] == {"id": "KMI002", "index": 1}


def test_uris_relative_to_srcroot(src):
    log = to_sarif(make_report(src))
    run = log["runs"][0]
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": src.as_uri() + "/"}}
    physical = run["results"][1]["locations"][0]["physicalLocation"]
    assert physical == {
        "artifactLocation": {"uri": "mm/page_owner.c", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 8, "startColumn": 2, "endLine": 8, "endColumn": 16}}


def test_symlinked_root_and_file_resolve(src, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(src)
    result = make_report(link)
    uri = to_sarif(result)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert uri["artifactLocation"]["uri"] == "mm/page_owner.c"


def test_finding_outside_root_becomes_notification(src, validator):
    stray = Finding.make("KMI003", Level.WARNING, "stray {x}",
                         Location(str(src.parent / "outside.c"), 1, 5), "f", x="x")
    log = to_sarif(make_report(src, extra_findings=(stray,)))
    validator.validate(log)
    run = log["runs"][0]
    assert all("stray" not in r["message"]["text"] for r in run["results"])
    [note] = [n for n in run["invocations"][0]["toolExecutionNotifications"]
              if "outside the source root" in n["message"]["text"]]
    assert note["level"] == "warning"
    uri = note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == (src.parent / "outside.c").as_uri()


def test_results_sorted_by_path_line_column_rule(src):
    c_file = str(src / "mm" / "page_owner.c")
    extra = tuple(Finding.make(rule, Level.NOTE, "n", Location(c_file, line, col), None)
                  for rule, line, col in [("KMI002", 6, 22), ("KMI001", 6, 3), ("KMI002", 2, 1)])
    results = to_sarif(make_report(src, extra_findings=extra))["runs"][0]["results"]
    keys = [(r["locations"][0]["physicalLocation"]["region"]["startLine"],
             r["locations"][0]["physicalLocation"]["region"]["startColumn"], r["ruleId"])
            for r in results]
    assert keys == sorted(keys)


def test_fingerprints_present(src):
    result = to_sarif(make_report(src))["runs"][0]["results"][1]
    assert set(result["partialFingerprints"]) == {"kmeminit/v1", "primaryLocationLineHash"}
    assert result["partialFingerprints"]["primaryLocationLineHash"].endswith(":1")


def test_trace_capped(src, validator):
    c_file = str(src / "mm" / "page_owner.c")
    long = Finding.make("KMI001", Level.ERROR, "deep", Location(c_file, 6, 2), "init_pages",
                        trace=tuple(Step(Location(c_file, 6, 2), f"s{i}", i) for i in range(1500)))
    log = to_sarif(make_report(src, extra_findings=(long,)))
    validator.validate(log)
    [flow] = [r["codeFlows"][0] for r in log["runs"][0]["results"]
              if r["message"]["text"] == "deep"]
    assert len(flow["threadFlows"][0]["locations"]) == limits.MAX_TRACE_STEPS
    assert "1500" in flow["message"]["text"]


def write_sarif(report: Report, path: str) -> None:
    """As the CLI writes an output file."""
    write_output(path, dumps(to_sarif(report)))


def test_serialiser_names_order_defaults_and_level():
    """Schema property names; the house order first, then sarif-om's; unset and default
    properties left out, except `level` (absent would mean the rule's default level)."""
    result = om.Result(message=om.Message(text="m"), rule_id="R", level="warning",
                       kind="fail", rank=-1.0, guid="g", partial_fingerprints={"k": "v"},
                       locations=[om.Location(id=-1, physical_location=om.PhysicalLocation(
                           artifact_location=om.ArtifactLocation(uri="a.c", index=-1)))])
    assert json.dumps(to_json(result)) == json.dumps({
        "ruleId": "R", "level": "warning", "message": {"text": "m"},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a.c"}}}],
        "partialFingerprints": {"k": "v"}, "guid": "g"})
    nested = {"%SRCROOT%": om.ArtifactLocation(uri="file:///src/")}
    assert to_json([nested, "x", 1, None]) == [{"%SRCROOT%": {"uri": "file:///src/"}}, "x",
                                               1, None]


def test_deterministic_except_times(src, tmp_path):
    first, second = tmp_path / "a.sarif", tmp_path / "b.sarif"
    write_sarif(make_report(src), str(first))
    write_sarif(make_report(src, "2025-01-01T00:00:00Z", "2025-01-01T00:01:00Z"), str(second))
    a, b = first.read_text(), second.read_text()
    assert a != b
    assert a.replace("2024-05-01T10:00:00Z", "S").replace("2024-05-01T10:00:05Z", "E") == \
        b.replace("2025-01-01T00:00:00Z", "S").replace("2025-01-01T00:01:00Z", "E")


@pytest.mark.parametrize("target", ["json.dumps", "os.replace", "os.fsync"])
def test_failed_write_keeps_previous_file(src, tmp_path, monkeypatch, target):
    out = tmp_path / "out.sarif"
    out.write_text("previous")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    module, name = target.split(".")
    monkeypatch.setattr({"json": json, "os": os}[module], name, boom)
    with pytest.raises(OSError, match="disk full"):
        write_sarif(make_report(src), str(out))
    assert out.read_text() == "previous"
    assert sorted(os.listdir(tmp_path)) == ["out.sarif", "outside.c", "src"]  # no temp left


def test_write_keeps_mode_of_existing_file(src, tmp_path):
    out = tmp_path / "out.sarif"
    out.write_text("{}")
    out.chmod(0o640)
    write_sarif(make_report(src), str(out))
    assert out.stat().st_mode & 0o777 == 0o640
    assert json.loads(out.read_text())["version"] == "2.1.0"
