"""Compile database reading and gcc → libclang argument sanitising."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kmeminit.analyzer.compdb import CompdbError, Sanitizer, load_entries, open_compdb
from kmeminit.analyzer.config import load_config

KERNEL_CMD = [
    "gcc", "-Wp,-MMD,mm/.memremap.o.d", "-nostdinc", "-I./arch/x86/include", "-I./include",
    "-include", "./include/linux/kconfig.h", "-D__KERNEL__", "-Werror",
    "-mpreferred-stack-boundary=3", "-mindirect-branch=thunk-extern",
    "-mindirect-branch-register", "-fno-allow-store-data-races", "-fconserve-stack",
    "-falign-jumps=1", "-Wno-dangling-pointer", "-Wno-stringop-overflow",
    "-Wno-alloc-size-larger-than", "-Wimplicit-fallthrough=5", "-Werror=designated-init",
    "-Wno-packed-not-aligned", "-Wno-stringop-truncation", "-Wno-maybe-uninitialized",
    "-O2", "-DKBUILD_MODNAME='\"memremap\"'", "-c", "-o", "mm/memremap.o", "mm/memremap.c",
]


@pytest.fixture
def sanitizer() -> Sanitizer:
    return Sanitizer(load_config())


def test_kernel_command_line_is_sanitised(sanitizer: Sanitizer) -> None:
    args, dropped, arch = sanitizer.sanitize(KERNEL_CMD, "mm/memremap.c", "/k")
    assert arch == "x86_64"  # x86's first target: no -m32 says otherwise
    assert args == [
        "--target=x86_64-linux-gnu", "-nostdinc", "-I/k/arch/x86/include", "-I/k/include",
        "-include", "/k/include/linux/kconfig.h", "-D__KERNEL__", "-O2",
        "-DKBUILD_MODNAME='\"memremap\"'",
        "-Wno-unknown-warning-option", "-Wno-ignored-optimization-argument",
    ]
    for flag in ("-Werror", "-fconserve-stack", "-Wp,-MMD,mm/.memremap.o.d", "-c", "-o",
                 "mm/memremap.o", "-Wno-maybe-uninitialized", "-falign-jumps=1"):
        assert flag in dropped


def test_werror_variants_other_than_plain_are_kept(sanitizer: Sanitizer) -> None:
    args, _, _ = sanitizer.sanitize(["gcc", "-Werror=implicit-int", "-c", "a.c"], "a.c", "/d")
    assert "-Werror=implicit-int" in args


def test_per_arch_flags_are_dropped_only_for_that_arch(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("compdb:\n  per_arch:\n    arm64: [-mbranch-protection=none]\n")
    s = Sanitizer(load_config(cfg))
    arm, _, _ = s.sanitize(["gcc", "-I./arch/arm64/include", "-mbranch-protection=none", "a.c"],
                           "a.c", "/d")
    x86, _, _ = s.sanitize(["gcc", "-I./arch/x86/include", "-mbranch-protection=none", "a.c"],
                           "a.c", "/d")
    assert "-mbranch-protection=none" not in arm
    assert "-mbranch-protection=none" in x86


def test_user_config_extends_drop_list(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("compdb:\n  drop_flags+: [-mfancy-gcc-only]\n")
    s = Sanitizer(load_config(cfg))
    args, dropped, _ = s.sanitize(["gcc", "-mfancy-gcc-only", "-Werror", "a.c"], "a.c", "/d")
    assert dropped == ["-mfancy-gcc-only", "-Werror"] and "-mfancy-gcc-only" not in args


def _write_db(tmp_path: Path, entries: list[dict]) -> Path:
    db = tmp_path / "compile_commands.json"
    db.write_text(json.dumps(entries, indent=1))
    return db


def test_command_strings_and_relative_directories(tmp_path: Path) -> None:
    (tmp_path / "mm").mkdir()
    (tmp_path / "mm" / "a.c").write_text("int a;\n")
    (tmp_path / "mm" / "b.c").write_text("int b;\n")
    db = _write_db(tmp_path, [
        {"directory": ".", "command": "gcc -I./include -DX='\"q r\"' -c -o mm/a.o mm/a.c",
         "file": "mm/a.c"},
        {"directory": str(tmp_path), "arguments": ["gcc", "-c", "mm/b.c"], "file": "mm/b.c"},
    ])
    config = load_config()
    entries, notes = load_entries(tmp_path, config)  # a build directory works too
    assert notes == []
    assert [Path(e.file).name for e in entries] == ["a.c", "b.c"]
    assert entries[0].clang_args[:2] == (f"-I{tmp_path}/include", "-DX=\"q r\"")
    whole = open_compdb(db, config)
    assert (whole.source_root, whole.total) == (str(tmp_path), 2)
    assert [Path(e.file).name for e in open_compdb(db, config, ["mm/b.c"]).entries] == ["b.c"]
    assert len(open_compdb(db, config, ["mm/"]).entries) == 2
    assert open_compdb(db, config, ["nowhere/"]).entries == []
    excluding = tmp_path / "x.yaml"
    excluding.write_text("compdb:\n  exclude: [mm/]\n")
    assert open_compdb(db, load_config(excluding)).entries == []


def test_shell_metacharacters_are_never_executed(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    (tmp_path / "a.c").write_text("int a;\n")
    _write_db(tmp_path, [{"directory": str(tmp_path), "file": "a.c",
                          "command": f"gcc -c a.c; touch {canary} $(touch {canary}) "
                                     f"`touch {canary}`"}])
    entries, _ = load_entries(tmp_path / "compile_commands.json", load_config())
    assert len(entries) == 1 and not canary.exists()


@pytest.mark.parametrize("content, message", [
    ("{not json", ":1: invalid JSON"),
    ('{"a": 1}', ":1: compile database must be a JSON list"),
    ('[\n {"directory": "/"}\n]', ":2: entry 0 has no 'file'"),
    ('[\n {"file": "a.c", "directory": "/"}\n]', "neither 'arguments'"),
    ('[\n 3\n]', ":2: entry 0 is not a JSON object"),
])
def test_bad_databases_give_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    db = tmp_path / "compile_commands.json"
    db.write_text(content)
    with pytest.raises(CompdbError) as info:
        load_entries(db, load_config())
    assert str(db) in str(info.value) and message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_database(tmp_path: Path) -> None:
    with pytest.raises(CompdbError, match="no compile_commands.json"):
        load_entries(tmp_path, load_config())


def test_missing_source_and_duplicates_become_notifications(tmp_path: Path) -> None:
    (tmp_path / "a.c").write_text("int a;\n")
    _write_db(tmp_path, [
        {"directory": str(tmp_path), "arguments": ["gcc", "-c", "a.c"], "file": "a.c"},
        {"directory": str(tmp_path), "arguments": ["gcc", "-c", "a.c"], "file": "a.c"},
        {"directory": str(tmp_path), "arguments": ["gcc", "-DY", "-c", "a.c"], "file": "a.c"},
        {"directory": str(tmp_path), "arguments": ["gcc", "-c", "gone.c"], "file": "gone.c"},
    ])
    entries, notes = load_entries(tmp_path, load_config())
    assert len(entries) == 1
    assert [(n.level.value, Path(n.file).name) for n in notes] == [
        ("note", "a.c"), ("warning", "a.c"), ("error", "gone.c")]


def test_commands_split_as_a_posix_shell_splits_them() -> None:
    """The fast splitter gives shlex.split's words, or its error, on kernel-like commands
    and on random strings of quotes, backslashes and blanks."""
    import random
    import shlex

    from kmeminit.analyzer.compdb import CompdbError, _split_command

    rnd = random.Random(16)
    alphabet = ["a", "b", " ", "'", '"', "\\", "\t", "\n", "x="]
    cases = ["gcc -DKBUILD_MODNAME='\"memory\"' -D\"KBUILD_BASENAME=KBUILD_STR(x)\" -c x.c",
             "a 'b c' \"d e\" f\\ g", '"a\\\\b\\c\\"d"', "''", "a '' b", "", "  x  "]
    cases += ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 14)))
              for _ in range(3000)]
    for command in cases:
        try:
            expected: list[str] | None = shlex.split(command)
        except ValueError:
            expected = None
        try:
            got: list[str] | None = _split_command(command, "db:1")
        except CompdbError:
            got = None
        assert got == expected, command


def test_the_source_argument_is_dropped_however_it_is_spelt(tmp_path: Path,
                                                            sanitizer: Sanitizer) -> None:
    """The command's source argument is dropped when it names the TU's file: as written,
    relative to another directory, or through a symlink (compared resolved); another
    source file stays an argument."""
    (tmp_path / "mm").mkdir()
    (tmp_path / "mm" / "a.c").write_text("int a;\n")
    (tmp_path / "mm" / "b.c").write_text("int b;\n")
    (tmp_path / "link").symlink_to(tmp_path / "mm")
    for spelt in ("mm/a.c", "./mm/a.c", str(tmp_path / "mm" / "a.c"), "link/a.c",
                  str(tmp_path / "link" / "a.c")):
        args, _, _ = sanitizer.sanitize(["gcc", "-O2", "-c", spelt, "mm/b.c"], "mm/a.c",
                                        str(tmp_path))
        assert args[-4:] == ["-O2", "mm/b.c", "-Wno-unknown-warning-option",
                             "-Wno-ignored-optimization-argument"], spelt
    args, _, _ = sanitizer.sanitize(["gcc", "-c", "link/a.c"], str(tmp_path / "link" / "a.c"),
                                    str(tmp_path))
    assert "link/a.c" not in args and str(tmp_path / "link" / "a.c") not in args


def test_path_selection_and_exclusion_against_relpath() -> None:
    """`wanted` against its definition with os.path.relpath and realpath, on files inside
    and outside the root, prefixes that are and are not directories, and filters written
    relative, absolute and with a trailing slash."""
    import os

    from kmeminit.analyzer.compdb import _under, wanted

    root = "/k/src"
    files = ["/k/src/mm/a.c", "/k/src/mmx/b.c", "/k/src/scripts/c.c", "/k/other/d.c",
             "/k/src/tools/e.c", "/k/srcx/f.c", "/k/src/mm/sub/g.c"]
    excludes = [[], ["scripts/"], ["scripts/", "tools/"], ["mm"], ["../other/"]]
    filters = [[], ["mm/"], ["mm"], ["/k/src/mm"], ["mm/sub/g.c", "tools/"], ["../other"]]
    for file in files:
        for exclude in excludes:
            for chosen in filters:
                rel = os.path.relpath(file, root)
                expected = not any(rel.startswith(x) for x in exclude) and (
                    not chosen or any(_under(file, os.path.realpath(
                        f if os.path.isabs(f) else os.path.join(root, f))) for f in chosen))
                assert wanted(file, root, chosen, exclude) == expected, (file, exclude,
                                                                         chosen)
