"""Functions passed as arguments: callback edges, the parameters a function calls back,
functions whose address escapes, and the caller states of analyzer/kernel/entries.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import build_program

from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.kernel import kernel_facts
from kmeminit.analyzer.program import Program
from kmeminit.sarif.graph import to_dot, to_json

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "program"


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Program:
    program = build_program([FIXTURES / "callbacks.c"], tmp_path_factory.mktemp("callbacks"))
    return program.apply_config(load_config())


def usr(program: Program, name: str) -> str:
    [fn] = [f for f in program.named(name) if not f.from_header]
    return fn.usr


def test_a_parameter_called_through_is_recorded(program: Program) -> None:
    [call] = program.functions[usr(program, "for_each_chunk")].calls
    assert call.indirect and call.param == 2 and call.record is None


def test_invoked_parameters_are_a_fixpoint(program: Program) -> None:
    invoked = program.invoked_params
    assert invoked[usr(program, "for_each_chunk")] == {2}
    assert invoked[usr(program, "walk_chunks")] == {2}  # hands it on
    assert usr(program, "register_range_fn") not in invoked  # keeps it
    assert invoked[usr(program, "add_action_or_reset")] == {0}  # calls it, and keeps it


def test_kept_callbacks_are_called_and_escape(program: Program) -> None:
    edge = program.graph.edges[usr(program, "probe"), usr(program, "release_fn")]
    assert edge["callback"] == "add_action_or_reset"
    assert usr(program, "release_fn") in program.escaping
    assert usr(program, "count_chunk") not in program.escaping


def test_callback_edges_come_from_the_function_that_hands_over(program: Program) -> None:
    graph = program.graph
    caller = usr(program, "count_all")
    for name, via in (("count_ram", "walk_system_ram_range"),
                      ("count_chunk", "walk_chunks")):
        edge = graph.edges[caller, usr(program, name)]
        assert edge["callback"] == via and not edge["indirect"]
        [site] = edge["sites"]
        assert site.callee == via
    # the iterator itself does not reach the callback: another caller's walk would
    assert not graph.has_edge(usr(program, "for_each_chunk"), usr(program, "count_chunk"))
    [edge] = [e for e in program.callees(caller) if e.callee == usr(program, "count_ram")]
    assert edge.via == "walk_system_ram_range"


def test_ops_tables_handed_to_a_table_iterator(program: Program) -> None:
    edge = program.graph.edges[usr(program, "count_ptes"), usr(program, "count_pte")]
    assert edge["callback"] == "walk_page_range"


def test_site_targets_add_the_callbacks(program: Program) -> None:
    fn = program.functions[usr(program, "count_all")]
    [walk] = [c for c in fn.calls if c.callee == "walk_system_ram_range"]
    assert program.call_targets(walk) == [walk.callee_usr]
    assert program.site_targets(walk) == [walk.callee_usr, usr(program, "count_ram")]


def test_caller_states(program: Program) -> None:
    entries = kernel_facts(program, load_config()).entries
    resolved = {usr(program, n) for n in ("count_ram", "count_chunk", "count_pte")}
    outside = {usr(program, n) for n in ("registered_fn", "other_show", "release_fn")}
    assert entries.outside == outside
    assert all(entries.all_callers_known(u) and not entries.uncalled(u) for u in resolved)
    assert not any(entries.all_callers_known(u) or entries.uncalled(u) for u in outside)
    assert usr(program, "nobody") in entries.roots
    assert usr(program, "count_all") in entries.roots
    assert entries.callers(usr(program, "count_ram")) == {usr(program, "count_all")}
    candidates = set(entries.candidates(["hotplug"]))
    assert not (resolved | outside) & candidates
    assert set(entries.dispatched()) == outside


def test_graph_draws_callbacks(program: Program) -> None:
    dot = to_dot(program.graph, str(FIXTURES))
    assert 'label="callback via walk_system_ram_range(), line ' in dot
    assert "style=dashed, color=blue" in dot
    assert '"callback": "walk_page_range"' in to_json(program.graph, str(FIXTURES))


def test_call_chains_label_callback_steps(program: Program) -> None:
    from kmeminit.analyzer.dataflow.chains import CallChains

    [step] = CallChains(program).calls([usr(program, "count_all"), usr(program, "count_ram")])
    assert step.via == "walk_system_ram_range" and step.callee == "count_ram"
    [plain] = CallChains(program).calls([usr(program, "count_all"),
                                         usr(program, "walk_chunks")])
    assert plain.via is None
