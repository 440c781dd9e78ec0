"""Text and JSON renderings of an origin inventory (analyzer.reports.OriginsReport).

Text, one block per variable, gcc-style location first:

    mm/sparse-vmemmap.c:770: sparse_add_section(): parameter 'altmap': NULL, embedded ...
      embedded in struct dev_pagemap.altmap:
        mm/memremap.c:257: pagemap_range(): pgmap_altmap(pgmap): stored into params.altmap
        ...

JSON: {"type", "variables": [{"variable", "function", "file", "line", "kinds",
"origins": [{"kind", "detail", "origin", "witness": [{"file", "line", "function",
"message"}]}]}]} with paths relative to the source root.
"""

from __future__ import annotations

import json
from typing import Any

from kmeminit.analyzer.paths import SourceTree
from kmeminit.analyzer.reports import OriginsReport
from kmeminit.analyzer.results import Step


def format_origins_text(report: OriginsReport, root: str) -> str:
    tree = SourceTree(root)
    lines = []
    for item in report.sets:
        where = f"{tree.display(item.location.file)}:{item.location.line}: " \
            if item.location else ""
        owner = f"{item.function}(): " if item.function else ""
        summary = ", ".join(str(o) for o, _ in item.origins)
        lines.append(f"{where}{owner}{item.variable}: {summary}")
        for origin, chain in item.origins:
            if not chain:
                continue
            lines.append(f"  {origin}:")
            lines += [f"    {_step_text(tree, s)}" for s in chain]
    head = f"# origins of {report.pointer}: {len(report.sets)} variable(s)"
    return "\n".join([head, *lines]) + "\n"


def _step_text(tree: SourceTree, step: Step) -> str:
    fn = f"{step.function}(): " if step.function else ""
    return f"{tree.display(step.location.file)}:{step.location.line}: {fn}{step.message}"


def origins_json(report: OriginsReport, root: str) -> dict[str, Any]:
    tree = SourceTree(root)
    return {"type": report.pointer, "variables": [{
        "variable": item.variable,
        "function": item.function,
        "file": tree.display(item.location.file) if item.location else None,
        "line": item.location.line if item.location else None,
        "kinds": list(item.kinds),
        "origins": [{"kind": o.kind, "detail": o.detail, "origin": str(o),
                     "witness": [{"file": tree.display(s.location.file),
                                  "line": s.location.line, "function": s.function,
                                  "message": s.message} for s in chain]}
                    for o, chain in item.origins],
    } for item in report.sets]}


def format_origins_json(report: OriginsReport, root: str) -> str:
    return json.dumps(origins_json(report, root), indent=2, ensure_ascii=False) + "\n"
