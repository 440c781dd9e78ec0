#!/usr/bin/env python3
"""Write compile_commands.json for the minikernel example tree.

The entries look like the ones scripts/clang-tools/gen_compile_commands.py extracts from a
real kernel build made with gcc: relative include paths resolved against `directory`, a
dependency-file option, -Werror and a few gcc-only flags that libclang rejects.  Those are
there on purpose: kmeminit must drop them, as it must for a real tree.

Usage: python3 examples/minikernel/gen_compdb.py [OUTDIR]
(OUTDIR defaults to the minikernel directory.)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent

# gcc-only flags a kernel build passes and clang does not understand
GCC_ONLY_FLAGS = [
    "-fconserve-stack",
    "-mindirect-branch=thunk-extern",
    "-mindirect-branch-register",
    "-mpreferred-stack-boundary=3",
    "-fno-allow-store-data-races",
    "-falign-jumps=1",
    "-Wno-maybe-uninitialized",
    "-Wimplicit-fallthrough=5",
]


def source_files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*.c"))


def entry(root: Path, rel: Path) -> dict[str, object]:
    obj = rel.with_suffix(".o")
    dep = rel.parent / f".{obj.name}.d"
    basename = rel.stem.replace("-", "_")
    arguments = [
        "x86_64-linux-gnu-gcc",  # the host compiler, by its Debian name
        f"-Wp,-MMD,{dep}",
        "-nostdinc",
        "-I./include",
        "-D__KERNEL__",
        "-std=gnu11",
        "-Wall",
        "-Werror",
        "-O2",
        *GCC_ONLY_FLAGS,
        f'-DKBUILD_BASENAME="{basename}"',
        f'-DKBUILD_MODNAME="{basename}"',
        "-c",
        "-o",
        str(obj),
        str(rel),
    ]
    return {"directory": str(root), "file": str(root / rel), "arguments": arguments,
            "output": str(root / obj)}


def main(argv: list[str]) -> int:
    if len(argv) > 2:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    outdir = Path(argv[1]).resolve() if len(argv) == 2 else ROOT
    outdir.mkdir(parents=True, exist_ok=True)
    entries = [entry(ROOT, rel) for rel in source_files(ROOT)]
    out = outdir / "compile_commands.json"
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    print(f"wrote {out} ({len(entries)} entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
