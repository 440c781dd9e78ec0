"""The libclang frontend on kernel-idiom fixtures: functions, values, stores, macros,
notifications, and a golden copy of the facts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.frontend import ParseTask, parse_tu
from kmeminit.analyzer.model import Function, Level, TUFacts, ValueKind, from_json, to_json

FIXTURES = Path(__file__).parent / "fixtures" / "frontend"
GOLDEN = Path(__file__).parent / "golden" / "facts_memhp.json"
ARGS = ("-std=gnu11",)
CONFIG = load_config()


def _parse_at(src: Path, args: tuple[str, ...] = ARGS, **kw: object) -> TUFacts:
    return parse_tu(ParseTask.for_config(CONFIG, str(src), args, str(src.parent), **kw))


def _parse(name: str, args: tuple[str, ...] = ARGS, **kw: object) -> TUFacts:
    return _parse_at(FIXTURES / name, args, **kw)


@pytest.fixture(scope="module")
def memhp() -> TUFacts:
    return _parse("memhp.c")


@pytest.fixture(scope="module")
def fns(memhp: TUFacts) -> dict[str, Function]:
    return {f.name: f for f in memhp.functions}


def test_functions_main_file_and_header_inline_once(memhp: TUFacts) -> None:
    names = [(f.name, f.from_header) for f in memhp.functions]
    assert ("vmem_altmap_offset", True) in names  # a header inline the TU calls
    assert not any(f.name == "pgmap_has_altmap" for f in memhp.functions)  # one it does not
    assert ("demo_add_pages", False) in names and ("demo_reserve", False) in names
    assert not any(f.name == "__add_pages" for f in memhp.functions)  # only declared
    header = frozenset(f.usr for f in memhp.functions if f.from_header)
    again = _parse("memhp.c", skip_usrs=header)
    assert not any(f.from_header for f in again.functions)
    assert [f.name for f in again.functions] == \
        [f.name for f in memhp.functions if not f.from_header]
    assert memhp.includes == (str(FIXTURES / "memhp.h"),)
    assert not memhp.notifications


def test_header_functions_walked_are_those_the_main_file_reaches(tmp_path: Path) -> None:
    """Called, stored in a table or handed on as a value, directly or through another
    header function; the rest of a header's inline functions are not walked (once per USR
    and run, skip_usrs, still holds for those that are)."""
    (tmp_path / "h.h").write_text(
        "static inline int leaf(int x) { return x + 1; }\n"
        "static inline int mid(int x) { return leaf(x); }\n"
        "static inline int stored(int x) { return x; }\n"
        "static inline int passed(int x) { return x; }\n"
        "static inline int unused(int x) { return leaf(x) + 2; }\n"
        "struct ops { int (*f)(int); };\n")
    (tmp_path / "t.c").write_text(
        '#include "h.h"\n'
        "static struct ops table = { .f = stored };\n"
        "int apply(int (*fn)(int), int x);\n"
        "int top(int x) { return mid(x) + apply(passed, x) + table.f(x); }\n")
    facts = _parse_at(tmp_path / "t.c")
    headers = sorted(f.name for f in facts.functions if f.from_header)
    assert headers == ["leaf", "mid", "passed", "stored"]
    # a function extracted earlier in the run came with what it reaches (mid with leaf)
    again = _parse_at(tmp_path / "t.c", skip_usrs=frozenset(
        f.usr for f in facts.functions if f.name in ("mid", "leaf", "stored")))
    assert sorted(f.name for f in again.functions if f.from_header) == ["passed"]


def test_function_attributes(fns: dict[str, Function]) -> None:
    add = fns["demo_add_pages"]
    assert add.sections == ("__meminit",)
    assert fns["demo_reserve"].sections == ("__init",)
    assert add.linkage == "external" and fns["demo_page_free"].linkage == "internal"
    assert add.return_type == "int" and add.line == 22 and add.end_line == 36
    assert add.file == str(FIXTURES / "memhp.c")
    inline = fns["vmem_altmap_offset"]
    assert inline.inline and inline.linkage == "internal"
    assert inline.file == str(FIXTURES / "memhp.h")


def test_params_and_records(fns: dict[str, Function]) -> None:
    params = fns["demo_add_pages"].params
    assert [p.name for p in params] == ["nid", "start_pfn", "nr_pages", "pgmap", "params"]
    assert params[0].record is None
    assert params[3].record == "struct dev_pagemap"
    assert params[4].type == "mhp_params_t *"
    assert params[4].record == "struct mhp_params"  # through the typedef


def test_direct_and_indirect_calls(fns: dict[str, Function]) -> None:
    add = fns["demo_add_pages"]
    first = add.calls[0]
    assert (first.callee, first.indirect) == ("__add_pages", False)
    assert first.callee_usr == "c:@F@__add_pages"
    assert first.location.line == 29 and first.text.startswith("__add_pages(nid")
    free = fns["demo_free_page"].calls
    assert (free[0].callee, free[0].indirect, free[0].record, free[0].field) == \
        ("page_free", True, "struct dev_pagemap_ops", "page_free")
    assert (free[1].callee, free[1].indirect, free[1].record) == ("free_fn", True, None)
    assert (free[2].callee, free[2].indirect) == ("free_fn", True)  # (*free_fn)(page)
    assert free[0].args[0].kind is ValueKind.PARAM and free[0].args[0].param == 0


def test_argument_values(fns: dict[str, Function]) -> None:
    calls = fns["demo_add_pages"].calls
    assert [c.callee for c in calls] == ["__add_pages", "memmap_init_range",
                                         "memmap_init_range", "pgmap_altmap",
                                         "memmap_init_range", "vmem_altmap_offset"]
    add_pages = calls[0].args
    assert [a.kind for a in add_pages] == [ValueKind.PARAM, ValueKind.PARAM,
                                           ValueKind.PARAM, ValueKind.ADDR_LOCAL]
    assert add_pages[3].name == "local" and add_pages[3].type == "struct mhp_params *"
    null = calls[1].args[4]
    assert null.kind is ValueKind.NULL and null.text == "NULL"
    assert calls[1].args[2].kind is ValueKind.LITERAL
    via_call = calls[2].args[4]
    assert (via_call.kind, via_call.name, via_call.usr) == \
        (ValueKind.CALL, "pgmap_altmap", "c:@F@pgmap_altmap")
    assert via_call.args[0].kind is ValueKind.PARAM and via_call.args[0].name == "pgmap"
    assert calls[4].args[4].kind is ValueKind.LOCAL and calls[4].args[4].name == "altmap"
    assert calls[4].args[3].kind is ValueKind.OTHER  # start_pfn + offset


def test_assigns_fields_and_designated_initialisers(fns: dict[str, Function]) -> None:
    assigns = fns["demo_add_pages"].assigns
    local_altmap, local_pgmap, altmap, ret = assigns[:4]
    assert (local_altmap.target.kind, local_altmap.target.record,
            local_altmap.target.field) == (ValueKind.FIELD, "struct mhp_params", "altmap")
    assert local_altmap.target.base.kind is ValueKind.LOCAL
    assert local_altmap.target.base.name == "local"
    value = local_altmap.value
    assert (value.kind, value.record, value.field, value.text) == \
        (ValueKind.ADDR_FIELD, "struct dev_pagemap", "altmap", "&pgmap->altmap")
    assert value.base.kind is ValueKind.PARAM and value.base.param == 3
    assert local_pgmap.value.kind is ValueKind.PARAM
    assert (altmap.target.kind, altmap.target.name) == (ValueKind.LOCAL, "altmap")
    assert (altmap.value.kind, altmap.value.record, altmap.value.field) == \
        (ValueKind.FIELD, "struct mhp_params", "altmap")
    assert altmap.value.base.param == 4
    assert ret.value.kind is ValueKind.CALL and ret.value.name == "__add_pages"
    # a field of an anonymous struct member belongs to the named record around it
    pgmap_read = fns["demo_free_page"].assigns[0].value
    assert (pgmap_read.record, pgmap_read.field) == ("struct page", "pgmap")


def test_returns(fns: dict[str, Function]) -> None:
    returns = fns["demo_add_pages"].returns
    assert [r.value.kind for r in returns] == [ValueKind.LOCAL, ValueKind.LITERAL]
    got = fns["demo_page_pgmap"].returns[0].value
    assert (got.kind, got.field, got.base.kind) == (ValueKind.FIELD, "pgmap",
                                                     ValueKind.LOCAL)


def test_function_pointer_stores(memhp: TUFacts) -> None:
    stores = {(s.record, s.field, s.target, s.function, s.location.line)
              for s in memhp.fp_stores}
    ops = "struct dev_pagemap_ops"
    assert stores == {
        (ops, "page_free", "demo_page_free", None, 16),
        (ops, "migrate_to_ram", "demo_migrate", None, 17),
        (ops, "page_free", "demo_page_free", None, 20),  # positional initialiser
        (ops, "migrate_to_ram", "demo_migrate", None, 20),
        (ops, "page_free", "demo_page_free", "demo_set_ops", 56),
        (ops, "migrate_to_ram", "demo_migrate", "demo_set_ops", 57),
    }
    assert all(s.target_usr and s.target_usr.endswith("@F@" + s.target)
               for s in memhp.fp_stores)


def test_macro_uses(fns: dict[str, Function]) -> None:
    uses = fns["demo_page_pgmap"].macros
    assert len(uses) == 1
    use = uses[0]
    assert use.name == "container_of" and use.args == ("lru", "struct page", "lru")
    assert use.arg_types[0] == "struct list_head *"
    assert use.location.line == 49 and use.text == "container_of(lru, struct page, lru)"
    # pfn_valid is a function in this fixture, and container_of under #ifdef is inactive
    reserve = fns["demo_reserve"].macros
    assert [(m.name, m.args) for m in reserve] == [("pfn_to_page", ("pfn",))]


def test_call_inside_macro_is_attributed(tmp_path: Path) -> None:
    src = tmp_path / "m.c"
    src.write_text("int __pfn_valid(unsigned long pfn);\n"
                   "#define pfn_valid(pfn) __pfn_valid(pfn)\n"
                   "int check(unsigned long pfn)\n{\n\treturn pfn_valid(pfn + 1);\n}\n")
    facts = _parse_at(src)
    fn = facts.functions[0]
    assert [(m.name, m.args) for m in fn.macros] == [("pfn_valid", ("pfn + 1",))]
    assert (fn.calls[0].callee, fn.calls[0].macro) == ("__pfn_valid", "pfn_valid")
    assert fn.calls[0].args[0].kind is ValueKind.OTHER


def test_syntax_error_still_yields_good_function() -> None:
    facts = _parse("bad_syntax.c")
    errors = [n for n in facts.notifications if n.level is Level.ERROR]
    assert errors and errors[0].file == str(FIXTURES / "bad_syntax.c")
    assert errors[0].line == 11
    good = next(f for f in facts.functions if f.name == "good_function")
    assert [c.callee for c in good.calls] == ["helper"]


def test_unknown_flag_is_a_note() -> None:
    facts = _parse("bad_syntax.c", ARGS + ("-mno-such-flag-for-kmeminit",))
    notes = [n for n in facts.notifications if n.level is Level.NOTE]
    assert any("-mno-such-flag-for-kmeminit" in n.message for n in notes)
    assert any(f.name == "good_function" for f in facts.functions)


def test_nonexistent_file_is_an_error_notification(tmp_path: Path) -> None:
    facts = _parse_at(tmp_path / "missing.c")
    assert facts.functions == ()
    assert [n.level for n in facts.notifications] == [Level.ERROR]


def test_missing_header_keeps_going(tmp_path: Path) -> None:
    src = tmp_path / "inc.c"
    src.write_text('#include "no_such_header.h"\nint ok(void)\n{\n\treturn 1;\n}\n')
    facts = _parse_at(src)
    assert any(n.level is Level.ERROR and "no_such_header.h" in n.message
               for n in facts.notifications)
    assert [f.name for f in facts.functions] == ["ok"]


def test_relative_include_paths_use_task_directory(tmp_path: Path) -> None:
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "h.h").write_text("static inline int h(void) { return 2; }\n")
    src = tmp_path / "r.c"
    src.write_text('#include <h.h>\nint r(void)\n{\n\treturn h();\n}\n')
    facts = _parse_at(src, ARGS + ("-Iinc",))
    assert not facts.notifications
    assert facts.includes == (str((tmp_path / "inc" / "h.h").resolve()),)
    assert {f.name for f in facts.functions} == {"h", "r"}


def test_facts_round_trip_through_json(memhp: TUFacts) -> None:
    assert from_json(TUFacts, json.loads(json.dumps(to_json(memhp)))) == memhp


def _relative(obj: object, root: str) -> object:
    if isinstance(obj, dict):
        return {k: _relative(v, root) for k, v in obj.items() if k != "parse_seconds"}
    if isinstance(obj, list):
        return [_relative(v, root) for v in obj]
    if isinstance(obj, str) and obj.startswith(root):
        return obj[len(root):]
    return obj


def test_golden_facts(memhp: TUFacts, update_golden: bool) -> None:
    got = _relative(to_json(memhp), str(FIXTURES) + "/")
    if update_golden:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    assert got == json.loads(GOLDEN.read_text()), "facts changed: review, then --update-golden"


def test_frontend_bug_costs_one_function(monkeypatch: pytest.MonkeyPatch) -> None:
    from kmeminit.analyzer.frontend.function import FunctionWalker

    real = FunctionWalker.expr

    def exploding(self: FunctionWalker, n: object) -> None:
        if self.name == "demo_free_page":  # mid-walk: the CFG and facts are half built
            raise RuntimeError("boom")
        real(self, n)

    monkeypatch.setattr(FunctionWalker, "expr", exploding)
    facts = _parse("memhp.c")
    assert "demo_free_page" not in {f.name for f in facts.functions}
    assert "demo_add_pages" in {f.name for f in facts.functions}
    assert [(n.level, n.line) for n in facts.notifications] == [(Level.ERROR, 38)]
    assert "RuntimeError: boom" in facts.notifications[0].message
