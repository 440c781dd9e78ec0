"""CFG construction: the clang-free builder, and the frontend's CFGs of kernel-shaped C."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.dataflow.cfg import event_sites, reaches
from kmeminit.analyzer.frontend.cfg_builder import CFGBuilder
from kmeminit.analyzer.model import ENTRY_BLOCK, EXIT_BLOCK, Block, EventKind, Function

FIXTURES = Path(__file__).parent / "fixtures" / "frontend"
CALL = EventKind.CALL


def _reaches(fn: Function, src: tuple[EventKind, int], dst: tuple[EventKind, int]) -> bool:
    """Some occurrence of event `src` is followed, on some path, by one of event `dst`.
    Both must be in the CFG: a pruned event would make every `not _reaches` hold."""
    firsts, seconds = list(event_sites(fn, *src)), list(event_sites(fn, *dst))
    assert firsts and seconds, f"{src} or {dst} is not in the CFG of {fn.name}"
    return any(reaches(fn, a, b) for a in firsts for b in seconds)


def _built(blocks: tuple[Block, ...]) -> Function:
    """A builder's CFG as the function the engine queries."""
    return Function("c:@F@built", "built", "built.c", 1, 1, "external", blocks=blocks)


# ---------------------------------------------------------------------------------------
# Builder level


def test_builder_entry_exit_and_pruning() -> None:
    cfg = CFGBuilder()
    cfg.append(CALL, 0)
    cfg.return_()
    cfg.append(CALL, 1)  # after return: unreachable
    blocks = cfg.finalise()
    assert [b.id for b in blocks] == [ENTRY_BLOCK, EXIT_BLOCK]
    assert [e.index for e in blocks[0].events] == [0]
    assert blocks[0].succs[0].target == EXIT_BLOCK
    assert not blocks[EXIT_BLOCK].succs


def test_builder_branch_and_renumbering() -> None:
    cfg = CFGBuilder()
    dead = cfg.new_block()  # created first, never reached: must not leave a gap
    then_b, after = cfg.new_block(), cfg.new_block()
    cfg.branch("ret", then_b, after)
    cfg.current = then_b
    cfg.append(CALL, 7)
    cfg.start(after)
    cfg.append(CALL, 8)
    blocks = cfg.finalise({CALL: {7: 0, 8: 1}})
    assert dead == 2 and len(blocks) == 4  # entry, exit, then, after: the dead one is gone
    assert [b.id for b in blocks] == list(range(len(blocks)))
    conds = {(e.cond, e.branch) for e in blocks[0].succs}
    assert conds == {("ret", "true"), ("ret", "false")}
    assert _reaches(_built(blocks), (CALL, 0), (CALL, 1))
    assert not _reaches(_built(blocks), (CALL, 1), (CALL, 0))


def test_builder_loop_break_continue_goto() -> None:
    cfg = CFGBuilder()
    head, body, after = cfg.new_block(), cfg.new_block(), cfg.new_block()
    cfg.start(head)
    cfg.branch("i < n", body, after)
    cfg.current = body
    cfg.push_loop(after, head)
    cfg.append(CALL, 0)
    cfg.continue_()
    cfg.pop()
    cfg.current = after
    cfg.jump(cfg.label("out"))
    cfg.append(CALL, 1)  # skipped by the goto
    cfg.start(cfg.label("out"))
    cfg.append(CALL, 2)
    blocks = cfg.finalise()
    assert _reaches(_built(blocks), (CALL, 0), (CALL, 0))  # back edge
    assert _reaches(_built(blocks), (CALL, 0), (CALL, 2))
    assert not any(e.kind is CALL and e.index == 1 for b in blocks for e in b.events)


def test_builder_break_outside_loop_goes_to_exit() -> None:
    cfg = CFGBuilder()
    cfg.break_()
    blocks = cfg.finalise()
    assert blocks[0].succs[0].target == EXIT_BLOCK


# ---------------------------------------------------------------------------------------
# Frontend level


@pytest.fixture(scope="module")
def cfg_functions() -> dict[str, Function]:
    from kmeminit.analyzer.frontend import ParseTask, parse_tu
    facts = parse_tu(ParseTask.for_config(load_config(), str(FIXTURES / "cfg.c"),
                                          ("-std=gnu11",), str(FIXTURES)))
    assert not facts.notifications
    return {f.name: f for f in facts.functions}


def _call(fn: Function, callee: str, nth: int = 0) -> tuple[EventKind, int]:
    return CALL, [c.index for c in fn.calls if c.callee == callee][nth]


def _edges(blocks: tuple[Block, ...]) -> set[tuple[str | None, str | None]]:
    return {(e.cond, e.branch) for b in blocks for e in b.succs}


def test_goto_error_path(cfg_functions: dict[str, Function]) -> None:
    fn = cfg_functions["demo_error_path"]
    a, b, c = _call(fn, "step_a"), _call(fn, "step_b"), _call(fn, "step_c")
    undo_a, undo_b = _call(fn, "undo_a"), _call(fn, "undo_b")
    assert _reaches(fn, a, b) and _reaches(fn, b, c)
    assert _reaches(fn, c, undo_b) and _reaches(fn, undo_b, undo_a)
    assert _reaches(fn, b, undo_a)
    # step_a failing jumps straight to `err:`, which only returns
    a_block = next(blk for blk in fn.blocks if any((e.kind, e.index) == a for e in blk.events))
    err = next(e.target for e in a_block.succs if e.branch == "true")
    assert [e.kind for e in fn.blocks[err].events] == [EventKind.RETURN]
    assert not _reaches(fn, undo_a, b)
    assert not _reaches(fn, undo_b, c)
    assert ("ret", "true") in _edges(fn.blocks)
    returns = [e for blk in fn.blocks for e in blk.events if e.kind is EventKind.RETURN]
    assert len(returns) == 2 and len(fn.returns) == 2


def test_switch_fallthrough_and_default(cfg_functions: dict[str, Function]) -> None:
    fn = cfg_functions["demo_switch"]
    edges = _edges(fn.blocks)
    assert {("mode", "case 1"), ("mode", "case 2"), ("mode", "case 3"),
            ("mode", "case 4"), ("mode", "default")} <= edges
    a, b, c = _call(fn, "step_a"), _call(fn, "step_b"), _call(fn, "step_c")
    undo, use = _call(fn, "undo_a"), _call(fn, "use")
    assert _reaches(fn, a, b)  # case 1 falls through into case 2
    assert not _reaches(fn, b, c)  # break
    assert not _reaches(fn, c, undo)
    for ev in (a, b, c, undo):
        assert _reaches(fn, ev, use)


def test_switch_without_default_has_default_edge(cfg_functions: dict[str, Function]) -> None:
    fn = cfg_functions["demo_switch_no_default"]
    assert ("mode", "default") in _edges(fn.blocks)
    use = _call(fn, "use")
    entry_targets = {e.target for e in fn.blocks[0].succs}
    assert any(any(ev.kind is CALL and ev.index == use[1] for ev in fn.blocks[t].events)
               for t in entry_targets)


def test_nested_loops_break_continue(cfg_functions: dict[str, Function]) -> None:
    fn = cfg_functions["demo_loops"]
    x0, y0 = _call(fn, "cond_x", 0), _call(fn, "cond_y", 0)
    use_j, a = _call(fn, "use", 0), _call(fn, "step_a")
    assert _reaches(fn, use_j, y0)  # inner back edge
    assert _reaches(fn, y0, a)  # inner break lands after the inner loop
    assert _reaches(fn, a, x0)  # outer back edge
    assert _reaches(fn, x0, x0)  # continue goes round the outer loop
    x1, b = _call(fn, "cond_x", 1), _call(fn, "step_b")
    assert _reaches(fn, b, x1)
    c = _call(fn, "step_c")
    assert not _reaches(fn, c, c)  # do { } while (0) is not a loop
    use_i = _call(fn, "use", 1)
    assert _reaches(fn, use_i, use_i)  # for (; i < n; i++)
    assert {("i < n", "true"), ("j < n", "false")} <= _edges(fn.blocks)
    assert ("0", "true") not in _edges(fn.blocks)


def test_conditional_operator_and_short_circuit(cfg_functions: dict[str, Function]) -> None:
    fn = cfg_functions["demo_conditional"]
    a, b = _call(fn, "step_a"), _call(fn, "step_b")
    assert not _reaches(fn, a, b) and not _reaches(fn, b, a)
    edges = _edges(fn.blocks)
    assert {("x", "true"), ("x", "false"), ("cond_x()", "true"), ("cond_y()", "false"),
            ("step_c()", "true")} <= edges
    y, use = _call(fn, "cond_y"), _call(fn, "use")
    assert _reaches(fn, y, use)
    # `||`: step_c only runs when cond_x() was false
    x1, c, undo = _call(fn, "cond_x", 1), _call(fn, "step_c"), _call(fn, "undo_a")
    assert _reaches(fn, x1, c) and _reaches(fn, x1, undo)
    xblock = next(blk for blk in fn.blocks for e in blk.events if (e.kind, e.index) == x1)
    true_edge = next(e for e in xblock.succs if e.branch == "true")
    assert not any((ev.kind, ev.index) == c for ev in fn.blocks[true_edge.target].events)


def test_early_return_and_dead_code(cfg_functions: dict[str, Function]) -> None:
    fn = cfg_functions["demo_early_return"]
    assert [c.callee for c in fn.calls] == ["use"]  # IS_ENABLED(off) branch is dead
    assert ("!page", "true") in _edges(fn.blocks)
    assert ("unlikely(page->flags)", "true") in _edges(fn.blocks)
    returns = {e.index for blk in fn.blocks for e in blk.events if e.kind is EventKind.RETURN}
    assert returns == {0, 1, 2}
    dead = cfg_functions["demo_unreachable"]
    assert [c.callee for c in dead.calls] == ["step_a"]


def test_statement_expression(cfg_functions: dict[str, Function]) -> None:
    fn = cfg_functions["demo_stmt_expr"]
    kinds = [e.kind for e in fn.blocks[0].events]
    assert kinds[0] is EventKind.MACRO  # container_of, before the code it expands to
    assert EventKind.CALL in kinds
    assert ("step_a()", "true") in _edges(fn.blocks)
    names = [a.target.name for a in fn.assigns]
    assert names == ["page", "__p", "__mptr"]  # source (preorder) order
    block_of_page = next(blk for blk in fn.blocks for e in blk.events
                         if e.kind is EventKind.ASSIGN and e.index == 0)
    assert block_of_page.id != 0  # assigned after the ?: inside the statement expression


def test_deep_nesting_is_flattened_with_a_note(tmp_path: Path) -> None:
    from kmeminit.analyzer.frontend import ParseTask, parse_tu
    from kmeminit.analyzer.frontend.expressions import MAX_DEPTH
    depth = MAX_DEPTH + 50
    expr = "f(" * depth + "0" + ")" * depth
    src = tmp_path / "deep.c"
    src.write_text(f"int f(int);\nint deep(void)\n{{\n\treturn {expr};\n}}\n")
    facts = parse_tu(ParseTask.for_config(load_config(), str(src), ("-std=gnu11",),
                                          str(tmp_path)))
    fn = next(f for f in facts.functions if f.name == "deep")
    assert len(fn.calls) == depth
    assert any("nesting deeper" in n.message for n in facts.notifications)
    events = [e for b in fn.blocks for e in b.events if e.kind is CALL]
    assert len(events) == depth


def test_local_labels_do_not_merge(cfg_functions: dict[str, Function]) -> None:
    fn = cfg_functions["demo_local_labels"]
    a, b = _call(fn, "step_a"), _call(fn, "step_b")
    use_a, use_b = _call(fn, "use", 0), _call(fn, "use", 1)
    assert _reaches(fn, a, b)
    assert not _reaches(fn, use_b, b) and not _reaches(fn, b, use_a)
