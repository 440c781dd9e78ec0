"""The lexical call index (analyzer/lexindex.py) against what its files contribute item by
item (`contribution`), on random scans: the same relations whatever order, owners and
repeats the files come in; and its shortcuts (the seed maps, levels without paths) against
the plain scans and walks they replace."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kmeminit.analyzer.lexindex import LexFile, LexFunction, LexIndex, contribution
from tests.helpers import lex_relations

NAMES = [f"f{i}" for i in range(8)]
WORDS = ["PG_reserved", "pfn_to_page", "vmem_altmap", "other"]
FIELDS = ["ops", "free"]
TUS = ["/t/a.c", "/t/b.c"]

words = st.frozensets(st.sampled_from(WORDS), max_size=2)
function = st.builds(
    LexFunction, st.sampled_from(NAMES), st.just(""), st.just(0), st.booleans(),
    st.booleans(), st.booleans(), words, st.frozensets(st.sampled_from(NAMES), max_size=3),
    st.frozensets(st.sampled_from(FIELDS), max_size=1), words, words, st.booleans())
scan = st.builds(
    LexFile, st.just(""), st.lists(function, max_size=4).map(tuple),
    st.frozensets(st.sampled_from(WORDS), max_size=2),
    st.lists(st.tuples(st.sampled_from(FIELDS), st.sampled_from(NAMES)), max_size=2).map(tuple),
    st.lists(st.tuples(st.sampled_from(["cb", "hook"]), st.sampled_from(NAMES)),
             max_size=1).map(tuple),
    st.frozensets(st.sampled_from(["cb", "hook"]), max_size=1))
# how a file is added: a TU's .c file (owner none); a header as a private header of a TU
# or as a header (the keys of a .c file's statics are its own, those of a header's
# functions their names)
as_header = st.one_of(st.tuples(st.sampled_from(TUS), st.just(False)), st.just((None, True)))
added = st.one_of(
    st.tuples(st.sampled_from(TUS), scan, st.just((None, False))),
    st.tuples(st.sampled_from(["/t/p.h", "/t/q.h"]), scan, as_header))


def _expected(adds: list[tuple[str, LexFile, str | None, bool]]) -> dict[str, object]:
    """The relations as the union of the files' items (the first add of a path keeps
    `files`; a function of a private header is owned by the first TU it came with)."""
    out: dict[str, dict] = {n: {} for n in (
        "callers", "calls", "field_callers", "fields_called", "stored_in", "field_targets",
        "held_in", "stored_by", "defined_in", "header_owner", "mentioned_in")}
    defs: dict[str, list[LexFunction]] = {}

    def put(relation: str, key: str, value: str) -> None:
        out[relation].setdefault(key, {}).setdefault(value)

    for path, lex, owner, header in adds:
        tu = owner or path
        for item in sorted(contribution(path, lex, owner, header), key=repr):
            kind, names = item.kind, item.names
            if kind == "def":
                assert item.fn is not None
                if item.fn not in defs.setdefault(names[0], []):
                    defs[names[0]].append(item.fn)
            elif kind == "call":
                put("callers", names[1], names[0])
                put("calls", names[0], names[1])
            elif kind == "field-call":
                put("field_callers", names[1][2:], names[0])
                put("fields_called", names[0], names[1][2:])
            elif kind == "store":
                put("stored_in", names[1], names[0][2:])
                put("field_targets", names[0][2:], names[1])
            elif kind == "held":
                put("held_in", names[0], names[1])
            elif kind == "stored-by":
                put("stored_by", names[0], tu)
            elif kind == "defined":
                put("defined_in", names[0], tu)
        if owner is not None and not header:
            for fn in lex.functions:
                out["header_owner"].setdefault(fn.name, owner)
        if not header:
            for name in lex.idents:
                put("mentioned_in", name, tu)
    result: dict[str, object] = {n: {k: set(v) for k, v in rel.items()}
                                 for n, rel in out.items() if n != "header_owner"}
    result["header_owner"] = out["header_owner"]
    result["defs"] = {k: set(v) for k, v in defs.items()}
    result["globals"] = set().union(*(lex.globals for _, lex, _, _ in adds))
    return result


@settings(max_examples=150, deadline=None)
@given(st.lists(added, max_size=7))
def test_the_index_is_the_union_of_its_files_contributions(
        files: list[tuple[str, LexFile, tuple[str | None, bool]]]) -> None:
    lex, adds, first = LexIndex(), [], {}
    for path, text_scan, (owner, header) in files:
        # a path has one text in a run: its first scan, however often it comes (and a
        # function its file's)
        scanned = first.setdefault(path, LexFile(
            path, tuple(fn._replace(file=path) for fn in text_scan.functions),
            *[getattr(text_scan, f) for f in ("idents", "fp_stores", "var_stores",
                                               "globals")]))
        lex.add_scan(path, scanned, owner, header)
        adds.append((path, scanned, owner, header))
    assert lex_relations(lex) == _expected(adds)


@settings(max_examples=150, deadline=None)
@given(st.lists(added, min_size=1, max_size=6),
       st.frozensets(st.sampled_from(WORDS)), st.frozensets(st.sampled_from(NAMES)),
       st.booleans())
def test_seed_maps_and_unordered_levels_answer_as_the_scans_and_walks(
        files: list[tuple[str, LexFile, tuple[str | None, bool]]], wanted: frozenset[str],
        names: frozenset[str], vocabulary: bool) -> None:
    # a vocabulary of some words and names: the maps hold those, a question beyond is
    # answered by a scan
    lex = LexIndex(vocabulary=frozenset(WORDS[:3] + NAMES[:4]) if vocabulary else None)
    for path, scanned, (owner, header) in files:
        lex.add_scan(path, scanned, owner, header)
    for attribute in ("mentions", "stores", "signature"):
        assert lex.defining(wanted, attribute) == {
            k for k, fns in lex.defs.items()
            if any(getattr(fn, attribute) & wanted for fn in fns)}
    assert lex.keys_named(names) == \
        {k for k in lex.defs if k.split("@", 1)[0] in names} | set(names)
    keys = sorted(lex.defs)[:2]
    for up in (False, True):
        for limit in (None, 1, 2):
            with_paths = lex.levels(keys, up=up, limit=limit)
            without = lex.levels(keys, up=up, limit=limit, paths=False)
            assert {k: level for k, (level, _) in with_paths.items()} == \
                {k: level for k, (level, _) in without.items()}
            for k, (_, before) in without.items():  # a key before it: one it steps to
                if before is not None:
                    step = lex.callers_of if up else lex.callees_of
                    assert k in step(before)


def test_a_macro_takes_a_page_when_the_function_it_wraps_does() -> None:
    """`#define release_page(page) put_it((page), 0)`: a page handed to the macro reaches
    put_it().  Asking it asks about the wrapped name as well (an edit that defines or
    changes put_it() then changes what the demand asked), and the trace's flags ask
    nothing."""
    index = LexIndex()
    index.add("inc/mm.h", b"#define release_page(page) put_it((page), 0)\n"
                          b"#define NOTHING(x) other(x)\n", header=True)
    index.queried = set()
    assert not index.page_param("release_page")  # put_it() is not defined yet
    assert "put_it" in index.queried
    index.add("put.c", b"int put_it(struct page *page, int order)\n{\n"
                       b"\treturn order;\n}\n")
    index.queried = set()
    assert index.page_param("release_page") and index.takes_page("release_page")
    assert not index.page_param("NOTHING") and "other" in index.queried
    index.queried = set()
    assert index.takes_page("release_page") and not index.queried
    assert index.page_param("put_it") and not index.page_param("other")
