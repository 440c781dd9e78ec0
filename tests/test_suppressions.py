"""Triage that fits a kernel tree: where the suppressions file is, what an entry may name,
`kmeminit: ignore` comments parsed by the frontend, and one-line errors (exit 2) for every
malformed entry or comment.  End to end with the test plugin of test_cli.py (one TEST001
finding per function named in rules.TEST001.functions, on the function's line)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from test_cli import plugin, run  # noqa: F401 - `plugin` is a fixture

from kmeminit.analyzer.frontend.source_text import suppression_comments
from kmeminit.analyzer.model import SourceSuppression
from kmeminit.analyzer.store import FactStore
from kmeminit.analyzer.triage.suppressions import path_matches

A_C = """\
int pfn_walk(int pfn)
{
\treturn pfn + 1;
}

/* kmeminit: ignore TEST001 the walker only reads online sections */
int walk_online(int pfn)
{
\treturn pfn;
}

int show_range(int pfn) /* kmeminit: ignore TEST001, KMI007 sysfs reader */
{
\treturn pfn;
}
"""
B_C = """\
int other_show(void) { return 0; }
int other(void) { return 1; }
"""


@pytest.fixture
def tree(tmp_path: Path, plugin: Path) -> Path:  # noqa: F811
    src = tmp_path / "linux"
    (src / "mm").mkdir(parents=True)
    (src / "drivers" / "base").mkdir(parents=True)
    (src / "mm" / "a.c").write_text(A_C)
    (src / "drivers" / "base" / "b.c").write_text(B_C)
    db = [{"directory": str(src), "file": f, "arguments": ["gcc", "-c", f]}
          for f in ("mm/a.c", "drivers/base/b.c")]
    (src / "compile_commands.json").write_text(json.dumps(db))
    plugin.write_text("rules:\n  TEST001:\n    functions: [pfn_walk, walk_online, show_range, "
                      "other_show, other]\n")
    return src


def _check(tree: Path, plugin: Path, *extra: str) -> int:  # noqa: F811
    return run("check", "-p", str(tree), "--config", str(plugin), "--no-progress", "-j", "1",
               "--store", str(tree.parent / "facts.db"), *extra)


def _sarif(tree: Path, plugin: Path, tmp_path: Path, *extra: str  # noqa: F811
           ) -> tuple[int, list[dict]]:
    out = tmp_path / "r.sarif"
    code = _check(tree, plugin, "--format", "sarif", "-o", str(out), *extra)
    return code, json.loads(out.read_text())["runs"][0]["results"]


def _suppressed(results: list[dict]) -> dict[str, list[tuple[str, str]]]:
    return {r["message"]["text"].split()[0]: [(s["kind"], s["justification"])
                                              for s in r.get("suppressions", [])]
            for r in results}


# -- in-source comments -----------------------------------------------------------------

def test_comment_on_the_line_or_the_line_above(tree: Path, plugin: Path,  # noqa: F811
                                               tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, results = _sarif(tree, plugin, tmp_path)
    assert code == 1
    assert _suppressed(results) == {
        "pfn_walk": [], "walk_online": [("inSource", "the walker only reads online sections")],
        "show_range": [("inSource", "sysfs reader")], "other_show": [], "other": []}
    capsys.readouterr()
    assert _check(tree, plugin) == 1
    out = capsys.readouterr().out
    assert "walk_online" not in out and "show_range" not in out
    assert out.splitlines()[-1].endswith("in 5 functions, 2 suppressed")


def test_unused_and_malformed_comments(tree: Path, plugin: Path, tmp_path: Path,  # noqa: F811
                                       capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "drivers" / "base" / "b.c").write_text(
        "/* kmeminit: ignore TEST001 nothing is reported on the next line */\n\n" + B_C)
    assert _check(tree, plugin) == 1
    err = capsys.readouterr().err
    assert ("drivers/base/b.c:1: note: 'kmeminit: ignore TEST001' suppresses nothing on line "
            "2; remove it if the finding is gone [kmeminit]") in err
    (tree / "drivers" / "base" / "b.c").write_text(
        "int other_show(void) { return 0; } // kmeminit: ignore TEST001\n"
        "int other(void) { return 1; }\n")
    out = tmp_path / "r.sarif"
    assert _check(tree, plugin, "--format", "sarif", "-o", str(out)) == 2
    err = capsys.readouterr().err
    assert ("drivers/base/b.c:1: error: malformed suppression comment: 'kmeminit: ignore "
            "TEST001' needs a reason after the rule id [kmeminit]") in err
    assert "Traceback" not in err
    results = json.loads(out.read_text())["runs"][0]["results"]  # written all the same
    assert len(results) == 5
    assert not _suppressed(results)["other_show"]


def test_comments_of_a_header_kept_in_the_store(tree: Path, plugin: Path,  # noqa: F811
                                           tmp_path: Path) -> None:
    """A comment in an included header reaches findings in its inline functions; the
    store keeps the comments with the TU's facts."""
    (tree / "mm" / "walk.h").write_text(
        "/* kmeminit: ignore TEST001 header helper, reviewed */\n"
        "static inline int pfn_walk_inline(int pfn) { return pfn; }\n")
    # extraction walks the header functions the TU reaches: a.c calls the helper
    (tree / "mm" / "a.c").write_text('#include "walk.h"\n' + A_C +
                                     "int use_inline(int pfn) { return pfn_walk_inline(pfn); }\n")
    plugin.write_text("rules:\n  TEST001:\n    functions: [pfn_walk_inline, walk_online]\n")
    code, results = _sarif(tree, plugin, tmp_path)
    assert code == 0
    assert {k: v[0][0] for k, v in _suppressed(results).items()} == {
        "pfn_walk_inline": "inSource", "walk_online": "inSource"}
    store = FactStore(tree.parent / "facts.db")
    [tu] = [t for t in store.iter_tus() if t.file.endswith("a.c")]
    assert sorted((Path(c.file).name, c.line, c.target) for c in tu.suppressions) == [
        ("a.c", 7, 8), ("a.c", 13, 13), ("walk.h", 1, 2)]
    store.close()


@pytest.mark.parametrize("text, expected", [
    ("x(); /* kmeminit: ignore KMI003 reason */\n", [(1, 1, ("KMI003",), "reason", "")]),
    ("/* kmeminit: ignore KMI003 r */ x();\n", [(1, 1, ("KMI003",), "r", "")]),
    ("/*\n * kmeminit: ignore kmi003,KMI007: a long\n *   reason\n */\nx();\n",
     [(1, 5, ("KMI003", "KMI007"), "a long reason", "")]),
    ("// kmeminit: ignore KMI003\nx();\n",
     [(1, 2, ("KMI003",), "", "'kmeminit: ignore KMI003' needs a reason after the rule id")]),
    ("// kmeminit: ignroe KMI003 typo\n",
     [(1, 2, (), "", "'kmeminit:' is followed by 'ignroe'; expected "
                     "'kmeminit: ignore RULE[,RULE] reason'")]),
    ("// kmeminit: ignore because it is fine\n",
     [(1, 2, (), "", "'kmeminit: ignore' needs a rule id, as in "
                     "'kmeminit: ignore RULE[,RULE] reason'")]),
    ('s = "/* kmeminit: ignore KMI003 in a string */";\n', []),
    ("/* a comment that mentions kmeminit without a colon */\n", []),
])
def test_comment_grammar(text: str, expected: list[tuple]) -> None:
    found = suppression_comments(text.encode(), "/t.c")
    assert [(c.line, c.target, c.rules, c.reason, c.error) for c in found] == expected
    assert all(isinstance(c, SourceSuppression) for c in found)


# -- the suppressions file ------------------------------------------------------------------

ENTRIES = """\
suppressions:
  - rule: TEST001
    path: drivers/
    function: "*_show"
    reason: sysfs readers of online memory blocks
  - path: mm/a.c
    function: pfn_w?lk
    reason: walks online sections only
    expires: 2999-12-31
"""


def test_entries_by_rule_path_and_function_globs(tree: Path, plugin: Path,  # noqa: F811
                                                  tmp_path: Path) -> None:
    (tree / "kmeminit-suppressions.yaml").write_text(ENTRIES)
    code, results = _sarif(tree, plugin, tmp_path)
    assert code == 1  # `other` is still reported
    suppressed = _suppressed(results)
    assert suppressed["other_show"] == [("external", "sysfs readers of online memory blocks")]
    assert suppressed["pfn_walk"] == [("external", "walks online sections only")]
    assert suppressed["other"] == []
    (tree / "kmeminit-suppressions.yaml").write_text(
        "suppressions:\n  - rule: test001\n    reason: a rule alone, all of them\n")
    code, results = _sarif(tree, plugin, tmp_path)
    assert code == 0
    assert all(r.get("suppressions") for r in results)
    # a comment and an entry can both apply: both are listed, the comment first
    assert [kind for kind, _ in _suppressed(results)["walk_online"]] == ["inSource", "external"]


def test_old_name_still_works_and_both_is_refused(tree: Path, plugin: Path,  # noqa: F811
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tree / ".kmeminit-suppressions.yaml").write_text(
        "suppressions:\n  - function: other\n    reason: old file\n")
    assert _check(tree, plugin, "--json-output", str(tree.parent / "r.json")) == 1
    js = json.loads((tree.parent / "r.json").read_text())
    assert [f["suppressed"] for f in js["findings"] if f["function"] == "other"] == ["old file"]
    (tree / "kmeminit-suppressions.yaml").write_text(ENTRIES)
    capsys.readouterr()
    assert _check(tree, plugin) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.endswith(".kmeminit-suppressions.yaml: both kmeminit-suppressions.yaml and "
                         f".kmeminit-suppressions.yaml exist in {tree}; keep one (git refuses "
                         "to add the dot file in a kernel tree)")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_default_name_is_not_ignored_by_a_kernel_gitignore_and_found_from_the_top(
        tree: Path, plugin: Path, tmp_path: Path) -> None:  # noqa: F811
    """The kernel's .gitignore starts with `.*`: git refuses the old dot file and takes
    the new name.  A source root below the checkout's top finds the file at the top."""
    top = tree.parent
    (top / ".gitignore").write_text(".*\n*.o\n!.gitignore\n")
    subprocess.run(["git", "init", "-q", str(top)], check=True)

    def ignored(name: str) -> bool:
        return subprocess.run(["git", "-C", str(top), "check-ignore", "-q", name],
                              check=False).returncode == 0

    assert ignored(".kmeminit-suppressions.yaml") and not ignored("kmeminit-suppressions.yaml")
    (top / "kmeminit-suppressions.yaml").write_text(ENTRIES.replace("path: mm/a.c",
                                                                    "path: mm/a.c\n    rule: "
                                                                    "TEST001"))
    code, results = _sarif(tree, plugin, tmp_path, "--source-root", str(tree))
    assert _suppressed(results)["other_show"][0][0] == "external"
    assert code == 1


@pytest.mark.parametrize("text, message", [
    ("suppressions:\n  - rule: KMI003\n    reason: r\n    expires: 2031-13-45\n",
     "kmeminit-suppressions.yaml:4: '2031-13-45' is not a valid date: month must be in 1..12"),
    ("suppressions:\n  - rule: KMI003\n", "kmeminit-suppressions.yaml:2: a suppression needs a "
     "'reason'"),
    ("suppressions:\n  - reason: everything\n", "kmeminit-suppressions.yaml:2: a suppression "
     "needs 'fingerprint', or any of 'rule', 'path' and 'function'"),
])
def test_malformed_entry_is_one_line_and_exit_2(tree: Path, plugin: Path,  # noqa: F811
                                                text: str, message: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "kmeminit-suppressions.yaml").write_text(text)
    assert _check(tree, plugin) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.endswith(message), line


@pytest.mark.parametrize("pattern, path, expected", [
    ("mm/*.c", "mm/sub/x.c", True),  # `*` crosses directories
    ("drivers/", "drivers/base/memory.c", True),
    ("drivers", "drivers/base/memory.c", False),
    ("./mm/memremap.c", "mm/memremap.c", True),
    ("mm/memremap.c", "mm/memremap.h", False),
])
def test_path_globs(pattern: str, path: str, expected: bool) -> None:
    assert path_matches(pattern, path) is expected
