"""Event-ordering engine on hand-built CFGs (no clang): paths, branches, calls, recursion."""

from __future__ import annotations

from kmeminit.analyzer.dataflow.ordering import OrderingEngine, Query
from kmeminit.analyzer.model import (
    Block,
    CallSite,
    Edge,
    Event,
    EventKind,
    FnPtrStore,
    Function,
    Location,
)
from kmeminit.analyzer.program import Program


def fn(name: str, blocks: dict[int, tuple[list[str], list]], file: str = "/t/a.c") -> Function:
    """blocks: id -> (callee names in order, successors as ids or (id, cond, branch)).
    A callee written 'ops.field' is an indirect call through struct ops's field."""
    calls: list[CallSite] = []
    out = []
    for bid in sorted(blocks):
        names, succs = blocks[bid]
        events = []
        for callee in names:
            loc = Location(file, 10 * bid + len(calls) + 1, 1)
            if "." in callee:
                record, field = callee.split(".")
                site = CallSite(len(calls), field, None, loc, indirect=True,
                                record=f"struct {record}", field=field)
            else:
                site = CallSite(len(calls), callee, f"c:@F@{callee}", loc)
            calls.append(site)
            events.append(Event(EventKind.CALL, site.index))
        edges = tuple(Edge(*s) if isinstance(s, tuple) else Edge(s) for s in succs)
        out.append(Block(bid, tuple(events), edges))
    return Function(f"c:@F@{name}", name, file, 1, 99, "external", calls=tuple(calls),
                    blocks=tuple(out))


def straight(name: str, *callees: str) -> Function:
    return fn(name, {0: ([], [2]), 1: ([], []), 2: (list(callees), [1])})


LABELS = {"A": ["do_a"], "B": ["do_b"], "C": ["do_c"]}
A_THEN_B = Query.sequence("A", "B")


def engine(*functions: Function, stores=()) -> OrderingEngine:
    return OrderingEngine(Program.from_functions(functions, stores), LABELS)


def test_straight_line_order() -> None:
    e = engine(straight("f", "do_a", "do_b"))
    assert e.holds("c:@F@f", A_THEN_B)
    assert [s.label for s in e.witness("c:@F@f", A_THEN_B)] == ["A", "B"]
    assert not e.holds("c:@F@f", Query.sequence("B", "A"))


def test_branches_are_not_an_ordering() -> None:
    f = fn("f", {0: ([], [2]), 1: ([], []),
                 2: ([], [(3, "ok", "true"), (4, "ok", "false")]),
                 3: (["do_a"], [1]), 4: (["do_b"], [1])})
    assert not engine(f).holds("c:@F@f", A_THEN_B)


def test_loop_back_edge_orders_later_iterations() -> None:
    f = fn("f", {0: ([], [2]), 1: ([], []), 2: (["do_b"], [3]),
                 3: (["do_a"], [(2, "i < n", "true"), (1, "i < n", "false")])})
    e = engine(f)
    assert e.holds("c:@F@f", A_THEN_B)
    steps = e.witness("c:@F@f", A_THEN_B)
    assert [s.label for s in steps] == ["A", "B"]
    assert steps[1].conditions == ("i < n",)


def test_interprocedural_witness_has_depth() -> None:
    e = engine(straight("entry", "first", "second"), straight("first", "do_a"),
               straight("second", "helper"), straight("helper", "do_b"))
    steps = e.witness("c:@F@entry", A_THEN_B)
    assert [(s.function, s.label, s.depth) for s in steps] == [
        ("entry", "call", 0), ("first", "A", 1), ("entry", "call", 0),
        ("second", "call", 1), ("helper", "B", 2)]


def test_kill_between_steps() -> None:
    query = Query.sequence("A", "B", kills={1: ["C"]})
    assert not engine(straight("f", "do_a", "do_c", "do_b")).holds("c:@F@f", query)
    assert engine(straight("f", "do_a", "do_b", "do_c")).holds("c:@F@f", query)
    # a later A after the kill starts a fresh path
    assert engine(straight("f", "do_a", "do_c", "do_a", "do_b")).holds("c:@F@f", query)


def test_kill_before_first_step() -> None:
    query = Query.sequence("B", kills={0: ["A"]})  # B with no A before it
    assert engine(straight("f", "do_b", "do_a")).holds("c:@F@f", query)
    assert not engine(straight("f", "do_a", "do_b")).holds("c:@F@f", query)
    branchy = fn("f", {0: ([], [2]), 1: ([], []),
                       2: ([], [(3, "hot", "true"), (4, "hot", "false")]),
                       3: (["do_a"], [4]), 4: (["do_b"], [1])})
    steps = engine(branchy).witness("c:@F@f", query)
    assert [(s.label, s.conditions) for s in steps] == [("B", ("hot [false]",))]


def test_recursion_reaches_a_fixpoint() -> None:
    rec = fn("rec", {0: ([], [2]), 1: ([], []),
                     2: ([], [(3, "n", "true"), (4, "n", "false")]),
                     3: (["rec", "do_b"], [1]), 4: (["do_a"], [1])})
    e = engine(rec, straight("entry", "rec"))
    assert e.holds("c:@F@entry", A_THEN_B)  # deepest call does A, its caller then B
    assert e.witness("c:@F@entry", A_THEN_B)


def test_indirect_calls_resolve_through_ops_tables() -> None:
    store = FnPtrStore("struct dev_pagemap_ops", "page_free", "my_free", "c:@F@my_free",
                       Location("/t/d.c", 5, 1))
    e = engine(straight("entry", "do_a", "dev_pagemap_ops.page_free"),
               straight("my_free", "do_b"), stores=[store])
    assert e.holds("c:@F@entry", A_THEN_B)
    assert engine(straight("entry", "do_a", "dev_pagemap_ops.page_free"),
                  straight("my_free", "do_b")).holds("c:@F@entry", A_THEN_B) is False


def test_three_step_sequence_across_functions() -> None:
    query = Query.sequence("A", "C", "B")
    e = engine(straight("entry", "add", "do_c", "init"), straight("add", "do_a"),
               straight("init", "do_b"))
    assert [s.label for s in e.witness("c:@F@entry", query) if s.label != "call"] == \
        ["A", "C", "B"]
    assert not engine(straight("entry", "add", "init", "do_c"), straight("add", "do_a"),
                      straight("init", "do_b")).holds("c:@F@entry", query)


def test_witness_through_recursion_names_every_step() -> None:
    # The summary fact "rec can complete A then B" is first derived from the non-recursive
    # branch; a witness must not explain it by the recursive call it is itself expanding.
    rec = fn("rec", {0: ([], [2]), 1: ([], []),
                     2: ([], [(3, "n", "true"), (4, "n", "false")]),
                     3: (["rec", "do_b"], [1]), 4: (["do_a"], [1])})
    e = engine(rec, straight("entry", "rec"))
    labels = [s.label for s in e.witness("c:@F@entry", A_THEN_B) if s.label != "call"]
    assert labels == ["A", "B"]
    deep = fn("deep", {0: ([], [2]), 1: ([], []),
                       2: ([], [(3, "n", "true"), (4, "n", "false")]),
                       3: (["deep"], [1]), 4: (["do_a", "do_b"], [1])})
    e = engine(deep, straight("entry", "deep"))
    labels = [s.label for s in e.witness("c:@F@entry", A_THEN_B) if s.label != "call"]
    assert labels == ["A", "B"]


def test_services_are_outside_the_call_graph() -> None:
    # `alloc` stands for a kernel service whose slow path happens to do A (and calls `deep`)
    program = Program.from_functions([straight("entry", "alloc", "do_b"),
                                      straight("alloc", "do_a", "deep"),
                                      straight("deep", "do_a")])
    e = OrderingEngine(program, LABELS)
    assert e.holds("c:@F@entry", A_THEN_B)
    program.leaves = frozenset({"alloc"})
    program._graph = None
    assert not program.graph.has_edge("c:@F@entry", "c:@F@alloc")
    assert not program.graph.has_edge("c:@F@alloc", "c:@F@deep")
    assert not OrderingEngine(program, LABELS).holds("c:@F@entry", A_THEN_B)
    assert OrderingEngine(program, LABELS).holds("c:@F@alloc", Query.sequence("A"))


def test_apply_config_takes_services_from_the_config() -> None:
    from kmeminit.analyzer.config import load_config

    program = Program.from_functions([straight("entry", "kfree", "do_b"),
                                      straight("kfree", "do_a")])
    assert program.graph.has_edge("c:@F@entry", "c:@F@kfree")
    program.apply_config(load_config())
    assert "kfree" in program.leaves and "__alloc_pages_noprof" in program.leaves
    assert not program.graph.has_edge("c:@F@entry", "c:@F@kfree")


def test_generic_dispatch_tables_are_not_resolved() -> None:
    from kmeminit.analyzer.config import load_config

    stores = [FnPtrStore("struct file_operations", "read", "my_read", "c:@F@my_read",
                         Location("/t/d.c", 5, 1)),
              FnPtrStore("struct dev_pagemap_ops", "page_free", "my_free", "c:@F@my_free",
                         Location("/t/d.c", 6, 1))]
    program = Program.from_functions([straight("entry", "file_operations.read",
                                                "dev_pagemap_ops.page_free"),
                                      straight("my_read", "do_a"), straight("my_free", "do_b")],
                                     stores)
    assert program.graph.has_edge("c:@F@entry", "c:@F@my_read")
    program.apply_config(load_config())
    assert not program.graph.has_edge("c:@F@entry", "c:@F@my_read")
    assert program.graph.has_edge("c:@F@entry", "c:@F@my_free")  # mm's own ops table
