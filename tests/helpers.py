"""Build a program model from C files, for tests."""

from __future__ import annotations

import json
from pathlib import Path

from kmeminit.analyzer.compdb import open_compdb
from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.index import index_entries
from kmeminit.analyzer.lexindex import LexIndex
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.store import FactStore

KERNEL_INCLUDE = Path(__file__).resolve().parent.parent / "examples" / "minikernel" / "include"


def compdb_for(sources: list[Path], directory: Path, out: Path) -> Path:
    """A compile_commands.json in `out` for `sources` compiled in `directory`, with the
    minikernel's kernel-idiom headers on the include path after the directory itself."""
    entries = [{"directory": str(directory), "file": str(src),
                "arguments": ["gcc", "-nostdinc", f"-I{directory}", f"-I{KERNEL_INCLUDE}",
                              "-D__KERNEL__", "-c", str(src)]}
               for src in sources]
    path = out / "compile_commands.json"
    path.write_text(json.dumps(entries, indent=1))
    return path


def build_program(sources: list[Path], tmp_path: Path) -> Program:
    directory = sources[0].parent
    return index_program(compdb_for(sources, directory, tmp_path), directory, tmp_path)


def index_program(compdb: Path, source_root: Path, tmp_path: Path) -> Program:
    """Index every entry of `compdb` into a store in `tmp_path` and load the program."""
    config = load_config()
    entries = open_compdb(compdb, config, source_root=str(source_root)).entries
    store = FactStore(tmp_path / "facts.db")
    stats = index_entries(entries, store, config, jobs=2, timeout=60)
    # a fixture that does not compile would hide the functions it means to test
    assert stats.clean, stats.problems
    return Program.from_store(store, [e.file for e in entries])


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "minikernel"


def example_compdb(out: Path) -> Path:
    """The example tree's compile_commands.json, generated into `out` (a clean clone has
    none in the tree); returns `out`."""
    import subprocess
    import sys

    subprocess.run([sys.executable, str(EXAMPLE / "gen_compdb.py"), str(out)],
                   check=True, capture_output=True)
    return out


def build_example(tmp_path: Path) -> Program:
    """The example tree's program, indexed into a store in `tmp_path`."""
    return index_program(example_compdb(tmp_path), EXAMPLE, tmp_path)


def install_test_plugin(root: Path, module_source: str, entry: str) -> Path:
    """A checker plugin as pip would leave it: a module plus a .dist-info with a
    `kmeminit.checkers` entry point, in `root` (put `root` on sys.path to use it)."""
    root.mkdir(parents=True, exist_ok=True)
    name = entry.split("=", 1)[1].strip().split(":")[0]
    (root / f"{name}.py").write_text(module_source)
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[kmeminit.checkers]\n{entry}\n")
    return root


# A plugin rule for tests: TEST001 flags every function named under rules.TEST001.functions.
NAMED_PLUGIN = '''\
"""{doc}"""
from kmeminit.analyzer.model import Level, Location
from kmeminit.analyzer.results import Finding


class NamedChecker:
    id = "TEST001"
    name = "named-functions"
    level = Level.WARNING
    precision = "high"
    tags = ("test",)
    short = "Flags the functions named in config."
    full = "One finding per function listed under rules.TEST001.functions."
    config_keys = ("functions",)

    def check(self, program, config):
        for name in config.get("rules", "TEST001", "functions", default=[]):
            for fn in program.named(name):
                yield Finding.make(self.id, self.level, "{{fn}} is named",
                                   Location(fn.file, fn.line, 1), fn.name, fn=fn.name)
'''


def named_checker_config(tmp_path: Path, monkeypatch, functions: list[str]) -> Path:
    """Install the TEST001 plugin (on sys.path for this test) and return a config that asks
    it to flag `functions`."""
    from sarif_fixtures import DOC

    monkeypatch.syspath_prepend(str(install_test_plugin(
        tmp_path / "plugin", NAMED_PLUGIN.format(doc=DOC),
        "named = test_rules_pkg:NamedChecker")))
    cfg = tmp_path / "k.yaml"
    cfg.write_text(f"rules:\n  TEST001:\n    functions: [{', '.join(functions)}]\n")
    return cfg


def lex_relations(lex: LexIndex) -> dict[str, object]:
    """A lexical index's relations as plain sets (empty entries left out): what two
    indexes built from the same files must agree on."""
    out: dict[str, object] = {n: {k: set(v) for k, v in getattr(lex, n).items() if v}
                              for n in ("callers", "calls", "field_callers", "fields_called",
                                        "stored_in", "field_targets", "held_in", "stored_by",
                                        "defined_in", "mentioned_in")}
    out["header_owner"] = dict(lex.header_owner)
    out["defs"] = {k: set(v) for k, v in lex.defs.items() if v}
    out["globals"] = set(lex.globals)
    return out
