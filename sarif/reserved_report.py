"""The PG_reserved report (`kmeminit reserved`) as markdown, JSON or DOT.

Input is the typed analyzer.reports.ReservedReport; paths are made relative to the source
root here.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from kmeminit.analyzer.reports import ReachRow, ReservedReport


def _rel(path: str, root: str) -> str:
    rel = os.path.relpath(path, root)
    return path if rel.startswith("..") else rel


def _where(item: Any, root: str) -> str:
    return f"{_rel(item.file, root)}:{item.line}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _conds(conds: tuple[str, ...]) -> str:
    return "<br>".join(f"`{_cell(c)}`" for c in conds) or "—"


def _chain(reach: ReachRow) -> str:
    """Callers, each with the conditions guarding its call; long lists fold away."""
    parts = []
    for step in reach.chain[:-1]:
        conds = step.conditions
        text = f"`{step.function}`"
        if len(conds) > 3:
            text += (f" <details><summary>{len(conds)} conditions</summary>"
                     f"{_conds(conds)}</details>")
        elif conds:
            text += f" [{_conds(conds).replace('<br>', ' && ')}]"
        parts.append(text)
    return " → ".join(parts + [f"`{reach.function}`"])


def to_markdown(data: ReservedReport, root: str, title: str = "PG_reserved report") -> str:
    out = [f"# {title}", ""]
    entries, readers = data.entries, data.readers
    by_id = {r.id: r for r in readers}
    sets = sum(1 for s in data.sites if s.op == "set")
    out += [f"{len(data.sites)} sites ({sets} set, {len(data.sites) - sets} clear), "
            f"{len(readers)} readers, {len(entries)} entry points.", "",
            "Conditions are the branch conditions every path to the call must take, per "
            "function along the shortest chain. *Net effect* is the last PG_reserved "
            "transition possible when the entry point returns (per site: once that site "
            "ran, along the shortest chain).", "", "## Entry points", "",
            "| kind | entry | net effect | sites set | sites cleared | readers reachable |",
            "|---|---|---|---|---|---|"]
    for e in entries:
        n_set = sum(1 for s in e.sites if s.op == "set")
        out.append(f"| {e.kind} | `{e.name}()` ({_where(e, root)}) | {e.effect} "
                   f"| {n_set} | {len(e.sites) - n_set} | {len(e.readers)} |")
    for e in entries:
        if not e.sites and not e.readers:
            continue
        out += ["", f"### {e.kind}: `{e.name}()` — net effect: {e.effect}", ""]
        if e.sites:
            out += ["| op | site | chains | after the site | conditions in the site's "
                    "function | shortest chain (conditions per caller) |",
                    "|---|---|---|---|---|---|"]
            for s in e.sites:
                out.append(f"| {s.op} | `{s.callee}()` in `{s.function}()` "
                           f"({_where(s, root)}) | {s.chains} | {s.effect} | "
                           f"{_conds(s.chain[-1].conditions)} | {_chain(s)} |")
        if e.readers:
            shown = ", ".join(f"`{by_id[r].function}()`"
                              + (" (walker)" if by_id[r].walker else "")
                              for r in e.readers)
            out += ["", f"Readers reachable: {shown}"]
    if data.unreached:
        out += ["", "## Sites no entry point reaches", "", "| op | site | conditions |",
                "|---|---|---|"]
        for s in data.unreached:
            out.append(f"| {s.op} | `{s.callee}()` in `{s.function}()` "
                       f"({_where(s, root)}) | {_conds(s.conditions)} |")
    out += ["", "## All sites", "", "| op | call | function | where | via | atomic |",
            "|---|---|---|---|---|---|"]
    for s in data.sites:
        out.append(f"| {s.op} | `{s.callee}()` | `{s.function}()` | "
                   f"{_where(s, root)} | {s.via} | {'yes' if s.atomic else 'no'} |")
    out += ["", "## Readers", "", "| reader | function | where | pfn walker | entry points |",
            "|---|---|---|---|---|"]
    for r in readers:
        out.append(f"| `{r.callee}()` | `{r.function}()` | {_where(r, root)} | "
                   f"{'yes' if r.walker else 'no'} | "
                   f"{', '.join(r.entries) or 'none'} |")
    out += ["", "## Wrappers", "",
            "Functions whose calls can make one kind of transition only.", "",
            "| function | op | unconditional | site in its own body |", "|---|---|---|---|"]
    for w in data.wrappers:
        out.append(f"| `{w.function}()` | {w.op} | "
                   f"{'yes' if w.unconditional else 'no'} | "
                   f"{'yes' if w.direct else 'no'} |")
    drop = data.what_if_drop
    if drop:
        out += ["", f"## What if `{drop.query}` were dropped", "",
                f"Sites: {', '.join(drop.sites) or 'none'}", "",
                "| reader | where | why |", "|---|---|---|"]
        for rid, why in drop.readers:
            r = by_id[rid]
            reason = ("runs after the site on an entry path" if why == "after"
                      else "in a pfn walker")
            out.append(f"| `{r.function}()` | {_where(r, root)} | {reason} |")
    return "\n".join(out) + "\n"


def _relativise(value: Any, root: str) -> Any:
    if isinstance(value, dict):
        return {k: (_rel(v, root) if k == "file" else _relativise(v, root))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_relativise(v, root) for v in value]
    return value


def to_json(data: ReservedReport, root: str) -> str:
    plain = dataclasses.asdict(data)
    if plain["what_if_drop"] is None:
        del plain["what_if_drop"]
    return json.dumps(_relativise(plain, root), indent=2) + "\n"


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(data: ReservedReport, root: str) -> str:
    """Entry points → sites (green set, red clear) and readers (notes, dashed edges).
    With --what-if-drop the dropped sites are drawn crossed out (bold, dashed) and the
    readers that could change behaviour in orange, with the question as the title."""
    drop = data.what_if_drop
    dropped = set(drop.sites) if drop else set()
    affected = dict(drop.readers) if drop else {}
    out = ["digraph pg_reserved {", "  rankdir=LR;",
           '  node [fontname="monospace", fontsize=10];',
           '  edge [fontname="monospace", fontsize=9];']
    if drop:
        title = (f"what if {drop.query} were dropped: {len(affected)} reader(s) could "
                 "change behaviour (orange)")
        out.append(f"  labelloc=t; label={_q(title)};")
    for e in data.entries:
        if e.sites or e.readers:
            out.append(f"  {_q('entry:' + e.name)} [shape=ellipse, label="
                       f"{_q(e.kind + ': ' + e.name + '()' + chr(10) + e.effect)}];")
    for s in data.sites:
        colour = "darkgreen" if s.op == "set" else "firebrick"
        label = f"{s.op} {s.callee}()\n{s.function}()\n{_where(s, root)}"
        style = ""
        if s.id in dropped:
            label = "DROPPED: " + label
            style = ', style="bold,dashed", penwidth=3'
        out.append(f"  {_q('site:' + s.id)} [shape=box, color={colour}{style}, "
                   f"label={_q(label)}];")
    for r in data.readers:
        label = f"{r.callee}()\n{r.function}()" + ("\n(pfn walker)" if r.walker
                                                         else "")
        style = ""
        if r.id in affected:
            why = "runs after the site" if affected[r.id] == "after" else "in a pfn walker"
            label += f"\ncould change: {why}"
            style = ", color=darkorange, penwidth=2"
        out.append(f"  {_q('reader:' + r.id)} [shape=note{style}, label={_q(label)}];")
    for e in data.entries:
        for s in e.sites:
            label = f"{s.chains} chain(s)"
            out.append(f"  {_q('entry:' + e.name)} -> {_q('site:' + s.site)} "
                       f"[label={_q(label)}];")
        for rid in e.readers:
            out.append(f"  {_q('entry:' + e.name)} -> {_q('reader:' + rid)} "
                       "[style=dashed, color=gray40];")
    out.append("}")
    return "\n".join(out) + "\n"


FORMATS = {"md": to_markdown, "json": to_json, "dot": to_dot}
