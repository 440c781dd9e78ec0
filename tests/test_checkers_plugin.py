from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from sarif_fixtures import DOC

from kmeminit import checkers
from kmeminit.analyzer import rules
from kmeminit.analyzer.config import Config
from kmeminit.analyzer.model import Level
from kmeminit.analyzer.rules import (
    build_rules,
    checker_problems,
    doc_problems,
    rule_meta,
    run_rules,
)

PLUGIN = '''\
"""{doc}"""
from kmeminit.analyzer.model import Level, Location
from kmeminit.analyzer.results import Finding


class TeamChecker:
    id = "TEAM001"
    name = "named-functions"
    level = Level.WARNING
    precision = "high"
    tags = ("team",)
    short = "Flags the functions named in config."
    full = "Yields one finding for every function listed under rules.TEAM001.functions."
    config_keys = ("functions",)

    def check(self, program, config):
        for name in config.get("rules", "TEAM001", "functions", default=[]):
            fn = program.functions[name]
            yield Finding.make(self.id, self.level, "{{fn}} is named", Location(fn, 1), name,
                               fn=name)


class Crashing(TeamChecker):
    id = "TEAM002"
    name = "crashing"

    def check(self, program, config):
        yield from ()
        raise RuntimeError("no model\\nsecond line")


class BadMeta(TeamChecker):
    id = "kmi9"
    level = "loud"
'''


def _install(root: Path, entry_points: dict[str, str], doc: str = DOC) -> Path:
    """A module plus a `.dist-info` on sys.path: what pip would leave, minus pip."""
    (root / "team_rules.py").write_text(PLUGIN.format(doc=doc))
    info = root / "team_rules-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: team-rules\nVersion: 1.0\n")
    lines = [f"{name} = {value}" for name, value in entry_points.items()]
    (info / "entry_points.txt").write_text("[kmeminit.checkers]\n" + "\n".join(lines) + "\n")
    return root


@pytest.fixture
def plugin_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def install(entry_points: dict[str, str], doc: str = DOC) -> None:
        monkeypatch.syspath_prepend(str(_install(tmp_path, entry_points, doc)))
        monkeypatch.delitem(sys.modules, "team_rules", raising=False)
    return install


def plugins(found, notes):
    """The plugin checkers of a build_rules() result (the built-in rules load too)."""
    return [c for c in found if not c.id.startswith("KMI")], notes


PROGRAM = SimpleNamespace(functions={"init_pages": "/k/mm/a.c", "add_pages": "/k/mm/b.c"})
CONFIG = Config({"rules": {"TEAM001": {"functions": ["init_pages", "add_pages"]}}})


def test_plugin_found_and_run(plugin_path):
    plugin_path({"team": "team_rules:TeamChecker"})
    found, notes = plugins(*build_rules(None, CONFIG))
    assert notes == []
    assert [c.id for c in found] == ["TEAM001"]
    findings, notes = run_rules(found, PROGRAM, CONFIG)
    assert notes == []
    assert [(f.rule, f.function, f.message) for f in findings] == [
        ("TEAM001", "init_pages", "init_pages is named"),
        ("TEAM001", "add_pages", "add_pages is named")]
    meta = rule_meta(type(found[0]))
    assert meta.doc.startswith("Demo rule.") and meta.level is Level.WARNING


def test_crashing_plugin_becomes_notification_others_kept(plugin_path):
    plugin_path({"team": "team_rules:TeamChecker", "crash": "team_rules:Crashing"})
    found, notes = plugins(*build_rules(None, CONFIG))
    assert notes == [] and [c.id for c in found] == ["TEAM001", "TEAM002"]
    findings, notes = run_rules(found, PROGRAM, CONFIG)
    assert [f.rule for f in findings] == ["TEAM001", "TEAM001"]
    [note] = notes
    assert note.level is Level.ERROR and note.rule == "TEAM002"
    assert "TEAM002" in note.message and "RuntimeError: no model" in note.message
    assert "\n" not in note.message and "second line" not in note.message
    with pytest.raises(RuntimeError):
        run_rules(found, PROGRAM, CONFIG, debug=True)


def test_bad_plugins_become_notifications(plugin_path):
    plugin_path({"bad": "team_rules:BadMeta", "gone": "team_rules:Missing",
                 "noimport": "no_such_module:X", "team": "team_rules:TeamChecker"})
    found, notes = plugins(*build_rules(None, CONFIG))
    assert [c.id for c in found] == ["TEAM001"]
    messages = sorted(n.message for n in notes)
    assert all(n.level is Level.ERROR for n in notes) and len(notes) == 3
    assert "plugin 'bad' (team_rules:BadMeta) rejected" in messages[0]
    assert "kmi9" in messages[0] and "level" in messages[0]
    assert messages[1].startswith("plugin 'gone' (team_rules:Missing) failed to load")
    assert messages[2].startswith("plugin 'noimport'")


def test_plugin_without_doc_sections_rejected(plugin_path):
    plugin_path({"team": "team_rules:TeamChecker"}, doc="Only a summary.")
    found, notes = plugins(*build_rules(None, CONFIG))
    [error] = [n for n in notes if n.level is Level.ERROR]
    assert found == [] and "doc lacks section(s): What it finds" in error.message


def test_colliding_plugin_ids(plugin_path):
    plugin_path({"a": "team_rules:TeamChecker", "b": "team_rules:TeamChecker"})
    found, [note] = plugins(*build_rules(None, CONFIG))
    assert len(found) == 1
    assert "plugin 'b'" in note.message and "already used by plugin 'a'" in note.message


def test_reserved_prefix_and_builtin_validation(monkeypatch):
    class Fake:
        id, name, level, precision = "KMI001", "x", Level.NOTE, "low"
        tags, short, full, config_keys = ("t",), "s", "f", ()

        def check(self, program, config):
            return iter(())

    assert any("reserved" in p for p in checker_problems(Fake, builtin=False))
    monkeypatch.setattr(checkers, "BUILTIN_CHECKERS", (Fake,))
    with pytest.raises(rules.CheckerError, match="doc lacks"):
        build_rules(None, None)


def test_enabled_set_config_keys_and_level_override(plugin_path):
    plugin_path({"team": "team_rules:TeamChecker", "crash": "team_rules:Crashing"})
    config = Config({"rules": {"TEAM001": {"functions": [], "level": "error", "colour": 1},
                               "NOPE001": {}}},
                    {("rules", "TEAM001", "colour"): "/etc/k.yaml:7"})
    found, notes = plugins(*build_rules({"TEAM001", "ZZZ999"}, config))
    assert [(c.id, c.level) for c in found] == [("TEAM001", Level.ERROR)]
    assert rule_meta(type(found[0]), found[0].level).level is Level.ERROR
    by_text = {n.message: n for n in notes}
    assert "unknown rule id(s): ZZZ999" in by_text
    [key] = [n for n in notes if "unknown key 'colour'" in n.message]
    assert (key.file, key.line, key.level) == ("/etc/k.yaml", 7, Level.ERROR)
    assert "rules.NOPE001: no such rule is installed" in by_text
    off = Config({"rules": {"TEAM002": {"enabled": False}}})
    assert [c.id for c in plugins(*build_rules(None, off))[0]] == ["TEAM001"]


def test_doc_section_order():
    shuffled = DOC.replace("## Fix", "## Fixx").replace("## Example", "## Fix") \
        .replace("## Fixx", "## Example")
    assert doc_problems(DOC) == []
    assert doc_problems(shuffled) and "order" in doc_problems(shuffled)[0]
