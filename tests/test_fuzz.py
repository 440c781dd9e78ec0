"""Fuzzing (issue #9): compile-database entries, config YAML and C functions through the
frontend and CFG builder.  Few examples in `make test`; `make fuzz` sets
KMEMINIT_FUZZ_EXAMPLES=2000.  Every input must end in a result or our own one-line error."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmeminit.analyzer.compdb import CompdbError, open_compdb
from kmeminit.analyzer.config import ConfigError, load_config
from kmeminit.analyzer.frontend import ParseTask, parse_tu
from kmeminit.analyzer.model import ENTRY_BLOCK, EXIT_BLOCK, Function

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("KMEMINIT_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 100,
                database=None,
                # tmp_path is shared by the examples of one test: each rewrites its file
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.function_scoped_fixture])
CONFIG = load_config()

# -- compile databases -----------------------------------------------------------------

_TEXT = st.lists(st.sampled_from([*"ab./-_ $;`'\"\\\udce9é\n", "..", "a.c", "-I"]),
                max_size=8).map("".join)
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | _TEXT,
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(_TEXT, inner, max_size=3), max_leaves=6)
_ENTRY = st.fixed_dictionaries({}, optional={
    "file": _TEXT | _JSON, "directory": _TEXT | st.just(".") | _JSON,
    "arguments": st.lists(_TEXT, max_size=4) | _JSON, "command": _TEXT | _JSON,
    "output": _TEXT})


@FUZZ
@given(entries=st.lists(_ENTRY | _JSON, max_size=5))
def test_compile_database_entries(entries: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "a.c").write_text("int a;\n")
        Path(tmp, "compile_commands.json").write_text(json.dumps(entries))
        try:
            db = open_compdb(Path(tmp), load_config())
        except CompdbError as exc:
            assert "\n" not in str(exc) and "compile_commands.json" in str(exc)
            return
        for entry in db.entries:
            assert os.path.isabs(entry.file) and os.path.isfile(entry.file)


# -- config YAML -----------------------------------------------------------------------

_KEYS = st.sampled_from(["compdb", "drop_flags", "drop_flags+", "index", "tu_timeout",
                         "frontend", "macros", "rules", "KMI001", "enabled", "level", "x"])
_SCALAR = st.sampled_from(["1", "-2.5", "true", "null", "'s'", "[a, b]", "{}", "&a x", "*a",
                           "!!python/object:os.system {}", "!!str 3", "[", "\t", "é", "|"])
_LINE = st.tuples(st.integers(0, 3), _KEYS | _SCALAR, st.sampled_from([": ", ":", " ", "- "]),
                  _SCALAR | st.just("")).map(lambda t: "  " * t[0] + t[1] + t[2] + t[3])


@FUZZ
@given(lines=st.lists(_LINE, max_size=8))
def test_config_yaml(lines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "k.yaml")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        try:
            load_config(path)
        except ConfigError as exc:
            assert str(exc).startswith(str(path)) and "\n" not in str(exc)


# -- C functions through the frontend and the CFG builder ---------------------------------

_COND = st.sampled_from(["x", "!x", "x > 3", "f(x)", "x && f(1)", "x || g()", "x ? f(2) : 0",
                         "(x & 1) == 0"])
_SIMPLE = st.sampled_from(["f(x);", "x++;", "g();", "x = x ? f(x) : g();", "return x;",
                           "break;", "continue;", "goto out;", ";", "if (f(0) && g()) g();"])


def _compound(stmts: list[str]) -> str:
    return "{ " + " ".join(stmts) + " }"


_STMT = st.recursive(_SIMPLE, lambda inner: st.one_of(
    st.builds(lambda c, a: f"if ({c}) {a}", _COND, inner),
    st.builds(lambda c, a, b: f"if ({c}) {a} else {b}", _COND, inner, inner),
    st.builds(lambda c, a: f"while ({c}) {a}", _COND, inner),
    st.builds(lambda a, c: f"do {a} while ({c});", inner, _COND),
    st.builds(lambda a: f"for (int i = 0; i < x; i++) {a}", inner),
    st.builds(lambda c, cs: "switch (" + c + ") { " + " ".join(
        f"case {i}: {s}" for i, s in enumerate(cs)) + " default: break; }", _COND,
        st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda n, a: f"l{n}: {a}", st.integers(0, 2), inner),
    st.lists(inner, max_size=4).map(_compound)), max_leaves=12)


def _well_formed(fn: Function) -> None:
    ids = [b.id for b in fn.blocks]
    assert ids == list(range(len(ids))) and len(ids) >= 2
    assert ids[ENTRY_BLOCK] == ENTRY_BLOCK and ids[EXIT_BLOCK] == EXIT_BLOCK
    assert not fn.blocks[EXIT_BLOCK].succs
    for block in fn.blocks:
        assert all(0 <= edge.target < len(ids) for edge in block.succs)


@FUZZ
@given(body=st.lists(_STMT, max_size=5))
def test_c_functions_parse_into_well_formed_cfgs(body: list[str], tmp_path: Path) -> None:
    labels = " ".join(f"l{n}: ;" for n in range(3))
    source = ("int f(int);\nint g(void);\nint fuzz(int x)\n{\n"
              + "\n".join(body) + f"\nout: {labels}\n\treturn x;\n}}\n")
    path = tmp_path / "fuzz.c"
    path.write_text(source)
    facts = parse_tu(ParseTask.for_config(CONFIG, str(path), ("-w",), str(tmp_path)))
    [fn] = [f for f in facts.functions if f.name == "fuzz"]
    _well_formed(fn)

