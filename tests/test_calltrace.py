"""The calls' trace of the prefilter's demand (analyzer/calltrace.py): whenever it says a
change of calls keeps what the demand read of its walks, reading them again over the
changed index gives the same, and it does say so for changes that leave the walks alone."""

from __future__ import annotations

import random
from array import array
from typing import Any

from kmeminit.analyzer.calltrace import CallTrace, StoredTrace, _unb64
from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.lexindex import LexFile, LexFunction, LexIndex

SLACK = 1


def _index(calls: dict[str, set[str]]) -> LexIndex:
    fns = tuple(LexFunction(k, "a.c", 0, False, False, False, frozenset(), frozenset(c),
                            frozenset(), frozenset()) for k, c in sorted(calls.items()))
    lex = LexIndex()
    lex.add_scan("a.c", LexFile("a.c", fns, frozenset(), ()))
    lex.max_levels = 64
    return lex


def _encode(lex: LexIndex) -> dict[str, Any]:
    assert lex.trace is not None
    from kmeminit.analyzer.prefilter import key_flags

    data = lex.trace.encode(lex.answers(), lex.files_of, sorted(lex.files), key_flags(lex))
    assert data is not None
    return data


def _read(lex: LexIndex, entries: list[str], holders: list[str]) -> Any:
    """What prefilter.lexical_demand reads of walks, in each of the ways it reads them."""
    down = {e: lex.levels([e], paths=False, use=f"entry:{e}") for e in entries}
    up = {h: lex.levels([h], up=True, paths=False, use=f"holder:{h}") for h in holders}
    chains = {(e, h): frozenset(k for k in down[e] if k in up[h] and
                                down[e][k][0] + up[h][k][0] <= down[e][h][0] + SLACK)
              for e in entries for h in holders if h in down[e]}
    ordered = lex.levels(holders, up=True)
    sets = (frozenset(lex.up(entries[:1])), frozenset(lex.down(holders[:1])))
    near = {k: lex.nearest_callee(k, ordered) for k in sorted(lex.defs)}
    root = lex.path_to_root(holders[-1], lambda k: k == entries[-1])
    limited = frozenset(lex.levels(entries[-1:], up=True, limit=2, paths=False))
    callers = lex.callers_of(entries[0])
    return chains, ordered, sets, near, root, limited, callers, lex.deepest, lex.bounded


def _graph(rng: random.Random) -> dict[str, set[str]]:
    keys = [f"f{i}" for i in range(rng.randrange(6, 16))]
    density = rng.choice([0.08, 0.15, 0.3])
    return {k: {c for c in keys if c != k and rng.random() < density} for k in keys}


def test_a_kept_change_reads_the_same_and_both_answers_occur() -> None:
    rng = random.Random(7)
    kept = changed = 0
    for _ in range(3000):
        calls = _graph(rng)
        keys = sorted(calls)
        entries, holders = rng.sample(keys, 2), rng.sample(keys, 3)
        lex = _index(calls)
        lex.trace = CallTrace()
        before = _read(lex, entries, holders)
        trace = StoredTrace(_encode(lex))
        pairs = [(a, b) for a in keys for b in keys if a != b]
        added = {p for p in rng.sample(pairs, rng.randrange(1, 3)) if p[1] not in calls[p[0]]}
        present = [(a, b) for a in keys for b in calls[a]]
        removed = set(rng.sample(present, min(len(present), rng.randrange(0, 2))))
        if not trace.keeps(added, removed, SLACK):
            changed += 1
            continue
        kept += 1
        after = {k: set(c) for k, c in calls.items()}
        for a, b in added:
            after[a].add(b)
        for a, b in removed:
            after[a].discard(b)
        assert _read(_index(after), entries, holders) == before, (calls, added, removed)
    assert kept > 150 and changed > 150, (kept, changed)


def test_the_trace_survives_its_encoding() -> None:
    lex = _index({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a"}})
    lex.trace = CallTrace()
    lex.levels(["a"], paths=False, use="entry:a")
    lex.levels(["c"], up=True, paths=False, use="holder:c")
    stored = StoredTrace(_encode(lex))
    assert stored.keys == ["a", "b", "c", "d"]
    assert [stored.level(stored.walks[0], k) for k in "abcd"] == [0, 1, 2, None]
    assert [stored.level(stored.walks[1], k) for k in "abcd"] == [2, 1, 0, 3]
    assert stored.keeps({("a", "c")}, set(), SLACK) is False  # a shorter chain a → c
    # d's chain to the holder shortens: the holder walk, the deepest, may be shallower
    assert stored.keeps({("d", "b")}, set(), SLACK) is False
    assert stored.keeps({("d", "e")}, set(), SLACK) is True  # no walk steps from d to e
    assert stored.keeps({("e", "d")}, set(), SLACK) is False  # the holder walk gains e
    assert stored.keeps(set(), {("d", "a")}, SLACK) is False  # the holder walk's step


def test_a_sorted_walk_keeps_its_predecessors() -> None:
    """Along callers from h: b and c at level 1, y (calling c) at level 2 after c.  A call
    y → b leaves every level as it is, but b comes before c: y's predecessor would be b."""
    calls = {"b": {"h"}, "c": {"h"}, "y": {"c"}, "h": set()}
    for paths in (True, False):
        lex = _index(calls)
        lex.trace = CallTrace()
        before = lex.levels(["h"], up=True, paths=paths, use="levels")
        assert before["y"] == (2, "c")
        stored = StoredTrace(_encode(lex))
        assert stored.keeps({("y", "b")}, set(), SLACK) is not paths
    after = _index(calls | {"y": {"b", "c"}}).levels(["h"], up=True)
    assert after["y"] == (2, "b")


def test_a_call_through_a_variable_the_walks_resolved_is_a_change() -> None:
    """`cb = target;` at file scope: whoever calls cb calls target.  The walk along
    target's callers met cb's callers; a new call of cb gives target one more."""
    fns = tuple(LexFunction(name, "v.c", 0, False, False, False, frozenset(), frozenset(c),
                            frozenset(), frozenset())
                for name, c in (("target", set()), ("user", {"cb"}), ("other", set())))
    lex = LexIndex()
    lex.add_scan("v.c", LexFile("v.c", fns, frozenset(), (), (("cb", "target"),),
                                frozenset({"cb"})))
    lex.trace = CallTrace()
    assert set(lex.levels(["target"], up=True, paths=False, use="set")) == {"target", "user"}
    stored = StoredTrace(_encode(lex))
    assert stored.keeps({("other", "cb")}, set(), SLACK) is False
    assert stored.keeps({("other", "user")}, set(), SLACK) is False  # a new caller
    assert stored.keeps({("user", "other")}, set(), SLACK) is True


def _kernel_like(rng: random.Random) -> dict[str, set[str]]:
    """Calls between two entry points and a dozen functions, some calling the PG_reserved
    accessors, an event function or a pfn converter (the default config's names)."""
    names = ["add_memory", "__remove_memory"] + [f"g{i}" for i in range(rng.randrange(8, 16))]
    density = rng.choice([0.1, 0.18])
    calls = {k: {c for c in names if c != k and rng.random() < density} for k in names}
    for entry in names[:2]:  # entry points reach most of it
        calls[entry] |= set(rng.sample(names[2:], 3))
    for k in names[2:]:
        extra = rng.choice(["SetPageReserved", "ClearPageReserved", "PageReserved",
                            "__add_pages", "pfn_to_page", None, None, None])
        if extra:
            calls[k].add(extra)
    return calls


def _file_of(name: str, statics: dict[str, str] | None) -> str:
    """The file defining a function of `_demand`'s model."""
    return f"/src/{(statics or {}).get(name, name)}.c"


def _demand(calls: dict[str, set[str]], twins: dict[str, set[str]] | None = None,
            stored: set[str] | frozenset[str] = frozenset(),
            field_callers: set[str] | frozenset[str] = frozenset(),
            held: set[str] | frozenset[str] = frozenset(),
            statics: dict[str, str] | None = None,
            arms: dict[str, set[str]] | None = None
            ) -> tuple[dict[str, Any], LexIndex]:
    """The demand over these calls (each function defined in its own file), and its
    index.  `twins`: functions with a second definition in another file, making those
    calls; `stored`: functions stored into the struct field `op` (in /src/ops.c), which
    the `field_callers` call through; `held`: functions the file-scope variable `cb`
    holds (in /src/ops.c), which the functions calling `cb` call; `statics`: functions
    defined `static` in the file of another (helper → host: the host's file names it
    `helper@file`); `arms`: functions with a second definition in their own file (an
    #ifdef's other arm), making those calls."""
    from kmeminit.analyzer import prefilter
    from kmeminit.analyzer.compdb import CompileEntry

    config = load_config()
    lex = LexIndex(leaves=frozenset(config.names(config.get("services", default=[]))),
                   vocabulary=prefilter.vocabulary(config))
    assert lex.vocabulary is not None
    files = []
    by_file: dict[str, list[LexFunction]] = {}
    for path, name, called in sorted([(_file_of(n, statics), n, c) for n, c in calls.items()]
                                     + [(f"/src/{n}.c", n, c)
                                        for n, c in (arms or {}).items()]
                                     + [(f"/src/twin_{n}.c", n, c)
                                        for n, c in (twins or {}).items()]):
        words = frozenset(called) & lex.vocabulary  # as a stored scan keeps them
        # some take a struct page (the walkers' callees they hand one to), two are
        # __init (the walkers' caller chains stop at them)
        page = "pfn_to_page" in called or name[-1:] in ("1", "4", "7")
        by_file.setdefault(path, []).append(LexFunction(
            name, path, 0, name in (statics or {}), name in ("g2", "g9"), page, frozenset(),
            frozenset(called), frozenset({"op"}) if name in field_callers else frozenset(),
            words))
    for path, fns in sorted(by_file.items()):
        words = frozenset().union(*(fn.mentions for fn in fns))
        lex.add_scan(path, LexFile(path, tuple(fns), words, ()))
        files.append(path)
    if stored or held:
        lex.add_scan("/src/ops.c", LexFile("/src/ops.c", (), frozenset(),
                                           tuple(("op", n) for n in sorted(stored)),
                                           tuple(("cb", n) for n in sorted(held)),
                                           frozenset({"cb"})))
        files.append("/src/ops.c")
    entries = [CompileEntry(path, "/src", (), (), (), "x86_64") for path in sorted(files)]
    lex.queried, lex.trace = set(), CallTrace()
    report = prefilter.PrefilterReport(len(entries))
    chosen = prefilter._demand(entries, lex, config, report)
    return prefilter._stored_demand(chosen, report), lex


def _units_check(before: dict[str, Any], after: dict[str, Any], trace: StoredTrace,
                 calls: set[tuple[str, str]], truth: dict[str, Any]) -> Any:
    """The walker units `prefilter._carried` gives row `after` (from `before`'s, over the
    changed calls' ends): each walker's as computed afresh (`truth`), or None."""
    from kmeminit.analyzer import prefilter

    units = prefilter._units_after_calls(before, after,
                                         trace.tus_of(set().union(*calls)))
    if units is not None:
        assert units.keys() == truth["units"].keys()
        chosen, fresh = after["chosen"], truth["chosen"]
        for name, indices in units.items():
            if indices is not None:
                assert [chosen[i] for i in indices] == \
                    [fresh[i] for i in truth["units"][name]], name
                _UNITS_KEPT.append(name)
    return units


_UNITS_KEPT: list[str] = []


def _row(row: dict[str, Any]) -> dict[str, Any]:
    """A demand row without each walker's own TUs: a demand updated or carried over
    changed calls does not know them (tests/test_prefilter.py checks them)."""
    return {k: v for k, v in row.items() if k != "units"}


def _meaning(data: dict[str, Any]) -> Any:
    """What a later check or update reads of a trace, by key instead of position."""
    trace = StoredTrace(data)
    name = trace.keys.__getitem__
    walks = [(w.use, w.up, w.ordered, w.depth,
              {name(k): level for k, level in w.levels.items()},
              {name(k): name(b) for k, b in (w.before or {}).items() if b != 0xFFFFFFFF})
             for w in trace.walks]
    witness = data["witness_walks"]
    return (walks, trace.depth, [sorted(map(name, side)) for side in trace.whole],
            sorted((name(k), witness.index(w), name(c) if c >= 0 else None)
                   for k, w, c in trace.nearest),
            sorted((name(e), name(h), tuple(sorted(map(name, _unb64(c, "I")))))
                   for e, h, c in data["chains"]),
            {f: sorted(map(name, _unb64(v, "I")))
             for f, v in data["families"].items()})


def _answers_agree(data: dict[str, Any], fresh: dict[str, Any]) -> bool:
    """The answers of both traces agree on every key both hold."""
    if data["answers"] is None:
        return True
    ours, theirs = StoredTrace(data), StoredTrace(fresh)
    for side in (0, 1):
        mine, other = ours.answers(side), theirs.answers(side)
        for key in mine.keys() & other.keys():
            if mine[key] != other[key]:
                return False
    return True


def test_a_demand_updated_from_added_calls_is_the_demand_computed_again() -> None:
    """prefilter's demand over random call graphs: after added calls, the demand the
    trace keeps, or updates (StoredTrace.patch), is the one computed again over the new
    calls; and so is the next one, from the updated trace.  Each pfn walker's own TUs
    (prefilter.walker_units) are those computed again, or unknown when its TUs define an
    end of a changed call (prefilter._units_after_calls)."""
    _UNITS_KEPT.clear()
    counts, _ = _added_rounds(random.Random(11), outsiders=False)
    assert min(counts.values()) > 40, counts
    assert len(_UNITS_KEPT) > 50, len(_UNITS_KEPT)  # 96


def test_an_added_call_to_a_function_the_demand_never_met_leaves_the_rest_followed() -> None:
    """The same where the graphs also hold functions the demand never met (`o0`..: no
    walk reaches them, no answer names them), and each edit adds, besides random calls,
    a call between one of them and a demanded function: a walk that would enter such a
    function cannot be followed (its own calls were never asked for), but when none
    would, the calls the walks follow still update the demand from the trace."""
    counts, unnamed = _added_rounds(random.Random(5), outsiders=True)
    assert min(counts.values()) > 40, counts
    # (before calltrace's unnamed keys, an update that named one was never made)
    assert min(unnamed.values()) > 5, unnamed


def _added_rounds(rng: random.Random, outsiders: bool
                  ) -> tuple[dict[str, int], dict[str, int]]:
    """Rounds of added calls over 500 random graphs, each demand kept, updated or
    computed again checked against the demand computed again; the counts, and with
    `outsiders` those of the rounds whose added calls named an outsider."""
    from kmeminit.analyzer import prefilter

    vocabulary = prefilter.vocabulary(load_config())
    counts = {"kept": 0, "updated": 0, "computed again": 0}
    unnamed = dict.fromkeys(counts, 0)
    for _ in range(500):
        calls = _kernel_like(rng)
        outside = [f"o{i}" for i in range(4)] if outsiders else []
        for i, name in enumerate(outside):  # calling each other only
            calls[name] = {outside[(i + 1) % len(outside)]}
        stored, lex = _demand(calls)
        data, asked, files = _encode(lex), set(lex.queried or ()), dict(lex.files)
        for _round in range(4):
            names = sorted(k for k in calls if k not in outside)
            wanted = {(a, b) for a, b in ((rng.choice(names), rng.choice(names))
                                          for _ in range(rng.randrange(1, 3)))
                      if a != b and b not in calls[a]}
            if outside:
                one, other = rng.choice(names), rng.choice(outside)
                wanted.add((one, other) if rng.random() < 0.7 else (other, one))
            if not wanted:
                break
            calls = {k: set(c) | {b for a, b in wanted if a == k} for k, c in calls.items()}
            truth, again = _demand(calls)
            # what prefilter._carried sees: each edited file's scans
            added: set[tuple[str, str]] = set()
            for path in sorted({f"/src/{a}.c" for a, _ in wanted}):
                changes = prefilter.call_changes(asked, vocabulary, path, None, False,
                                                 files[path], again.files[path])
                if changes is None:
                    break
                added |= changes[0]
            else:
                trace = StoredTrace(data)
                named = not any(trace._position(k) is None for pair in added for k in pair)
                if trace.keeps(added, set(), prefilter.CHAIN_SLACK):
                    counts["kept"] += 1
                    unnamed["kept"] += not named
                    assert _row(truth) == _row(stored), (calls, wanted)
                    stored = dict(stored, units=_units_check(stored, stored, trace, added,
                                                             truth))
                    carried = trace.carried(added, set())
                    files = dict(again.files)
                    if carried is None:  # no trace to keep: the next one starts afresh
                        data, asked = _encode(again), set(again.queried or ())
                        continue
                    fresh = _encode(again)
                    assert _meaning(carried) == _meaning(fresh), (calls, wanted)
                    assert _answers_agree(carried, fresh)
                    data = carried
                    asked |= {k for pair in added for k in pair}
                    continue
                patched = trace.patch(added, set(), prefilter.CHAIN_SLACK)
                if patched is not None:
                    counts["updated"] += 1
                    unnamed["updated"] += not named
                    row = prefilter._patched_demand(patched, stored["walkers"])
                    assert _row(row) == _row(truth), (calls, wanted)
                    truth = dict(truth, units=_units_check(stored, row, trace, added, truth))
                    fresh = _encode(again)
                    assert _meaning(patched.trace) == _meaning(fresh), (calls, wanted)
                    assert _answers_agree(patched.trace, fresh)
                    stored, data, files = truth, patched.trace, dict(again.files)
                    asked |= {k for pair in added for k in pair}
                    continue
                unnamed["computed again"] += not named
            counts["computed again"] += 1
            stored, data = truth, _encode(again)
            asked, files = set(again.queried or ()), dict(again.files)
    return counts, unnamed


def test_a_demand_updated_from_removed_calls_is_the_demand_computed_again() -> None:
    """The same with calls removed (and some added) in each round, over call graphs
    where some functions have a second definition (`twins`, in another file: a call one
    definition no longer makes the other may still make; `arms`, in the same file),
    static helpers, or are called through a struct field: a removed call that set a
    level is followed only when the index no longer has it."""
    from kmeminit.analyzer import prefilter

    rng = random.Random(13)
    vocabulary = prefilter.vocabulary(load_config())
    counts = {"kept": 0, "updated": 0, "updated, levels raised": 0, "computed again": 0,
              "refused: still made elsewhere": 0,
              "updated, a call gone although the caller has two definitions": 0}
    for _ in range(500):
        calls = _kernel_like(rng)
        statics = {}  # static helpers, each called by the function of its file
        for i in range(rng.randrange(0, 3)):
            host = rng.choice(sorted(calls)[2:])
            statics[f"h{i}"] = host
            calls[host].add(f"h{i}")
            calls[f"h{i}"] = {c for c in sorted(calls)[2:] if rng.random() < 0.15
                              and c != host and not c.startswith("h")}
        names = sorted(calls)
        # second definitions: in another file (a call one no longer makes the other may
        # still make), or in the same file (an #ifdef's other arm: that file's scan
        # says whether either still makes it)
        twins = {n: {c for c in calls[n] if rng.random() < 0.6}
                 for n in rng.sample([*statics.values(), *statics.values(), *names],
                                     rng.randrange(0, 3)) if n not in statics}
        arms = {n: {c for c in calls[n] if rng.random() < 0.5}
                for n in rng.sample(names, rng.randrange(0, 3)) if n not in statics}
        stored = set(rng.sample(names, rng.randrange(0, 2)))
        callers = set(rng.sample(names, 1)) if stored else set()
        held = set(rng.sample(names, rng.randrange(0, 2)))
        for name in rng.sample(names, 2 if held else 0):  # they call what `cb` holds
            calls[name].add("cb")
        model = (twins, stored, callers, held, statics, arms)
        before, lex = _demand(calls, *model)
        data, asked, files = _encode(lex), set(lex.queried or ()), dict(lex.files)
        for _round in range(3):
            present = sorted((a, b) for a in names for b in calls[a])
            gone = set(rng.sample(present, min(len(present), rng.randrange(1, 3))))
            new = {(a, b) for a, b in ((rng.choice(names), rng.choice(names))
                                       for _ in range(rng.randrange(0, 2)))
                   if a != b and b not in calls[a]}
            calls = {k: (set(c) - {b for a, b in gone if a == k})
                     | {b for a, b in new if a == k} for k, c in calls.items()}
            truth, again = _demand(calls, *model)
            added: set[tuple[str, str]] = set()
            removed: set[tuple[str, str]] = set()
            for path in sorted({_file_of(a, statics) for a, _ in gone | new}):
                changes = prefilter.call_changes(asked, vocabulary, path, None, False,
                                                 files[path], again.files[path])
                if changes is None:
                    break
                added |= changes[0]
                removed |= changes[1]
            else:
                trace = StoredTrace(data)
                if trace.keeps(added, removed, prefilter.CHAIN_SLACK):
                    counts["kept"] += 1
                    assert _row(truth) == _row(before), (calls, gone, new, model)
                    carried = trace.carried(added, removed)
                    files = dict(again.files)
                    if carried is None:
                        data, asked = _encode(again), set(again.queried or ())
                        continue
                    fresh = _encode(again)
                    assert _meaning(carried) == _meaning(fresh), (calls, gone, new, model)
                    assert _answers_agree(carried, fresh)
                    data = carried
                    asked |= {k for pair in added | removed for k in pair}
                    continue
                patched = trace.patch(added, removed, prefilter.CHAIN_SLACK)
                if patched is not None:
                    counts["updated"] += 1
                    raised = any(w.levels != v.levels for w, v in
                                 zip(StoredTrace(patched.trace).walks, trace.walks,
                                     strict=True)
                                 if any(v.levels.get(k, 0) < w.levels.get(k, 1 << 20)
                                        for k in v.levels))
                    counts["updated, levels raised"] += raised
                    counts["updated, a call gone although the caller has two definitions"] \
                        += any(x in arms or "@" in y and x in twins for x, y in removed)
                    assert _row(prefilter._patched_demand(patched, before["walkers"])) == \
                        _row(truth), (calls, gone, new, model)
                    fresh = _encode(again)
                    assert _meaning(patched.trace) == _meaning(fresh), (calls, gone, new,
                                                                        model)
                    assert _answers_agree(patched.trace, fresh)
                    before, data, files = truth, patched.trace, dict(again.files)
                    asked |= {k for pair in added | removed for k in pair}
                    continue
                if any(not trace._gone(x, y) for x, y in removed):
                    counts["refused: still made elsewhere"] += 1
            counts["computed again"] += 1
            before, data = truth, _encode(again)
            asked, files = set(again.queried or ()), dict(again.files)
    assert min(counts.values()) > 10, counts


def test_a_removed_call_another_definition_may_make_is_not_stepped_through() -> None:
    """A call removed from one definition of g4 that set no level (g5 is nearer through
    g6, g7), then a call add_memory -> g4 that lowers g4: whether the demand may step
    g4 -> g5 depends on g4's other definition, which the trace does not hold.  With
    one definition the update follows; with two it is computed again."""
    from kmeminit.analyzer import prefilter

    vocabulary = prefilter.vocabulary(load_config())
    calls = {"add_memory": {"g1", "g6"}, "g1": {"g2"}, "g2": {"g3"}, "g3": {"g4"},
             "g4": {"g5"}, "g6": {"g7"}, "g7": {"g5"}, "g5": {"SetPageReserved"}}
    after = dict(calls, add_memory={"g1", "g6", "g4"}, g4=set())
    outcomes = []
    for twins in ({}, {"g4": set()}):
        before, lex = _demand(calls, twins)
        truth, again = _demand(after, twins)
        asked = set(lex.queried or ())
        added, removed = set(), set()
        for path in ("/src/add_memory.c", "/src/g4.c"):
            changes = prefilter.call_changes(asked, vocabulary, path, None, False,
                                             lex.files[path], again.files[path])
            assert changes is not None
            added |= changes[0]
            removed |= changes[1]
        assert (added, removed) == ({("add_memory", "g4")}, {("g4", "g5")})
        trace = StoredTrace(_encode(lex))
        assert not trace.keeps(added, removed, prefilter.CHAIN_SLACK)
        patched = trace.patch(added, removed, prefilter.CHAIN_SLACK)
        if patched is not None:
            assert _row(prefilter._patched_demand(patched, before["walkers"])) == _row(truth)
            assert _meaning(patched.trace) == _meaning(_encode(again))
        outcomes.append(patched is not None)
    assert outcomes == [True, False]


def test_a_walk_again_from_level_zero_is_the_queued_relaxation() -> None:
    """`StoredTrace._breadth_first` (a removal's walk again, level by level) against the
    relaxation over a queue that `_lower` makes, from the same keys at level 0: the same
    levels in the same order, or both refused (an unknown answer), on random answers,
    bounds and keys that take a struct page, with and without the walkers' predicate."""
    from collections import deque

    from kmeminit.analyzer.calltrace import PAGE

    rng = random.Random(5)
    trace = StoredTrace(_encode(_demand(_kernel_like(random.Random(3)))[1]))
    walks = {w.predicate: w for w in trace.walks if w.predicate in ("", "follow:page")}
    assert set(walks) == {"", "follow:page"}
    size = len(trace.keys)
    outcomes = {"same levels": 0, "refused": 0, "a key refused by the predicate": 0}
    for _ in range(400):
        walk = walks[rng.choice(["", "follow:page"])]
        walk.bound = rng.randrange(1, 8)
        trace._flags = array("B", (PAGE if rng.random() < 0.6 else 0 for _ in range(size)))
        answers = {k: [c for c in rng.sample(range(size), rng.randrange(0, 5)) if c != k]
                   for k in range(size) if rng.random() < 0.95}
        seeds = sorted(rng.sample(range(size), rng.randrange(1, 4)))

        answer = answers.get
        queued: dict[int, int] | None = dict.fromkeys(seeds, 0)
        todo = deque(seeds)
        while todo and queued is not None:
            k = todo.popleft()
            if queued[k] >= walk.bound:
                continue
            found = answer(k)
            if found is None:
                queued = None
                break
            for c in found:
                if not trace._lower(walk, queued, todo, queued[k], c):
                    queued = None
                    break
        levels = dict.fromkeys(seeds, 0)
        walked = trace._breadth_first(walk, levels, answer)
        assert walked == (queued is not None)
        if queued is None:
            outcomes["refused"] += 1
            continue
        assert list(levels.items()) == list(queued.items())
        outcomes["same levels"] += 1
        outcomes["a key refused by the predicate"] += walk.predicate != "" and any(
            trace._refuses(walk, c) for k in levels for c in answers.get(k, ()))
    assert min(outcomes.values()) > 20, outcomes


def test_the_changed_answers_built_at_once_are_each_one_looked_up() -> None:
    """`_changed_answers` (what a walk again looks keys up in) against `_changed_answer`
    for every position: rows recorded, replaced or dropped since, steps added and gone,
    and keys a removal may still be in (unsure)."""
    from kmeminit.analyzer.calltrace import _changed_answer, _changed_answers, _Csr, _csr

    rng = random.Random(11)
    for _ in range(300):
        size = rng.randrange(5, 40)
        rows = {k: sorted(rng.sample(range(size), rng.randrange(0, 5)))
                for k in range(size) if rng.random() < 0.7}
        changed: dict[int, list[int] | None] = {
            k: None if rng.random() < 0.3 else rng.sample(range(size), 2)
            for k in rng.sample(range(size), rng.randrange(0, 4))}
        answers = _Csr(_csr(rows), changed)

        extra, gone = ({k: set(rng.sample(range(size), rng.randrange(1, 3)))
                        for k in rng.sample(range(size), rng.randrange(0, 4))}
                       for _ in range(2))
        unsure = set(rng.sample(range(size), rng.randrange(0, 3)))
        built = _changed_answers(answers, extra, gone, unsure)
        for position in range(size + 2):
            one = _changed_answer(answers, extra, gone, unsure, position)
            assert (position in built) == (one is not None)
            if one is not None:
                assert list(built[position]) == list(one), position
