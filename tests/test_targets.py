"""The clang target comes from the build, the same way in both flows: a compile database
(the compiler's CROSS_COMPILE prefix, a --target already there, the arch/<arch>/include
directory) and kbuild (sparse's --arch=, -m64/-m32 and byte order in CHECKFLAGS).  Only C
is parsed.  The argument lists are those the 6.12 builds of scripts/prepare-kernel.sh pass
(ARCH=x86, arm64, riscv, powerpc), trimmed to the flags that matter here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kmeminit.analyzer.cli import main
from kmeminit.analyzer.cli.cc import entry_for
from kmeminit.analyzer.compdb import Sanitizer, open_compdb
from kmeminit.analyzer.config import ConfigError, load_config

# sparse's CHECKFLAGS from the top Makefile, then each architecture's
SPARSE = ["-D__linux__", "-Dlinux", "-D__STDC__", "-Dunix", "-D__unix__", "-Wbitwise",
          "-Wno-return-void", "-Wno-unknown-attribute"]
COMMON = ["-nostdinc", "-I./include", "-include", "./include/linux/kconfig.h", "-D__KERNEL__",
          "-std=gnu11", "-fno-PIE", "-O2", "-fno-allow-store-data-races", "-fconserve-stack"]


class Arch:
    def __init__(self, name: str, triple: str, compiler: str, checkflags: list[str],
                 flags: list[str], gcc_only: list[str]) -> None:
        self.name, self.triple, self.compiler = name, triple, compiler
        self.checkflags = SPARSE + checkflags
        self.flags = flags  # c_flags of the architecture (besides COMMON)
        self.gcc_only = gcc_only  # what libclang rejects for this target: dropped


ARCHES = [
    Arch("x86_64", "x86_64-linux-gnu", "gcc",
         ["-D__x86_64__", "--arch=x86", "-mlittle-endian", "-m64"],
         ["-I./arch/x86/include", "-mno-sse", "-mno-red-zone", "-mcmodel=kernel", "-m64",
          "-mpreferred-stack-boundary=3", "-mindirect-branch=thunk-extern",
          "-fcf-protection=branch", "-fpatchable-function-entry=16,16"],
         ["-mpreferred-stack-boundary=3", "-mindirect-branch=thunk-extern"]),
    Arch("arm64", "aarch64-linux-gnu", "aarch64-linux-gnu-gcc",
         ["-D__AARCH64EL__", "-D__aarch64__", "--arch=arm64", "-mlittle-endian", "-m64"],
         ["-I./arch/arm64/include", "-mlittle-endian", "-mgeneral-regs-only", "-mabi=lp64",
          "-mbranch-protection=pac-ret", "-Wa,-march=armv8.5-a",
          "-femit-struct-debug-baseonly", "-mstack-protector-guard=sysreg",
          "-mstack-protector-guard-reg=sp_el0", "-mstack-protector-guard-offset=1224"],
         ["-mabi=lp64", "-femit-struct-debug-baseonly"]),
    Arch("riscv64", "riscv64-linux-gnu", "riscv64-linux-gnu-gcc",
         ["-D__riscv", "-D__riscv_xlen=64", "--arch=riscv", "-mlittle-endian", "-m64"],
         ["-I./arch/riscv/include", "-mabi=lp64", "-march=rv64imac_zicsr_zifencei",
          "-mno-save-restore", "-mcmodel=medany", "-mno-riscv-attribute", "-mstrict-align",
          "-mstack-protector-guard=tls", "-mstack-protector-guard-reg=tp",
          "-mstack-protector-guard-offset=1200"],
         ["-mno-riscv-attribute", "-mstack-protector-guard=tls",
          "-mstack-protector-guard-reg=tp", "-mstack-protector-guard-offset=1200"]),
    Arch("ppc64le", "powerpc64le-linux-gnu", "powerpc64le-linux-gnu-gcc",
         ["-m64", "-D__powerpc__", "-D__powerpc64__", "-D__LITTLE_ENDIAN__", "--arch=powerpc",
          "-mlittle-endian", "-m64"],
         ["-I./arch/powerpc/include", "-mlittle-endian", "-m64", "-msoft-float",
          "-mtraceback=no", "-mabi=elfv2", "-mcmodel=medium",
          "-mno-pointers-to-nested-functions", "-mcpu=power8", "-mno-prefixed", "-mno-pcrel",
          "-mno-string", "-mno-strict-align", "-pg", "-mprofile-kernel",
          "-mstack-protector-guard=tls", "-mstack-protector-guard-reg=r13",
          "-mstack-protector-guard-offset=3192"],
         ["-mtraceback=no", "-mno-pointers-to-nested-functions", "-mno-string",
          "-mno-strict-align", "-mprofile-kernel", "-mstack-protector-guard-offset=3192"]),
]
BY_NAME = {a.name: a for a in ARCHES}


def _db(tmp_path: Path, entries: list[tuple[str, list[str]]]) -> Path:
    """A compile database of (file, command) entries; every file exists."""
    (tmp_path / "include" / "linux").mkdir(parents=True)
    (tmp_path / "include" / "linux" / "kconfig.h").write_text("")
    db = []
    for file, command in entries:
        path = tmp_path / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("int x;\n")
        db.append({"directory": str(tmp_path), "file": file, "arguments": command})
    (tmp_path / "compile_commands.json").write_text(json.dumps(db))
    return tmp_path


def _command(arch: Arch, file: str = "mm/sparse.c") -> list[str]:
    return [arch.compiler, f"-Wp,-MMD,mm/.{Path(file).stem}.o.d", *COMMON, *arch.flags,
            "-c", "-o", file.replace(".c", ".o"), file]


@pytest.mark.parametrize("arch", ARCHES, ids=[a.name for a in ARCHES])
def test_compdb_and_kbuild_give_the_same_target_and_arguments(arch: Arch,
                                                              tmp_path: Path) -> None:
    config = load_config()
    tree = _db(tmp_path, [("mm/sparse.c", _command(arch))])
    (entry,) = open_compdb(tree, config).entries
    assert entry.clang_args[0] == f"--target={arch.triple}"
    assert entry.arch == arch.name
    for flag in arch.gcc_only:
        assert flag not in entry.clang_args and flag in entry.dropped
    # kbuild runs $(CHECK) $(CHECKFLAGS) $(c_flags) file.c: no compiler, sparse's flags first
    c_flags = _command(arch)[1:]
    i = c_flags.index("-c")
    argv = [*arch.checkflags, *c_flags[:i], *c_flags[i + 3:]]
    _, kbuild, _ = entry_for(argv, config, str(tree))
    assert kbuild.clang_args == entry.clang_args  # same cache key, same facts
    assert kbuild.arch == arch.name


@pytest.mark.parametrize("argv, target, name", [
    # a clang build (LLVM=1) says its target; other spellings of it are canonical here
    (["clang", "--target=aarch64-linux-gnu", "-I./arch/arm64/include"],
     "aarch64-linux-gnu", "arm64"),
    (["clang", "-target", "aarch64-unknown-linux-gnu"], "aarch64-linux-gnu", "arm64"),
    (["clang", "--target", "arm64-apple-darwin"], "aarch64-linux-gnu", "arm64"),
    # the prefix: CROSS_COMPILE=riscv64-unknown-linux-gnu-, Debian's versioned names
    (["riscv64-unknown-linux-gnu-gcc", "-mabi=lp64"], "riscv64-linux-gnu", "riscv64"),
    (["/usr/bin/powerpc64le-linux-gnu-gcc-12", "-mlittle-endian"], "powerpc64le-linux-gnu",
     "ppc64le"),
    (["ccache", "aarch64-linux-gnu-gcc"], "aarch64-linux-gnu", "arm64"),
    # word size and byte order choose among an architecture's targets
    (["x86_64-linux-gnu-gcc", "-m32"], "i386-linux-gnu", "i386"),
    (["gcc", "-I./arch/x86/include", "-m32"], "i386-linux-gnu", "i386"),
    (["gcc", "-I./arch/powerpc/include", "-mbig-endian", "-m64"], "powerpc64-linux-gnu",
     "ppc64"),
    (["gcc", "-I./arch/riscv/include", "-march=rv32imac_zicsr_zifencei", "-mabi=ilp32"],
     "riscv32-linux-gnu", "riscv32"),
    # a wrapper that is no cross compiler: the architecture directory decides
    (["mytoolchain-gcc", "-I./arch/arm64/include"], "aarch64-linux-gnu", "arm64"),
    # a cross compiler compdb.targets does not list: its triple, named by its cpu
    (["mips-linux-gnu-gcc", "-I./arch/mips/include"], "mips-linux-gnu", "mips"),
])
def test_target_from_the_compile_command(argv: list[str], target: str, name: str) -> None:
    args, _, arch = Sanitizer(load_config()).sanitize([*argv, "a.c"], "a.c", "/k")
    assert args[0] == f"--target={target}" and arch == name
    assert not any(a.startswith(("-target", "--target")) for a in args[1:])


@pytest.mark.parametrize("hints, target", [
    (["--arch=arm64", "-mlittle-endian", "-m64"], "aarch64-linux-gnu"),
    (["--arch=arm64", "-mbig-endian", "-m64"], "aarch64_be-linux-gnu"),
    (["--arch=riscv", "-mlittle-endian", "-m64"], "riscv64-linux-gnu"),
    (["--arch=powerpc", "-mlittle-endian", "-m64"], "powerpc64le-linux-gnu"),
    (["--arch=x86_64", "-m64"], "x86_64-linux-gnu"),   # ARCH=x86_64 is a name of x86's
    (["--arch=i386", "-m32"], "i386-linux-gnu"),
])
def test_target_from_kbuild_arch(hints: list[str], target: str) -> None:
    args, dropped, _ = Sanitizer(load_config()).sanitize(["-O2", "a.c"], "a.c", "/k",
                                                         hints=hints)
    assert args[0] == f"--target={target}"


def test_no_evidence_no_target() -> None:
    """A command that names neither a cross compiler nor an architecture (not a kernel
    build) is parsed for libclang's default target, as before."""
    args, _, arch = Sanitizer(load_config()).sanitize(["gcc", "-O2", "a.c"], "a.c", "/k")
    assert not any(a.startswith("--target") for a in args) and arch == "unknown"


def test_configured_target_wins(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("compdb:\n  target: riscv64-linux-gnu\n")
    sanitizer = Sanitizer(load_config(cfg))
    args, dropped, arch = sanitizer.sanitize(
        ["aarch64-linux-gnu-gcc", "--target=aarch64-linux-gnu", "-mabi=lp64", "a.c"], "a.c",
        "/k")
    assert args[0] == "--target=riscv64-linux-gnu" and arch == "riscv64"
    assert "--target=aarch64-linux-gnu" in dropped
    assert "-mabi=lp64" in args  # riscv's -mabi=lp64 is clang's too: not dropped


def test_target_needs_arch_and_name(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("compdb:\n  targets:\n    sparc64-linux-gnu: {bits: 64}\n")
    with pytest.raises(ConfigError, match=r"c.yaml:3: target 'sparc64-linux-gnu' needs arch "
                                          r"and name"):
        Sanitizer(load_config(cfg))


def test_powerpc_headers_are_told_the_compiler_is_clang() -> None:
    """A gcc-configured powerpc tree picks gcc-only asm constraints by CONFIG_CC_IS_GCC."""
    sanitizer = Sanitizer(load_config())
    ppc, _, _ = sanitizer.sanitize(["powerpc64le-linux-gnu-gcc", "a.c"], "a.c", "/k")
    arm, _, _ = sanitizer.sanitize(["aarch64-linux-gnu-gcc", "a.c"], "a.c", "/k")
    assert "-DCONFIG_CC_IS_CLANG" in ppc and "-DCONFIG_CC_IS_CLANG" not in arm


def test_per_arch_flags_follow_the_target() -> None:
    """-mabi=lp64 makes libclang refuse an AArch64 TU; on riscv it is clang's own flag."""
    sanitizer = Sanitizer(load_config())
    arm, _, _ = sanitizer.sanitize(["aarch64-linux-gnu-gcc", "-mabi=lp64", "a.c"], "a.c", "/k")
    riscv, _, _ = sanitizer.sanitize(["riscv64-linux-gnu-gcc", "-mabi=lp64", "a.c"], "a.c",
                                     "/k")
    assert "-mabi=lp64" not in arm and "-mabi=lp64" in riscv


def test_assembly_entries_are_skipped_with_one_notice(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    arm64 = BY_NAME["arm64"]
    tree = _db(tmp_path, [
        ("mm/sparse.c", _command(arm64)),
        ("arch/arm64/mm/proc.S", _command(arm64, "arch/arm64/mm/proc.S")),
        ("arch/arm64/mm/cache.S", _command(arm64, "arch/arm64/mm/cache.S")),
        ("arch/arm64/kernel/x.c", [*_command(arm64, "arch/arm64/kernel/x.c")[:-1], "-x",
                                   "assembler-with-cpp", "arch/arm64/kernel/x.c"]),
    ])
    db = open_compdb(tree, load_config())
    assert [Path(e.file).name for e in db.entries] == ["sparse.c"]
    assert db.not_c == 3
    (note,) = db.notes
    assert note.message.startswith("3 compile commands that are not C skipped (2 .S, 1 .c; "
                                   "first: arch/arm64/mm/proc.S)")
    # selecting only assembly says so
    assert main(["check", "-p", str(tree), "arch/arm64/mm/"]) == 2
    assert "no C compile command matches arch/arm64/mm/ (only 2 that are not C, which are " \
           "skipped)" in capsys.readouterr().err


def test_default_category_is_the_target(tmp_path: Path) -> None:
    tree = _db(tmp_path, [("mm/sparse.c", _command(BY_NAME["arm64"]))])
    out = tmp_path / "out.sarif"
    assert main(["check", "-p", str(tree), "--format", "sarif", "-o", str(out),
                 "--fail-on", "none"]) == 0
    run = json.loads(out.read_text())["runs"][0]
    assert run["automationDetails"]["id"] == "kmeminit/arm64/"
