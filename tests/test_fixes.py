"""Fix suggestions: the shapes analyzer/triage/fixes.py rewrites, the ones it refuses, the
SARIF `fixes` entry, and `kmeminit fix` on a copy of the example tree: the diff applies
with `git apply`, compiles, and the finding is gone on the next run."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import EXAMPLE

from kmeminit.analyzer.cli import main
from kmeminit.analyzer.model import Location
from kmeminit.analyzer.results import CheckedConversion
from kmeminit.analyzer.triage.fixes import Fixer, NoFix, apply_spans, spans
from kmeminit.analyzer.triage.sources import Sources


def _fix(tmp_path: Path, body: str) -> str:
    """`body` with the fix of its pfn_valid(pfn) + pfn_to_page(pfn) applied."""
    path = tmp_path / "f.c"
    path.write_text(body)
    lines = body.splitlines()
    g = next(i for i, line in enumerate(lines) if "pfn_valid(" in line)
    c = next(i for i, line in enumerate(lines) if "pfn_to_page(" in line)
    hint = CheckedConversion(
        "pfn_valid", Location(str(path), g + 1, lines[g].index("pfn_valid(") + 1),
        "pfn_to_page", Location(str(path), c + 1, lines[c].index("pfn_to_page(") + 1),
        "pfn", "pfn_to_online_page")
    fix = Fixer(Sources(str(tmp_path))).fix(hint)
    return apply_spans(body, spans(body, fix.edits))


EARLY = """\
void f(void)
{
\tfor (pfn = 0; pfn < end; pfn++) {
\t\tstruct page *page;

\t\tif (!pfn_valid(pfn))
\t\t\tcontinue;
\t\tpage = pfn_to_page(pfn);
\t\tuse(page);
\t}
}
"""


def test_early_exit_moves_after_the_conversion(tmp_path: Path) -> None:
    assert _fix(tmp_path, EARLY) == EARLY.replace(
        "\t\tif (!pfn_valid(pfn))\n\t\t\tcontinue;\n\t\tpage = pfn_to_page(pfn);\n",
        "\t\tpage = pfn_to_online_page(pfn);\n\t\tif (!page)\n\t\t\tcontinue;\n")


def test_early_return_with_braces_and_a_declaration(tmp_path: Path) -> None:
    body = ("int g(unsigned long pfn)\n{\n\tif (!pfn_valid(pfn)) {\n\t\treturn -EINVAL;\n\t}\n"
            "\tstruct page *page = pfn_to_page(pfn);\n\n\treturn use(page);\n}\n")
    assert _fix(tmp_path, body) == (
        "int g(unsigned long pfn)\n{\n\tstruct page *page = pfn_to_online_page(pfn);\n"
        "\tif (!page)\n\t\treturn -EINVAL;\n\n\treturn use(page);\n}\n")


def test_enclosing_check_hoists_the_declaration(tmp_path: Path) -> None:
    body = ("void f(void)\n{\n\tfor (;;) {\n\t\tu64 flags = 0;\n\n\t\tif (pfn_valid(pfn)) {\n"
            "\t\t\tstruct page *page = pfn_to_page(pfn);\n\n"
            "\t\t\tif (PageReserved(page))\n\t\t\t\tflags = 1;\n\t\t}\n\t}\n}\n")
    assert _fix(tmp_path, body) == (
        "void f(void)\n{\n\tfor (;;) {\n\t\tu64 flags = 0;\n"
        "\t\tstruct page *page = pfn_to_online_page(pfn);\n\n\t\tif (page) {\n"
        "\t\t\tif (PageReserved(page))\n\t\t\t\tflags = 1;\n\t\t}\n\t}\n}\n")


@pytest.mark.parametrize("before, after", [
    ("\tpage = pfn_valid(pfn) ? pfn_to_page(pfn) : NULL;\n",
     "\tpage = pfn_to_online_page(pfn);\n"),
    ("\tif (pfn_valid(pfn))\n\t\tpage = pfn_to_page(pfn);\n\telse\n\t\tpage = NULL;\n",
     "\tpage = pfn_to_online_page(pfn);\n"),
    ("\tif (pfn_valid(pfn) && PageReserved(pfn_to_page(pfn)))\n\t\tn++;\n",
     "\tif (pfn_to_online_page(pfn) && PageReserved(pfn_to_page(pfn)))\n\t\tn++;\n"),
    ("\twhile (n && (!pfn_valid(pfn) || x))\n\t\tuse(pfn_to_page(pfn));\n",
     "\twhile (n && (!pfn_to_online_page(pfn) || x))\n\t\tuse(pfn_to_page(pfn));\n"),
    # a statement after the declaration: no check may go between them, the guard changes
    ("\tif (!pfn_valid(pfn))\n\t\treturn;\n\tstruct page *page = pfn_to_page(pfn);\n"
     "\tint nid = page_to_nid(page);\n",
     "\tif (!pfn_to_online_page(pfn))\n\t\treturn;\n\tstruct page *page = pfn_to_page(pfn);\n"
     "\tint nid = page_to_nid(page);\n"),
])
def test_other_shapes(tmp_path: Path, before: str, after: str) -> None:
    assert _fix(tmp_path, f"void f(void)\n{{\n{before}}}\n") == f"void f(void)\n{{\n{after}}}\n"


@pytest.mark.parametrize("body, reason", [
    ("\tvalid = pfn_valid(pfn);\n\tpage = pfn_to_page(pfn);\n", "not a condition of its own"),
    ("\tif (x + pfn_valid(pfn))\n\t\tpage = pfn_to_page(pfn);\n", "not a condition of its own"),
    ("\tif (WARN_ON(!pfn_valid(pfn)))\n\t\treturn;\n\tpage = pfn_to_page(pfn);\n",
     "not a condition of its own"),
    ("\tif (pfn_valid(pfn + 1))\n\t\tpage = pfn_to_page(pfn);\n", "another expression"),
])
def test_refused_shapes_say_why(tmp_path: Path, body: str, reason: str) -> None:
    with pytest.raises(NoFix, match=reason):
        _fix(tmp_path, f"void f(void)\n{{\n{body}}}\n")


def test_stale_source_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f.c").write_text(EARLY)
    hint = CheckedConversion("pfn_valid", Location(str(tmp_path / "f.c"), 2, 1), "pfn_to_page",
                             Location(str(tmp_path / "f.c"), 8, 10), "pfn",
                             "pfn_to_online_page")
    with pytest.raises(NoFix, match="not a call of pfn_valid"):
        Fixer(Sources(str(tmp_path))).fix(hint)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A git checkout of a copy of the example tree, with its compile database."""
    root = tmp_path / "minikernel"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".kmeminit",
                                                                 "compile_commands.json"))
    subprocess.run(["python3", str(root / "gen_compdb.py")], check=True, capture_output=True)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "example"], cwd=root, check=True)
    return root


def _kmi003(root: Path, tmp_path: Path) -> list[dict]:
    out = tmp_path / "after.json"
    main(["check", "-p", str(root), "--no-progress", "--fail-on", "none", "--format", "json",
          "-o", str(out)])
    return [f for f in json.loads(out.read_text())["findings"] if f["rule"] == "KMI003"]


def _compiles(root: Path, files: list[str]) -> None:
    for name in files:
        proc = subprocess.run(["gcc", "-fsyntax-only", "-Wall", "-Werror",
                               "-Wdeclaration-after-statement", "-nostdinc", "-Iinclude",
                               "-D__KERNEL__", name], cwd=root, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("git") is None,
                    reason="needs gcc and git")
def test_fix_diff_applies_compiles_and_the_findings_go(tree: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    before = _kmi003(tree, tmp_path)
    assert len(before) == 2 and all("fix" in f for f in before)
    diff = tmp_path / "kmi003.diff"
    assert main(["fix", "-p", str(tree), "--rules", "KMI003", "--no-progress",
                 "-o", str(diff)]) == 0
    assert "2 fix(es) in the diff, 2 file(s)" in capsys.readouterr().err
    text = diff.read_text()
    assert text.startswith("diff --git a/fs/proc/page.c b/fs/proc/page.c\n")
    assert "+\t\tpage = pfn_to_online_page(pfn);\n+\t\tif (!page)\n" in text
    subprocess.run(["git", "apply", "--check", str(diff)], cwd=tree, check=True)
    subprocess.run(["git", "apply", str(diff)], cwd=tree, check=True)
    _compiles(tree, ["fs/proc/page.c", "mm/page_owner.c"])
    assert _kmi003(tree, tmp_path) == []
    assert main(["fix", "-p", str(tree), "--rules", "pfn-walker-uninit-memmap",
                 "--no-progress", "-o", str(diff)]) == 0
    assert diff.read_text() == ""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_fix_apply_changes_the_files(tree: Path, tmp_path: Path) -> None:
    assert main(["fix", "-p", str(tree), "--no-progress", "--apply"]) == 0
    changed = subprocess.run(["git", "diff", "--name-only"], cwd=tree, check=True,
                             capture_output=True, text=True).stdout.split()
    assert changed == ["fs/proc/page.c", "mm/page_owner.c"]
    _compiles(tree, changed)
    assert _kmi003(tree, tmp_path) == []


def test_blank_line_after_the_check_follows_the_new_check(tmp_path: Path) -> None:
    body = ("int f(unsigned long pfn)\n{\n\tstruct page *p;\n\n\tif (!pfn_valid(pfn))\n"
            "\t\treturn -ENXIO;\n\n\tp = pfn_to_page(pfn);\n\treturn use(p);\n}\n")
    assert _fix(tmp_path, body) == (
        "int f(unsigned long pfn)\n{\n\tstruct page *p;\n\n\tp = pfn_to_online_page(pfn);\n"
        "\tif (!p)\n\t\treturn -ENXIO;\n\n\treturn use(p);\n}\n")


def test_a_check_of_another_value_of_the_pfn_is_not_rewritten(tmp_path: Path) -> None:
    """read_page_owner's shape: the loop moves pfn on after the check, so making that
    check the online one would silence the finding without fixing the conversion."""
    body = ("\twhile (!pfn_valid(pfn) && (pfn & 7) != 0)\n\t\tpfn++;\n"
            "\tfor (; pfn < max_pfn; pfn++) {\n\t\tpage = pfn_to_page(pfn);\n"
            "\t\tuse(page);\n\t}\n")
    with pytest.raises(NoFix, match="'pfn' may change between pfn_valid"):
        _fix(tmp_path, f"void f(void)\n{{\n{body}}}\n")
