"""Parse notifications: which TU said them, repeats folded with a count (stderr and SARIF),
command-line flags named, and what errors mean for a TU's health."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kmeminit.analyzer.cli import main
from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.frontend import ParseTask, parse_tu
from kmeminit.analyzer.index_task import DEGRADED, FAILED, OK, tu_health, with_tu
from kmeminit.analyzer.model import ERROR_LIMIT, FATAL, Level, Notification
from kmeminit.analyzer.paths import SourceTree
from kmeminit.analyzer.triage import folded_notifications
from kmeminit.sarif.text import format_notification

HEADER = "/k/arch/arm64/include/asm/atomic_lse.h"


def _header_error(tu: str) -> Notification:
    return Notification(Level.ERROR, "unknown register name 'x0' in asm", HEADER, 310, tu=tu)


def test_repeats_fold_into_one_with_count_and_first_tu() -> None:
    notes = [_header_error(f"/k/mm/{name}.c") for name in ("sparse", "filemap", "memory")]
    notes.append(_header_error("/k/mm/filemap.c"))  # twice in one TU
    flag = Notification(Level.NOTE, "clang ignored command-line flag -mfoo: unknown argument")
    notes += [flag] * 2 + [Notification(Level.ERROR, "other", HEADER, 311, tu="/k/mm/a.c")]
    folded = folded_notifications(notes)
    assert len(folded) == 3
    header = folded[0]
    assert (header.count, header.tus, header.tu) == (4, 3, "/k/mm/filemap.c")
    assert folded[1].count == 2 and folded[1].tu is None
    assert folded[2].count == 1
    tree = SourceTree("/k")
    assert format_notification(header, tree) == (
        "arch/arm64/include/asm/atomic_lse.h:310: error: unknown register name 'x0' in asm "
        "(4 times in 3 TUs, first: mm/filemap.c) [kmeminit]")
    assert format_notification(folded[1], tree) == (
        "kmeminit: note: clang ignored command-line flag -mfoo: unknown argument (2 times) "
        "[kmeminit]")
    assert format_notification(folded[2], tree).endswith("other (TU mm/a.c) [kmeminit]")


def test_one_per_tu_says_in_how_many_tus() -> None:
    notes = [Notification(Level.NOTE, "flag", tu=f"/k/mm/f{i}.c") for i in range(118)]
    (folded,) = folded_notifications(notes)
    assert format_notification(folded, SourceTree("/k")) == \
        "kmeminit: note: flag (in 118 TUs, first: mm/f0.c) [kmeminit]"


def test_own_source_notification_does_not_repeat_its_tu() -> None:
    note = Notification(Level.ERROR, "expected expression", "/k/mm/a.c", 3, tu="/k/mm/a.c")
    assert format_notification(note, SourceTree("/k")) == \
        "mm/a.c:3: error: expected expression [kmeminit]"


def test_with_tu_names_the_tu() -> None:
    notes = with_tu("/k/mm/a.c", [Notification(Level.NOTE, "x"), _header_error("/k/mm/a.c")])
    assert [n.tu for n in notes] == ["/k/mm/a.c", "/k/mm/a.c"]


@pytest.mark.parametrize("notes, health", [
    ([], OK),
    ([Notification(Level.NOTE, "clang ignored command-line flag -mfoo")], OK),
    # a header's errors below the error limit: a wrong target (arm64 asm parsed as x86)
    ([_header_error("/k/mm/a.c")], DEGRADED),
    ([Notification(Level.ERROR, "expected expression", "/k/mm/a.c", 3)], DEGRADED),
    ([Notification(Level.ERROR, "too many errors emitted", kind=ERROR_LIMIT)], DEGRADED),
    ([Notification(Level.ERROR, "'x.h' file not found", "/k/mm/a.c", 1, kind=FATAL)], FAILED),
])
def test_tu_health(notes: list[Notification], health: str) -> None:
    assert tu_health("/k/mm/a.c", notes)[0] == health


def test_header_error_reason_names_the_header() -> None:
    health, reason = tu_health("/k/mm/a.c", [_header_error("/k/mm/a.c")])
    assert health == DEGRADED
    assert reason == (f"error in an included header, {HEADER}:310: "
                      "unknown register name 'x0' in asm")


def test_rejected_flag_is_a_note_naming_the_flag(tmp_path: Path) -> None:
    """A flag clang rejects for the target costs a note naming it as written, not an
    error: the AST is still built."""
    src = tmp_path / "a.c"
    src.write_text("int a(void) { return 0; }\n")
    args = ("--target=x86_64-linux-gnu", "-mstack-protector-guard=sysreg", "-mabi=lp64",
            "-mfancy-gcc-only")
    facts = parse_tu(ParseTask.for_config(load_config(), str(src), args, str(tmp_path)))
    messages = sorted(n.message for n in facts.notifications)
    assert all(n.level is Level.NOTE for n in facts.notifications), messages
    assert [m.split(":")[0] for m in messages] == [
        "clang ignored command-line flag -mabi=lp64",
        "clang ignored command-line flag -mfancy-gcc-only",
        "clang ignored command-line flag -mstack-protector-guard=sysreg"]
    assert [f.name for f in facts.functions] == ["a"]


def test_header_errors_degrade_and_fold_end_to_end(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Three TUs including a header with an error: each is parsed with errors, and stderr
    and SARIF hold that error once, with its count and the first TU."""
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "asm.h").write_text("static inline int f(void) { return x; }\n")
    entries = []
    for i in range(3):
        (tmp_path / f"t{i}.c").write_text(f'#include "asm.h"\nint g{i}(void) {{ return 0; }}\n')
        entries.append({"directory": str(tmp_path), "file": f"t{i}.c",
                        "arguments": ["gcc", "-Iinclude", "-c", f"t{i}.c"]})
    (tmp_path / "compile_commands.json").write_text(json.dumps(entries))
    out = tmp_path / "out.sarif"
    assert main(["check", "-p", str(tmp_path), "--format", "sarif", "-o", str(out),
                 "--fail-on", "none", "--max-failed-tus", "100%"]) == 0
    err = capsys.readouterr().err
    assert "3 TUs: 0 parsed, 0 from cache, 3 parsed with errors, 0 failed" in err
    lines = [line for line in err.splitlines() if "include/asm.h" in line]
    assert lines == ["include/asm.h:1: error: use of undeclared identifier 'x' "
                     "(in 3 TUs, first: t0.c) [kmeminit]"]
    run = json.loads(out.read_text())["runs"][0]
    (note,) = [n for n in run["invocations"][0]["toolExecutionNotifications"]
               if n["level"] == "error"]
    assert note["message"]["text"].endswith("(in 3 TUs, first: t0.c)")
    assert note["properties"] == {"translationUnit": "t0.c", "translationUnits": 3,
                                  "count": 3}
    assert run["invocations"][0]["executionSuccessful"] is False


def test_index_folds_repeats_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Commands that print the indexing notifications themselves (index, graph, reserved,
    origins) fold them as check does."""
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "asm.h").write_text("static inline int f(void) { return x; }\n")
    entries = []
    for i in range(2):
        (tmp_path / f"t{i}.c").write_text('#include "asm.h"\n')
        entries.append({"directory": str(tmp_path), "file": f"t{i}.c",
                        "arguments": ["gcc", "-Iinclude", "-c", f"t{i}.c"]})
    (tmp_path / "compile_commands.json").write_text(json.dumps(entries))
    assert main(["index", "-p", str(tmp_path), "--max-failed-tus", "100%"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "asm.h" in line]
    assert lines == ["include/asm.h:1: error: use of undeclared identifier 'x' "
                     "(in 2 TUs, first: t0.c) [kmeminit]"]
