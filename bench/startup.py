#!/usr/bin/env python3
"""Start-up cost of the commands a kernel build runs once per TU, against a bare interpreter.

Usage: bench/startup.py [--tree KTREE] [--file mm/memremap.c] [--repeat 15]

Each command runs --repeat times in a fresh interpreter of this venv; the best wall time
(and the best CPU time, user + system: a proxy when others load the machine) is kept, as
noise only ever adds.  Rows, in ms over `python -c pass`:
  --version, rules           target <= +150 ms
  kmeminit-cc, cached TU     a TU whose facts and findings the store holds   <= +150 ms
  kmeminit-cc, skipped TU    a TU recorded by its lexical entry, unchanged
With --tree, the cached and skipped TUs are FILE and a TU of the tree that mentions no
configured symbol, run as kbuild runs them (from the tree, with a store in a temporary
directory); without it, two TUs of a small generated tree.  The commands run with
bytecode caching on, as an installed kmeminit does (PYTHONDONTWRITEBYTECODE is dropped:
compiling kmeminit's modules at every start would cost more than all the rest).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
KMEMINIT = str(BIN / "kmeminit")
CC = str(BIN / "kmeminit-cc")
# What kbuild passes before c_flags for x86_64: the sparse flags kmeminit-cc drops.
CHECKFLAGS = ["-D__linux__", "-Dlinux", "-D__STDC__", "-Dunix", "-D__unix__", "-Wbitwise",
              "-Wno-return-void", "-Wno-unknown-attribute", "--arch=x86", "-mlittle-endian",
              "-m64", "-D__x86_64__"]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def best(cmd: list[str], repeat: int, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> tuple[float, float]:
    """Best wall and best CPU (user + system) seconds of `repeat` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), _cpu()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, check=False)
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
        if proc.returncode not in (0, 1):
            sys.exit(f"bench: {' '.join(cmd[:3])}... failed:\n{proc.stderr[-2000:]}")
    return min(walls), min(cpus)


def kbuild_argv(entry: dict) -> list[str]:
    """kbuild's CHECK arguments for a compile database entry: CHECKFLAGS, c_flags, file."""
    import shlex

    args = entry.get("arguments") or shlex.split(entry["command"])
    c_flags, skip = [], False
    for arg in args[1:]:
        if skip:
            skip = False
        elif arg == "-o":
            skip = True
        elif arg != "-c" and arg != entry["file"] and not arg.endswith(".c"):
            c_flags.append(arg)
    return [*CHECKFLAGS, *c_flags, os.path.relpath(entry["file"], entry["directory"])]


def tree_tus(tree: Path, cached: str) -> tuple[Path, list[str], list[str]]:
    """(directory kbuild runs in, argv of the cached TU, argv of a skipped TU)."""
    from kmeminit.analyzer.compdb import open_compdb
    from kmeminit.analyzer.config import load_config
    from kmeminit.analyzer.prefilter import lexical_entry

    config = load_config()
    raw = {e["file"]: e for e in json.loads((tree / "compile_commands.json").read_text())}
    entries = open_compdb(tree, config).entries
    want = next(e for e in entries if e.file.endswith("/" + cached))
    skip = next(e for e in entries if e.file.endswith(".c") and
                not lexical_entry(e, config).relevant)
    by_real = {os.path.realpath(f): e for f, e in raw.items()}
    return (Path(want.directory), kbuild_argv(by_real[want.file]),
            kbuild_argv(by_real[skip.file]))


def small_tree(tmp: Path) -> tuple[Path, list[str], list[str]]:
    """A tree of two TUs: one that mentions a configured symbol, one that does not."""
    src = tmp / "src"
    src.mkdir()
    include = Path(__file__).resolve().parent.parent / "examples" / "minikernel" / "include"
    (src / "walker.c").write_text(
        "#include <linux/mm.h>\nint count(unsigned long start, unsigned long end)\n{\n"
        "\tunsigned long pfn;\n\tint n = 0;\n\n\tfor (pfn = start; pfn < end; pfn++)\n"
        "\t\tif (pfn_valid(pfn) && PageReserved(pfn_to_page(pfn)))\n\t\t\tn++;\n"
        "\treturn n;\n}\n")
    (src / "other.c").write_text("int other(int x)\n{\n\treturn x + 1;\n}\n")
    flags = ["-nostdinc", f"-I{include}", "-D__KERNEL__", "-Wp,-MMD,x.o.d"]
    return src, [*CHECKFLAGS, *flags, "walker.c"], [*CHECKFLAGS, *flags, "other.c"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path)
    ap.add_argument("--file", default="mm/memremap.c", help="the cached TU (with --tree)")
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="kmeminit-startup-") as tmp:
        cwd, cached, skipped = (tree_tus(args.tree.resolve(), args.file) if args.tree
                                else small_tree(Path(tmp)))
        env = dict(os.environ, KMEMINIT_STORE=str(Path(tmp) / "facts.db"))
        for argv in (cached, skipped):  # the first runs parse, scan and cache
            subprocess.run([CC, *argv], cwd=cwd, env=env, capture_output=True, check=True)
        subprocess.run([KMEMINIT, "rules"], capture_output=True, check=True)
        bare = best([sys.executable, "-c", "pass"], args.repeat)
        rows = [("kmeminit --version", best([KMEMINIT, "--version"], args.repeat)),
                ("kmeminit rules", best([KMEMINIT, "rules"], args.repeat)),
                ("kmeminit-cc, cached TU", best([CC, *cached], args.repeat, cwd, env)),
                ("kmeminit-cc, skipped TU", best([CC, *skipped], args.repeat, cwd, env))]
    print(f"start-up, best of {args.repeat} ({sys.executable}): python -c pass "
          f"{bare[0] * 1000:.0f} ms wall, {bare[1] * 1000:.0f} ms CPU")
    for name, (wall, cpu) in rows:
        over = (wall - bare[0]) * 1000
        print(f"  {name:26} {wall * 1000:5.0f} ms  +{over:4.0f} ms wall  "
              f"(+{(cpu - bare[1]) * 1000:4.0f} ms CPU)   target <= +150 ms  "
              f"{'ok' if over <= 150 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
