"""The origin inventory of one pointer type: every parameter and struct field of that type
(and the tracked fields of structs passed by pointer), each with its origin set and one
witness chain per origin — what a reviewer reads before changing an API.  Typed data
(analyzer.reports) for the formatters in sarif/origins_report.py."""

from __future__ import annotations

from kmeminit.analyzer.dataflow.origins import OriginEngine, Var, show
from kmeminit.analyzer.model import Location
from kmeminit.analyzer.reports import Origin, OriginSet, OriginsReport
from kmeminit.analyzer.results import Step


def inventory(engine: OriginEngine, functions: set[str] | None = None) -> OriginsReport:
    """Origin sets of the tracked variables; with `functions` (names), only the parameters
    and struct-parameter fields of those functions."""
    program = engine.program
    out: list[OriginSet] = []
    for usr, fn in sorted(program.functions.items(), key=lambda i: (i[1].file, i[1].line)):
        if functions is not None and fn.name not in functions:
            continue
        where = Location(fn.file, fn.line)
        for param in fn.params:
            views: list[tuple[str, Var]] = []
            if engine.tracked(param.type):
                views.append((f"parameter '{param.name}'", ("param", usr, param.index)))
            for name in engine.struct_fields(param.record):
                views.append((f"parameter {param.name}->{name}",
                              ("pfield", usr, param.index, param.record, name)))
            for label, var in views:
                out.append(OriginSet(label, fn.name, where, _sorted(engine, var)))
    if functions is None:
        for var in engine.variables():
            if var[0] == "field":
                out.append(OriginSet(show(var), None, None, _sorted(engine, var)))
    return OriginsReport(engine.spec.pointer, tuple(out))


def _sorted(engine: OriginEngine, var: Var) -> tuple[tuple[Origin, tuple[Step, ...]], ...]:
    return tuple(sorted(engine.of(var).items()))
