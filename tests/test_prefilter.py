"""Whole-tree prefilter: relevant TUs by text, grown along the lexical call index to a
fixpoint, parsed in one batch, bounded, logged, same findings."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kmeminit.analyzer.compdb import open_compdb
from kmeminit.analyzer.config import Config, load_config
from kmeminit.analyzer.index import index_entries
from kmeminit.analyzer.lexindex import scan_text
from kmeminit.analyzer.prefilter import build_lexindex, config_symbols, prefilter_index
from kmeminit.analyzer.store import FactStore
from tests.helpers import EXAMPLE, compdb_for, lex_relations

SOURCES = {
    # mentions configured symbols (a pfn walker): relevant by text
    "walker.c": "#include <mm.h>\n"
                "int count_pages(unsigned long start, unsigned long end)\n{\n"
                "\tunsigned long pfn;\n\tint n = 0;\n\n"
                "\tfor (pfn = start; pfn < end; pfn++)\n"
                "\t\tif (pfn_valid(pfn))\n\t\t\tn += page_ok(pfn_to_page(pfn));\n"
                "\treturn n;\n}\n",
    # a callee the walker hands its struct page to (KMI003 reads through it): walkers
    "pageok.c": "#include <mm.h>\nint page_ok(struct page *page)\n{\n"
                "\treturn page_count(page) > 0;\n}\n",
    # the walker's caller, and its caller, an uncalled function: the chain that shows the
    # walker is neither boot-only nor hotplug-owned (walkers)
    "user.c": "int count_pages(unsigned long start, unsigned long end);\n"
              "int count_all(void)\n{\n\treturn count_pages(0, 100);\n}\n",
    "top.c": "int count_all(void);\nlong stats_read(void)\n{\n\treturn count_all();\n}\n",
    # callers of a function with an ordering event, up to the root (events)
    "hot.c": "#include <mm.h>\nint grow(int nid)\n{\n\treturn arch_add_memory(nid, 0, 0, 0);\n}\n",
    "grower.c": "int grow(int nid);\nint driver_grow(void)\n{\n\treturn grow(0);\n}\n",
    # relevant through a private header it includes with quotes
    "private.c": '#include "private.h"\nint p(void)\n{\n\treturn 0;\n}\n',
    "private.h": "#define MARK(page) SetPageReserved(page)\n",
    # unrelated; a mention only in an angle-bracket header does not count
    "other.c": "#include <mm.h>\nint other(void)\n{\n\treturn 1;\n}\n",
    "inc/mm.h": "struct page;\nint pfn_valid(unsigned long pfn);\nint page_count(struct page *p);\n"
                "struct page *pfn_to_page(unsigned long pfn);\n"
                "int page_ok(struct page *page);\n"
                "int arch_add_memory(int nid, unsigned long s, unsigned long n, void *p);\n",
}


def _tree(tmp_path: Path, sources: dict[str, str]) -> list:
    src = tmp_path / "src"
    for name, text in sources.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    db = compdb_for(sorted(src.glob("*.c")), src, tmp_path)
    raw = json.loads(db.read_text())
    for entry in raw:
        entry["arguments"].insert(1, f"-I{src / 'inc'}")
    db.write_text(json.dumps(raw))
    return open_compdb(db, load_config(), source_root=str(src)).entries


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, list]:
    return tmp_path, _tree(tmp_path, SOURCES)


def _run(entries: list, store: FactStore, config: Config) -> tuple[list[str], object, list]:
    batches: list[list[str]] = []
    logged: list[str] = []

    def index(batch: list) -> None:
        batches.append(sorted(Path(e.file).name for e in batch))
        index_entries(batch, store, config, jobs=2, timeout=60)

    kept, report = prefilter_index(entries, store, config, index, logged.append)
    return sorted(Path(e.file).name for e in kept), report, [batches, logged]


def test_relevant_by_text_then_grown_along_calls_in_one_batch(tree: tuple[Path, list]) -> None:
    tmp, entries = tree
    kept, report, (batches, logged) = _run(entries, FactStore(tmp / "facts.db"), load_config())
    assert kept == ["grower.c", "hot.c", "pageok.c", "private.c", "top.c", "user.c",
                    "walker.c"]  # not other.c
    assert batches == [kept]  # one parse batch, no rounds
    assert (report.total, report.initial, report.kept) == (8, 3, 7)
    assert report.added["events"] == 1  # grower.c
    assert report.added["walkers"] == 3  # pageok.c, user.c, top.c
    assert not report.bounded and report.levels >= 2
    assert "3 of 8 TUs mention configured symbols" in logged[-1]
    assert "+1 for events" in logged[-1] and "fixpoint" in logged[-1]


def test_growth_is_bounded(tree: tuple[Path, list]) -> None:
    tmp, entries = tree
    config = load_config()
    config.data["prefilter"]["max_rounds"] = 1
    kept, report, (_, logged) = _run(entries, FactStore(tmp / "facts.db"), config)
    assert "top.c" not in kept and "user.c" in kept
    assert report.bounded and "stopped at the bound of 1 call levels" in logged[-1]


def test_generic_dispatch_is_not_followed(tmp_path: Path) -> None:
    # online_pages() runs from an ops-table callback; with few implementations of that
    # field the caller through it is needed, with many (a driver-core `probe`) it is not
    callback = ("#include <mm.h>\nint my_probe(int nid)\n{\n"
                "\treturn arch_add_memory(nid, 0, 0, 0);\n}\n"
                "struct my_driver drv = {\n\t.probe = my_probe,\n};\n")
    core = "struct my_driver;\nint bus_probe(struct my_driver *d)\n{\n\treturn d->probe(0);\n}\n"
    others = {f"other{i}.c": f"int p{i}(int nid)\n{{\n\treturn 0;\n}}\n"
              f"struct my_driver d{i} = {{\n\t.probe = p{i},\n}};\n" for i in range(5)}
    sources = {"cb.c": callback, "core.c": core, "inc/mm.h": SOURCES["inc/mm.h"]}
    few = _tree(tmp_path / "few", sources)
    many = _tree(tmp_path / "many", sources | others)
    config = load_config()
    kept, _, _ = _run(few, FactStore(tmp_path / "few.db"), config)
    assert "core.c" in kept
    kept, _, _ = _run(many, FactStore(tmp_path / "many.db"), config)
    assert "core.c" not in kept


def test_services_are_leaves(tmp_path: Path) -> None:
    # kfree() is a service: that some kfree path may add memory does not make every
    # caller of kfree a caller of the hotplug event
    sources = {"slab.c": "#include <mm.h>\nvoid kfree(void *p)\n{\n"
                         "\tarch_add_memory(0, 0, 0, 0);\n}\n",
               "user.c": "void kfree(void *p);\nvoid drop(void *p)\n{\n\tkfree(p);\n}\n",
               "inc/mm.h": SOURCES["inc/mm.h"]}
    kept, _, _ = _run(_tree(tmp_path, sources), FactStore(tmp_path / "facts.db"), load_config())
    assert kept == ["slab.c"]


def test_lexical_scan_kernel_style() -> None:
    text = (b"/* static int not_me(void) { */\n"
            b"static int __init boot_setup(struct page *page,\n\t\tint n)\n{\n"
            b"\tms->section_mem_map |= SECTION_IS_ONLINE;\n"
            b"\tflags = SECTION_MARKED;\n"
            b"\treturn ops->page_free(page) + helper(\"call(\");\n}\n"
            b"#define WRAP(x) real_call(x)\n"
            b"struct ops o = {\n\t.page_free = boot_setup,\n};\n")
    lex = scan_text("/t/a.c", text)
    fn, macro = lex.functions
    assert (fn.name, fn.static, fn.init, fn.page_param) == ("boot_setup", True, True, True)
    assert fn.calls == {"helper"} and fn.fields_called == {"page_free"}
    assert "SECTION_IS_ONLINE" in fn.stores and "SECTION_MARKED" not in fn.stores
    assert (macro.name, macro.macro, macro.calls) == ("WRAP", True, {"real_call"})
    assert lex.fp_stores == (("page_free", "boot_setup"),)


def test_headers_join_the_call_relation(tree: tuple[Path, list]) -> None:
    _, entries = tree
    lex = build_lexindex(entries, load_config())
    assert any(path.endswith("inc/mm.h") for path in lex.files)
    assert lex.files_defining(["count_pages"]) == {e.file for e in entries
                                                   if e.file.endswith("walker.c")}


def test_symbols_come_from_config() -> None:
    symbols = config_symbols(load_config())
    assert {"pfn_valid", "memmap_init_zone", "PG_reserved", "vmem_altmap", "dev_pagemap",
            "memremap_pages"} <= symbols  # events with aliases, types, reserved bits
    assert not {"container_of", "set_bit", "struct"} & symbols


def test_same_findings_with_and_without_prefilter(tmp_path: Path) -> None:
    from kmeminit.analyzer.cli import main

    subprocess.run([sys.executable, str(EXAMPLE / "gen_compdb.py"), str(tmp_path)],
                   check=True, capture_output=True)
    prints = []
    for flag in ("--prefilter", "--no-prefilter"):
        out = tmp_path / f"{flag}.json"
        assert main(["check", "-p", str(tmp_path), "--source-root", str(EXAMPLE), flag,
                     "--store", str(tmp_path / f"{flag}.db"), "--format", "json", "-o",
                     str(out), "--fail-on", "none", "--no-progress", "-j", "2"]) == 0
        prints.append(sorted((f["fingerprint"], f["message"])
                             for f in json.loads(out.read_text())["findings"]))
    assert prints[0] and prints[0] == prints[1]


def test_function_pointer_variables_are_followed(tmp_path: Path) -> None:
    # generic_online_page() clears PG_reserved; online_pages_range() reaches it only through
    # the online_page_callback variable, and add_memory() (an entry) calls it
    sources = {"free.c": "#include <mm.h>\nvoid generic_online_page(struct page *page)\n{\n"
                         "\tClearPageReserved(page);\n}\n",
               "range.c": "struct page;\nvoid generic_online_page(struct page *page);\n"
                          "static void (*online_page_callback)(struct page *) = "
                          "generic_online_page;\n"
                          "void online_pages_range(struct page *page)\n{\n"
                          "\tonline_page_callback(page);\n}\n",
               "entry.c": "struct page;\nvoid online_pages_range(struct page *page);\n"
                          "int add_memory(struct page *page)\n{\n"
                          "\tonline_pages_range(page);\n\treturn 0;\n}\n",
               "inc/mm.h": SOURCES["inc/mm.h"] + "void ClearPageReserved(struct page *p);\n"}
    kept, report, _ = _run(_tree(tmp_path, sources), FactStore(tmp_path / "facts.db"),
                           load_config())
    assert kept == ["entry.c", "free.c", "range.c"]
    assert report.added["reserved"] == 1  # range.c; entry.c mentions add_memory


def test_scans_kept_in_the_store_choose_the_same_tus(tree: tuple[Path, list]) -> None:
    """The second run reads every scan from the store (vocabulary only) and must choose,
    grow and log exactly as the first, which scanned the files."""
    tmp, entries = tree
    store = FactStore(tmp / "facts.db")
    first = _run(entries, store, load_config())
    rows = store.db.execute("SELECT count(*) FROM lex_files").fetchone()[0]
    assert rows >= len(entries)
    second = _run(entries, store, load_config())
    assert second[0] == first[0] and second[1] == first[1]
    assert second[2][1] == first[2][1]  # the same log line
    assert store.db.execute("SELECT count(*) FROM lex_files").fetchone()[0] == rows


def _cycle_sources(length: int) -> dict[str, str]:
    """add_memory() → mark_range(), which sets PG_reserved, then add_memory() →
    online_range() → release_range(), which clears it; online_range() then calls into a
    cycle of `length` functions, one per TU, whose last calls online_range() again (a
    small copy of the strongly connected component that joins most of a full build's call
    graph), and last remap_range() → relink_range() → mark_range(), which sets the bit
    again: the net effect of both sites is "left reserved", through functions on no
    shortest chain from the entry point to a site."""
    decl = "struct page;\n"
    sources = {
        "entry.c": decl + "void online_range(struct page *page);\n"
                   "void mark_range(struct page *page);\n"
                   "int add_memory(struct page *page)\n{\n\tmark_range(page);\n"
                   "\tonline_range(page);\n\treturn 0;\n}\n",
        "mark.c": "#include <mm.h>\nvoid mark_range(struct page *page)\n{\n"
                  "\tSetPageReserved(page);\n}\n",
        "release.c": "#include <mm.h>\nvoid release_range(struct page *page)\n{\n"
                     "\tClearPageReserved(page);\n}\n",
        "online.c": decl + "void release_range(struct page *page);\n"
                    "void cycle0(struct page *page, int n);\n"
                    "void remap_range(struct page *page);\n"
                    "void online_range(struct page *page)\n{\n\trelease_range(page);\n"
                    "\tcycle0(page, 1);\n\tremap_range(page);\n}\n",
        "remap.c": decl + "void relink_range(struct page *page);\n"
                   "void remap_range(struct page *page)\n{\n\trelink_range(page);\n}\n",
        "relink.c": decl + "void mark_range(struct page *page);\n"
                    "void relink_range(struct page *page)\n{\n\tmark_range(page);\n}\n",
        "inc/mm.h": SOURCES["inc/mm.h"] + "void ClearPageReserved(struct page *p);\n",
    }
    for i in range(length):
        callee = f"cycle{i + 1}(page, n)" if i + 1 < length else "online_range(page)"
        proto = (f"void cycle{i + 1}(struct page *page, int n);\n" if i + 1 < length
                 else "void online_range(struct page *page);\n")
        sources[f"cycle{i}.c"] = (decl + proto + f"void cycle{i}(struct page *page, int n)\n"
                                  f"{{\n\tif (n)\n\t\t{callee};\n}}\n")
    return sources


def test_reserved_demand_is_the_shortest_chains_not_the_cycle(tmp_path: Path) -> None:
    # Every cycle function lies on a call path from add_memory() to the sites, so "every
    # function between an entry and a site" would parse all of them; KMI006/KMI007 need
    # only the shortest chains, and for the net effects a witness per transition from
    # the chains' callees (remap_range → relink_range → mark_range), and find exactly
    # what the whole run finds.
    from kmeminit.analyzer.cli import main

    entries = _tree(tmp_path, _cycle_sources(6))
    kept, report, _ = _run(entries, FactStore(tmp_path / "pre.db"), load_config())
    assert kept == ["entry.c", "mark.c", "online.c", "release.c", "relink.c", "remap.c"]
    assert report.added["reserved"] == 3  # online.c; remap.c, relink.c: the witness
    prints = []
    for flag in ("--prefilter", "--no-prefilter"):
        out = tmp_path / f"{flag}.json"
        main(["check", "-p", str(tmp_path), "--source-root", str(tmp_path / "src"), flag,
              "--store", str(tmp_path / f"{flag}.db"), "--format", "json", "-o", str(out),
              "--fail-on", "none", "--no-progress", "-j", "2"])
        prints.append(sorted((f["fingerprint"], f["message"], json.dumps(f["trace"]))
                             for f in json.loads(out.read_text())["findings"]
                             if f["rule"] in ("KMI006", "KMI007")))
    assert prints[0] == prints[1]
    notes = [m for _, m, _ in prints[0] if "reached from hotplug entry add_memory()" in m]
    assert len(notes) == 2 and all(m.endswith("net effect: left reserved") for m in notes)


def test_walker_demand_holds_every_caller_up_to_caller_levels(tmp_path: Path) -> None:
    """KMI003's caller guarantee asks every caller, `caller_levels` (2) up, whether it proves
    the range, and its finding names those that prove nothing: the prefilter parses them
    all, not only one chain to a root.  A function-like macro costs no level (after
    preprocessing its user calls the function directly)."""
    sources = dict(SOURCES)
    sources["inc/remap.h"] = "int count_pages(unsigned long start, unsigned long end);\n" \
                             "#define COUNT_RANGE(s, e) count_pages(s, e)\n"
    # a second caller, through the macro, and its own caller (level 2)
    sources["second.c"] = '#include <remap.h>\nint count_some(unsigned long s)\n{\n' \
                          '\treturn COUNT_RANGE(s, s + 8);\n}\n'
    sources["third.c"] = "int count_some(unsigned long s);\nint probe_some(void)\n{\n" \
                         "\treturn count_some(64);\n}\n"
    # level 3: not needed
    sources["fourth.c"] = "int probe_some(void);\nint far_away(void)\n{\n" \
                          "\treturn probe_some();\n}\n"
    config = load_config()
    kept, _, _ = _run(_tree(tmp_path, sources), FactStore(tmp_path / "facts.db"), config)
    assert {"second.c", "third.c"} <= set(kept) and "fourth.c" not in kept


def test_walker_demand_follows_a_page_through_a_wrapper_macro(tmp_path: Path) -> None:
    """A walker that hands its page to a macro wrapping a function (`__free_page(page)` is
    `__free_pages(page, 0)`) reads the page in that function: the prefilter parses the
    TU defining it although it mentions nothing configured, and the finding through it is
    the one a run over every TU gives."""
    from kmeminit.analyzer.cli import main

    sources = dict(SOURCES)
    sources["inc/mm.h"] += "int put_it(struct page *page, int order);\n" \
                           "#define release_page(page) put_it((page), 0)\n"
    sources["walker.c"] = sources["walker.c"].replace("page_ok(pfn_to_page(pfn))",
                                                      "release_page(pfn_to_page(pfn))")
    # reads the page, mentions nothing configured: parsed only for the walker's sake
    sources["putter.c"] = "#include <mm.h>\nint put_it(struct page *page, int order)\n{\n" \
                          "\treturn page_count(page) + order;\n}\n"
    config = load_config()
    entries = _tree(tmp_path, sources)
    kept, _, _ = _run(entries, FactStore(tmp_path / "facts.db"), config)
    assert "putter.c" in kept
    found = {}
    for flag in ("--no-prefilter", "--prefilter"):
        out = tmp_path / f"{flag}.json"
        main(["check", "-p", str(tmp_path), "--source-root", str(tmp_path / "src"), flag,
              "--store", str(tmp_path / f"{flag}.db"), "--format", "json", "-o", str(out),
              "--fail-on", "none", "--no-progress"])
        found[flag] = sorted(f["message"] for f in json.loads(out.read_text())["findings"]
                             if f["rule"] == "KMI003")
    assert found["--prefilter"] == found["--no-prefilter"]
    assert any("put_it()" in m for m in found["--prefilter"]), found


def test_a_stored_demand_is_reused_only_while_every_scan_is_unchanged(
        tree: tuple[Path, list], monkeypatch: pytest.MonkeyPatch) -> None:
    """The demand memo (analyzer/memo.py): the same choice as a fresh store after each
    edit, computed again exactly when an edit changed what the demand reads (the scans,
    and of those the answers it asked for: prefilter._carried)."""
    import kmeminit.analyzer.prefilter as prefilter

    tmp, entries = tree
    built: list[int] = []
    real = prefilter.build_lexindex
    monkeypatch.setattr(prefilter, "build_lexindex",
                        lambda *a, **k: built.append(1) or real(*a, **k))
    store = FactStore(tmp / "warm.db")
    src = tmp / "src"
    edits = [
        ("other.c", "/* a comment */\n", False),  # nothing the prefilter reads changed
        ("other.c", "\n\n", False),  # definitions moved: their lines are not read
        # other.c starts to hand a page to page_ok(): a walker's callee and caller change
        ("other.c", "int more(unsigned long pfn)\n{\n\treturn pfn_valid(pfn);\n}\n", True),
        # a header's scan changed, but not at anything the demand asked about (and a
        # header's mentions count for no TU): the demand is carried over
        ("inc/mm.h", "int page_zone(struct page *p);\n", False),
        # helpers the demand never reached: carried, in a TU it chose and in one it did not
        ("other.c", "static int helper(int x)\n{\n\treturn x + 1;\n}\n", False),
        ("user.c", "int spare(void)\n{\n\treturn 0;\n}\n", False),
        # a call to count_all(), which the walker's caller chain holds: computed again,
        # and other.c is now a caller two levels up from the walker
        ("grower.c", "int more_stats(void)\n{\n\treturn count_all();\n}\n", True),
        # a definition naming a configured event: it could be a seed
        ("other.c", "void memmap_init_range(int nid)\n{\n}\n", True),
        # a call to a function nothing defines yet: carried; then a header defines it,
        # naming pfn_to_page: a walker by its mentions (a seed, though it calls nothing
        # the demand asked about), whose caller in other.c the demand now holds
        ("other.c", "int use_peek(unsigned long p)\n{\n\treturn peek(p);\n}\n", False),
        ("inc/mm.h", "static inline long peek(unsigned long pfn)\n{\n"
                     "\treturn (long)pfn_to_page + pfn;\n}\n", True),
        # a call on the demand's paths (stats_read() is the root of the walker's caller
        # chain) to functions that reach nothing the demand walks: carried by the calls'
        # trace (analyzer/calltrace.py), and so is taking one of them out again
        ("top.c", ("return count_all();", "return count_all() + stats_flush(stats_reset());"),
         False),
        ("top.c", ("stats_flush(stats_reset())", "stats_flush(0)"), False),
        # a call that makes more_stats() (a root whose callers the walkers' chain asked
        # for) a caller of an event function: the events' callers grow by it, which the
        # trace can follow: updated, not computed again
        ("grower.c", ("return count_all();", "return count_all() + driver_grow();"), False,
         "updated"),
        # driver_grow() no longer calls grow(): it has one definition and calls no field,
        # grow() is called by name alone, so the index no longer has the call, and the
        # events' callers lose driver_grow() and more_stats(): updated too
        ("grower.c", ("return grow(0);", "return 0;"), False, "updated"),
        # a call that makes the walker's caller a caller of an event function: the
        # events' callers grow, computed again
        ("user.c", ("return count_pages(0, 100);", "return count_pages(0, 100) + grow(1);"),
         True),
    ]
    first = _run(entries, store, load_config())[0]
    assert built == [1] and _run(entries, store, load_config())[0] == first
    units_carried = 0
    assert built == [1]
    for number, (name, text, recomputed, *how) in enumerate(edits):
        path = src / name
        if isinstance(text, tuple):  # a change inside a definition
            assert text[0] in path.read_text()
            path.write_text(path.read_text().replace(*text))
        else:
            path.write_text(text + path.read_text() if text.startswith("\n") else
                            path.read_text() + text)
        built.clear()
        warm = _run(entries, store, load_config())[:2]
        assert bool(built) is recomputed, name
        cold = _run(entries, FactStore(tmp / f"cold{number}.db"), load_config())[:2]
        assert warm[0] == cold[0] and \
            dict(vars(warm[1]), carried=0, updated=False, units=None) == \
            dict(vars(cold[1]), carried=0, updated=False, units=None), name
        # each walker's own TUs as computed again, unless changed calls may have changed
        # them (then a rule kept walker by walker runs over its family's TUs for it)
        if warm[1].units is None:
            assert warm[1].carried, name
        else:
            assert warm[1].units.keys() == cold[1].units.keys(), name
            assert all(files is None or files == cold[1].units[n]
                       for n, files in warm[1].units.items()), (name, warm[1].units)
            units_carried += bool(warm[1].carried)
        assert warm[1].carried == (0 if recomputed or name == "other.c" and number < 2
                                   else 1), name
        assert warm[1].updated is (how == ["updated"]), name
    assert units_carried >= 3
    built.clear()
    _run(entries, store, load_config())
    assert not built
    config = load_config()
    config.data["prefilter"]["max_rounds"] = 1
    _run(entries, store, config)
    assert built  # another config: computed again


@pytest.mark.parametrize("junk", [{"keys": 5}, [1, 2], {"keys": "a\nb", "walks": [[1]]},
                                  {"keys": "", "walks": [], "whole": ["!!"], "nearest": [],
                                   "variables": [], "depth": 0}])
def test_a_damaged_trace_computes_the_demand_again(
        tree: tuple[Path, list], monkeypatch: pytest.MonkeyPatch, junk: object) -> None:
    """A call edit the trace would keep, over a damaged trace row: the demand is computed
    again (as a fresh store's), the row dropped, no traceback."""
    import kmeminit.analyzer.prefilter as prefilter

    tmp, entries = tree
    store = FactStore(tmp / "warm.db")
    _run(entries, store, load_config())
    for (key,) in store.db.execute("SELECT key FROM memos WHERE kind='demand-trace'"):
        store.put_memo("demand-trace", key, junk)
    built: list[int] = []
    real = prefilter.build_lexindex
    monkeypatch.setattr(prefilter, "build_lexindex",
                        lambda *a, **k: built.append(1) or real(*a, **k))
    top = tmp / "src" / "top.c"
    top.write_text(top.read_text().replace("return count_all();",
                                           "return count_all() + stats_flush(0);"))
    warm = _run(entries, store, load_config())[:2]
    assert built and warm[1].carried == 0
    cold = _run(entries, FactStore(tmp / "cold.db"), load_config())[:2]
    assert warm[0] == cold[0] and vars(warm[1]) == vars(cold[1])


def test_the_demand_key_from_recorded_signatures_is_the_key_of_every_file_read(
        tree: tuple[Path, list], monkeypatch: pytest.MonkeyPatch) -> None:
    """demand_key keeps the files it read, their stat signatures and include lines
    (analyzer/watch.py).  After each edit its key is the one a fresh store computes by
    reading every file, and it reads only what it must: nothing when nothing changed, the
    edited file when its include lines are unchanged (also saved by renaming), every file
    when an include line changed, a header appeared where an include was looked for, or a
    file was deleted."""
    import os

    import kmeminit.analyzer.prefilter as prefilter

    tmp, entries = tree
    src = tmp / "src"
    reads: list[str] = []
    real = prefilter._read
    monkeypatch.setattr(prefilter, "_read", lambda p: reads.append(p) or real(p))
    config = load_config()
    store = FactStore(tmp / "warm.db")

    def age() -> None:  # older than the racy window: signatures can be trusted
        for path in src.rglob("*"):
            os.utime(path, (path.stat().st_atime - 60, path.stat().st_mtime - 60))

    def key(at: FactStore) -> str:
        return prefilter.demand_key(entries, at, prefilter.StoredScans(at, config),
                                    config).key

    def warm_equals_cold(number: int) -> set[str]:
        reads.clear()
        warm = key(store)
        read = {Path(p).name for p in reads}
        assert warm == key(FactStore(tmp / f"cold{number}.db"))
        return read

    age()
    everything = warm_equals_cold(0)
    assert {"walker.c", "mm.h", "private.h"} <= everything
    assert warm_equals_cold(1) == set()  # nothing changed: nothing read

    other = src / "other.c"
    other.write_text(other.read_text() + "int more(void)\n{\n\treturn page_count(0);\n}\n")
    assert warm_equals_cold(2) == {"other.c"}  # read again until a full recording

    walker = src / "walker.c"  # saved as editors do: a new file renamed over the old one
    (src / "walker.c.swp").write_text(walker.read_text() + "/* saved */\n")
    os.replace(src / "walker.c.swp", walker)
    assert warm_equals_cold(3) == {"other.c", "walker.c"}

    other.write_text('#include "mm.h"\n' + other.read_text())  # an include line
    assert warm_equals_cold(4) == everything
    age()  # a new ctime: each file is read once more, then trusted
    warm_equals_cold(5)
    assert warm_equals_cold(6) == set()
    # a header where other.c's "mm.h" is looked for before the include path finds inc/mm.h
    (src / "mm.h").write_text("int SetPageReserved(void *page);\n")
    assert warm_equals_cold(7) >= everything
    (src / "pageok.c").unlink()
    assert warm_equals_cold(8) >= everything - {"pageok.c"}


def _example_entries(tmp_path: Path) -> list:
    subprocess.run([sys.executable, str(EXAMPLE / "gen_compdb.py"), str(tmp_path)],
                   check=True, capture_output=True)
    return open_compdb(tmp_path / "compile_commands.json", load_config(),
                       source_root=str(EXAMPLE)).entries


@pytest.mark.parametrize("which", ["small", "cycle", "walker-callers", "example"])
def test_each_rule_over_its_familys_tus_finds_what_it_finds_over_all(
        tmp_path: Path, which: str) -> None:
    """What lets a run take a rule's result from the store while its family's TUs are
    unchanged (analyzer/memo.py): each rule, over the program of the TUs of the families it
    names (`demand`) alone, yields exactly its findings over every chosen TU, code flows
    included."""
    from kmeminit.analyzer.model import to_json
    from kmeminit.analyzer.program import Program
    from kmeminit.analyzer.rules import build_rules

    walker_tree = dict(SOURCES, **{
        "second.c": "int count_pages(unsigned long s, unsigned long e);\n"
                    "int count_some(unsigned long s)\n{\n\treturn count_pages(s, s + 8);\n}\n",
        "third.c": "int count_some(unsigned long s);\nint probe_some(void)\n{\n"
                   "\treturn count_some(64);\n}\n"})
    entries = (_example_entries(tmp_path) if which == "example" else _tree(tmp_path, {
        "small": SOURCES, "cycle": _cycle_sources(4), "walker-callers": walker_tree}[which]))
    config = load_config()
    store = FactStore(tmp_path / "facts.db")
    kept, report, _ = _run(entries, store, config)
    files = [e.file for e in entries if Path(e.file).name in kept]
    checkers, _ = build_rules(None, config)
    whole = Program.from_store(store, files).apply_config(config)
    expected = {c.id: to_json(list(c.check(whole, config))) for c in checkers}
    assert any(expected.values())
    smaller = 0
    for checker in checkers:
        scope = set().union(*(report.scopes[f] for f in checker.demand))
        smaller += len(scope) < len(files)
        alone = Program.from_store(store, [f for f in files if f in scope])
        assert to_json(list(checker.check(alone.apply_config(config), config))) == \
            expected[checker.id], checker.id
    assert smaller or which == "example"


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_tree_the_prefilter_finds_nothing_in_is_an_incomplete_run_not_a_crash(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], jobs: str) -> None:
    """No TU mentions a configured symbol: the prefilter chooses none; the run says so
    in one line and exits 2 (nothing was analysed), without a traceback."""
    from kmeminit.analyzer.cli import main

    _tree(tmp_path, {"plain.c": "int twice(int x)\n{\n\treturn 2 * x;\n}\n"})
    code = main(["check", "-p", str(tmp_path), "--prefilter", "--no-progress", "-j", jobs,
                 "--store", str(tmp_path / "s.db"), "--source-root", str(tmp_path / "src")])
    err = capsys.readouterr().err
    assert code == 2
    assert "error: analysis incomplete: none of the 1 TUs mentions a configured symbol" \
        in err and "Traceback" not in err


def test_the_demand_keys_deferred_recording_is_written_by_a_command_that_runs_no_rule(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The recording of a file the demand's key read again waits for the rule workers
    (FactStore.defer); `kmeminit index` runs none, and still writes it before it ends:
    the next run reads nothing."""
    import os

    from kmeminit.analyzer import prefilter
    from kmeminit.analyzer.cli import main

    _tree(tmp_path, SOURCES)
    src = tmp_path / "src"
    for path in src.rglob("*"):  # written long ago: no signature is racy (watch.py)
        os.utime(path, ns=(1, 1))
    argv = ["index", "-p", str(tmp_path), "--prefilter", "--no-progress", "--store",
            str(tmp_path / "s.db"), "--source-root", str(src)]
    assert main(argv) == 0
    (src / "walker.c").write_text((src / "walker.c").read_text() + "\n/* edited */\n")
    os.utime(src / "walker.c", ns=(2, 2))
    read: list[str] = []
    real = prefilter._read
    monkeypatch.setattr(prefilter, "_read", lambda p: read.append(p) or real(p))
    assert main(argv) == 0
    assert [Path(p).name for p in read] == ["walker.c"]  # its signature changed
    read.clear()
    assert main(argv) == 0
    assert not read
    capsys.readouterr()


def test_the_index_from_the_demand_keys_rows_is_the_index_from_the_files(
        tree: tuple[Path, list], monkeypatch: pytest.MonkeyPatch) -> None:
    """`report` builds the lexical index from what the demand key found (each file's
    path, owner and content hash) and the stored scans, without reading a file or an
    include line again: the same index as reading them, also after an edit, and when a
    scan is missing it reads them."""
    from kmeminit.analyzer import prefilter
    tmp, entries = tree
    store, config = FactStore(tmp / "facts.db"), load_config()
    for edit in (False, True):
        if edit:  # read again through the recorded signatures: the new text's hash
            walker = next(Path(e.file) for e in entries if e.file.endswith("walker.c"))
            walker.write_text(walker.read_text() + "int extra(void)\n{\n\treturn 0;\n}\n")
        scans = prefilter.StoredScans(store, config)
        demand = prefilter.demand_key(entries, store, scans, config)
        scans.flush()
        assert (demand.previous is not None) == edit and bool(demand.changed) == edit
        expected = lex_relations(build_lexindex(entries, config, scans))
        with monkeypatch.context() as m:
            m.setattr(prefilter, "lexical_files", lambda *a, **k: pytest.fail("read"))
            assert lex_relations(build_lexindex(entries, config, scans, demand.files)) == \
                expected
        assert "extra" in expected["defs"] if edit else "extra" not in expected["defs"]
    # a scan no longer stored: the files are read (and that one scanned again, whole)
    store.db.execute("DELETE FROM lex_files WHERE path LIKE '%user.c'")
    read = []
    real = prefilter.lexical_files
    monkeypatch.setattr(prefilter, "lexical_files", lambda *a: read.append(1) or real(*a))
    again = lex_relations(build_lexindex(entries, config, prefilter.StoredScans(store, config),
                                      demand.files))
    assert read and all(again[r] == expected[r] for r in ("callers", "calls", "stored_by"))


def test_the_lexical_index_is_kept_until_a_worker_is_forked(tree: tuple[Path, list]) -> None:
    """Freeing a whole kernel's lexical index costs 0.2 s, which a command that forks
    nothing after the demand need not spend (it ends with os._exit); a parser or rule
    worker forked later must not inherit it."""
    from kmeminit.analyzer import families, program
    from kmeminit.analyzer.lexindex import LexIndex

    tmp, entries = tree
    store, config = FactStore(tmp / "facts.db"), load_config()
    _run(entries, store, config)

    def index(batch: list) -> None:
        index_entries(batch, store, config, jobs=2, timeout=60)

    prefilter_index(entries, store, config, index, lambda _: None, reuse=False)
    assert [type(x) for x in program._spared] == [LexIndex]  # nothing parsed: kept
    families._release_free_memory()  # as before rule workers are forked
    assert not program._spared
    prefilter_index(entries, store, config, index, lambda _: None, reuse=False)
    assert program._spared
    program.Program.from_store(store, [entries[0].file])  # a program loaded here
    assert not program._spared
    walker = next(Path(e.file) for e in entries if e.file.endswith("walker.c"))
    walker.write_text(walker.read_text() + "int more(void)\n{\n\treturn 2;\n}\n")
    prefilter_index(entries, store, config, index, lambda _: None, reuse=False)
    assert not program._spared  # freed before the parsers were forked
    # two demands in one process (diff's base and head): the first index is let go of,
    # its trace written, before the second is kept; the deferred writes hold neither
    def traces() -> int:
        return len(store.db.execute("SELECT key FROM memos WHERE kind='demand-trace'")
                   .fetchall())

    store.db.execute("DELETE FROM memos WHERE kind='demand-trace'")
    prefilter_index(entries, store, config, lambda _: None, lambda _: None, reuse=False,
                    defer=True)
    assert [type(x) for x in program._spared] == [LexIndex] and traces() == 0
    walker.write_text(walker.read_text() + "int most(void)\n{\n\treturn 3;\n}\n")
    prefilter_index(entries, store, config, lambda _: None, lambda _: None, reuse=False,
                    defer=True)
    assert [type(x) for x in program._spared] == [LexIndex] and traces() == 1
    store.run_deferred()
    assert traces() == 2
    program.release_spared()
    assert not program._spared and not program._last


@pytest.mark.parametrize("chosen_anyway", [False, True])
def test_a_conversion_hidden_in_a_helper_demands_its_callers_in_a_second_round(
        tmp_path: Path, chosen_anyway: bool) -> None:
    """A function that converts pfns only through a header helper (as `pfn_folio()` does)
    is not a lexical walker: its callers are not demanded before the rules have run.
    Here its only caller chain ends in an `__init` function, so it is boot-only and the
    whole run reports nothing; a run that did not parse that root would take the chain's
    top for an uncalled root and report the walk.  The rule's subjects that the lexical
    demand did not know are learned, the demand is computed again with them, and the
    findings equal the run over every TU; the next run knows them from the start, and a
    store that lost them learns them again from its stored results.  `chosen_anyway`: the
    root's TU is analysed for another rule family from the first round (it names a
    PG_reserved accessor), so only the walkers' TUs grow; the first round's result is not
    taken for the second's."""
    from kmeminit.analyzer import prefilter


    sources = dict(SOURCES)
    sources["inc/mm.h"] += ("static inline int pfn_count(unsigned long pfn)\n{\n"
                            "\treturn page_count(pfn_to_page(pfn));\n}\n"
                            "#define __init __attribute__((__section__(\".init.text\")))\n")
    # the helper's own caller, a root: the helper's shortest chain to a root
    sources["direct.c"] = "#include <mm.h>\nint one_pfn(void)\n{\n\treturn pfn_count(7);\n}\n"
    # the hidden walker (mentions pfn_valid: relevant by text), its caller, and an
    # __init root two levels above it that nothing configured names
    sources["hidden.c"] = ("#include <mm.h>\nint walk_hidden(unsigned long start, "
                           "unsigned long end)\n{\n\tunsigned long pfn;\n\tint n = 0;\n\n"
                           "\tfor (pfn = start; pfn < end; pfn++)\n"
                           "\t\tif (pfn_valid(pfn))\n\t\t\tn += pfn_count(pfn);\n"
                           "\treturn n;\n}\n")
    sources["middle.c"] = ("int walk_hidden(unsigned long start, unsigned long end);\n"
                           "int walk_middle(unsigned long s)\n{\n"
                           "\treturn walk_hidden(s, s + 64);\n}\n")
    sources["boot.c"] = ("#include <mm.h>\nint walk_middle(unsigned long s);\n"
                         "int __init boot_walk(void)\n{\n\treturn walk_middle(0);\n}\n")
    if chosen_anyway:
        sources["boot.c"] += ("void SetPageReserved(struct page *page);\n"
                              "void keep(struct page *page)\n{\n"
                              "\tSetPageReserved(page);\n}\n")
    _tree(tmp_path, sources)
    found, logs = {}, {}
    for run in ("--no-prefilter", "--prefilter", "again", "forgotten"):
        flag = "--no-prefilter" if run == "--no-prefilter" else "--prefilter"
        if run == "forgotten":  # the learned names lost: the stored results still tell
            store = FactStore(tmp_path / "--prefilter.db")
            store.forget_memo("pfn-walkers", prefilter._learned_key(load_config()))
            assert not prefilter.learned_walkers(store, load_config())
        out = tmp_path / f"{run}.json"
        done = subprocess.run(
            [sys.executable, "-m", "kmeminit.analyzer.cli", "check", "-p", str(tmp_path),
             "--source-root", str(tmp_path / "src"), flag, "--store",
             str(tmp_path / f"{flag}.db"), "--format", "json", "-o", str(out),
             "--fail-on", "none", "--no-progress"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        found[run] = sorted((f["rule"], f["message"]) for f in
                            json.loads(out.read_text())["findings"])
        logs[run] = done.stderr
    assert found["--prefilter"] == found["--no-prefilter"]
    assert any("walk_hidden" in m for _, m in found["--no-prefilter"]) is False
    # (one_pfn() converts through the helper too, a constant pfn: no caller changes that)
    assert "1 function converts pfns through a helper or macro (walk_hidden())" \
        in logs["--prefilter"], logs["--prefilter"]
    # the second round adds boot.c, or only to the walkers' TUs
    analysed = re.findall(r"(\d+) TUs analysed", logs["--prefilter"])
    assert len(analysed) == 2 and (analysed[0] == analysed[1]) is chosen_anyway, analysed
    # the store keeps what the rules found: the next run's demand holds the callers at once
    assert found["again"] == found["--no-prefilter"]
    assert "through a helper or macro" not in logs["again"]
    assert "the stored result" in logs["forgotten"] and \
        "1 function converts pfns" in logs["forgotten"], logs["forgotten"]
    assert found["forgotten"] == found["--no-prefilter"]


def test_findings_kept_walker_by_walker_equal_a_run_on_an_empty_store(tmp_path: Path) -> None:
    """KMI003 keeps its findings walker by walker (analyzer/memo.py Units): an edit of one
    walker's TU runs the rule over the TUs of the walkers that need it alone, and the
    output equals a run on an empty store, findings in their order.  A walker that an
    edit creates where no walker's TUs reach (behind a helper: the lexical index cannot
    see it) is found by the run, which then runs over the family's TUs, and the prefilter
    learns it."""
    sources = dict(SOURCES)
    sources["inc/mm.h"] += ("static inline int pfn_count(unsigned long pfn)\n{\n"
                            "\treturn page_count(pfn_to_page(pfn));\n}\n"
                            "#define pfn_pages(pfn) page_count(pfn_to_page(pfn))\n")
    # a second walker in a TU of its own, with its own caller
    sources["second.c"] = sources["walker.c"].replace("count_pages", "count_more")
    sources["more.c"] = ("int count_more(unsigned long start, unsigned long end);\n"
                         "long more_read(void)\n{\n\treturn count_more(0, 64);\n}\n")
    # mentions pfn_valid() (the walkers' family), but no walker needs it
    sources["spans.c"] = ("#include <mm.h>\nint span_ok(unsigned long pfn)\n{\n"
                          "\treturn pfn_valid(pfn);\n}\n")
    _tree(tmp_path, sources)
    src = tmp_path / "src"

    def check(store: str) -> tuple[list, str]:
        out = tmp_path / "out.json"
        done = subprocess.run(
            [sys.executable, "-m", "kmeminit.analyzer.cli", "check", "-p", str(tmp_path),
             "--source-root", str(src), "--prefilter", "--store", str(tmp_path / store),
             "--format", "json", "-o", str(out), "--fail-on", "none", "--no-progress",
             "-j", "1"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return json.loads(out.read_text())["findings"], done.stderr

    first, _ = check("warm.db")
    assert sum(f["rule"] == "KMI003" for f in first) == 2
    # one walker's TU: the other walker's finding comes from the store
    walker = src / "walker.c"
    walker.write_text(walker.read_text().replace("pfn < end", "pfn <= end"))
    warm, err = check("warm.db")
    # (the walkers: count_pages(), count_more() and the helper pfn_count())
    assert "KMI003 2 of 3 walkers from the store" in err, err
    assert warm == check("cold1.db")[0]
    # a walker behind a macro where no walker's TUs reach: the run over the TUs that
    # changed finds it, and the rule runs over its family's TUs
    spans = src / "spans.c"
    spans.write_text(spans.read_text() + (
        "int walk_spans(unsigned long start, unsigned long end)\n{\n\tunsigned long pfn;\n"
        "\tint n = 0;\n\n\tfor (pfn = start; pfn < end; pfn++)\n\t\tif (pfn_valid(pfn))\n"
        "\t\t\tn += pfn_pages(pfn);\n\treturn n;\n}\n"))
    warm, err = check("warm.db")
    assert "pfns through a helper or macro (walk_spans())" in err, err
    assert any(f["function"] == "walk_spans" for f in warm)
    assert warm == check("cold2.db")[0]


def test_a_named_walker_with_a_macro_in_another_arm_is_a_walker(tmp_path: Path) -> None:
    """`prefilter.walkers` (and the walkers a run learns) name functions: one that an
    #ifdef's other arm defines as a macro is still judged by KMI003 as the function, so
    the demand holds its callers and it has its own part (prefilter.walker_units)."""
    from kmeminit.analyzer import prefilter

    sources = dict(SOURCES)
    sources["inc/mm.h"] += "#ifdef NO_SUCH_OPTION\n#define walk_x(s, e) 0\n#else\n" \
                           "int walk_x(unsigned long s, unsigned long e);\n#endif\n"
    sources["x.c"] = ("#include <mm.h>\nint walk_x(unsigned long s, unsigned long e)\n{\n"
                      "\treturn (int)(e - s);\n}\n")
    sources["xcaller.c"] = ("#include <mm.h>\nint use_x(void)\n{\n"
                            "\treturn walk_x(0, 8);\n}\n")
    entries = _tree(tmp_path, sources)
    config = load_config()
    lex = build_lexindex(entries, config)
    assert "walk_x" not in prefilter.walkers(lex, config)
    config.data["prefilter"]["walkers"] = ["walk_x"]
    lex = build_lexindex(entries, config)
    assert "walk_x" in prefilter.walkers(lex, config)
    units = prefilter.walker_units(lex, config, {e.file for e in entries})
    assert {Path(f).name for f in units["walk_x"] or ()} >= {"x.c", "xcaller.c"}
