"""One function definition walked into a `Function`: facts and CFG in one pass.

`FunctionWalker` holds the walk's shared state (the CFG under construction, the facts found
so far, the nesting depth) and is made of three parts, one idea each: `Statements` (control
flow), `Expressions` (events and values) and `MacroEvents` (configured macros).  They call
one another through a few public methods (`stmt`, `expr`, `cond`, `value`,
`record_assign`, `flat`, `emit_macros`, `macro_for`), as a recursive-descent walker's parts
do; their private state stays in their own modules.
"""

from __future__ import annotations

from clang import cindex as ci

from kmeminit.analyzer.frontend.cfg_builder import CFGBuilder
from kmeminit.analyzer.frontend.expressions import Expressions
from kmeminit.analyzer.frontend.libclang import (
    K_COMPOUND,
    K_PARM,
    LINKAGE_INTERNAL,
    Node,
    tree,
)
from kmeminit.analyzer.frontend.macros import MacroEvents
from kmeminit.analyzer.frontend.source_text import Source, section_markers
from kmeminit.analyzer.frontend.statements import Statements
from kmeminit.analyzer.frontend.tu import TU
from kmeminit.analyzer.model import (
    Assign,
    Block,
    CallSite,
    EventKind,
    FnPtrStore,
    Function,
    Param,
    Return,
)

# (preorder serial, fields of a CallSite / Assign / Return after its `index`)
_Facts = list[tuple[int, tuple]]


class FunctionWalker(Statements, Expressions, MacroEvents):
    """Walks one definition once; `run()` returns its `Function` and the function-pointer
    stores found in its body."""

    def __init__(self, x: TU, fn: ci.Cursor, from_header: bool) -> None:
        Statements.__init__(self)
        Expressions.__init__(self)
        MacroEvents.__init__(self)
        self.x = x
        self.lib = x.lib
        self.fn = fn
        self.from_header = from_header
        self.name = x.spelling(fn)
        self.cfg = CFGBuilder()
        self.params: dict[str, int] = {}
        self.calls: _Facts = []
        self.assigns: _Facts = []
        self.returns: _Facts = []
        self.stores: list[FnPtrStore] = []
        self.depth = 0
        self.file_ptr: int | None = None

    def run(self) -> tuple[Function, list[FnPtrStore]]:
        x, fn = self.x, self.fn
        root = tree(fn)
        x.unfocus()
        rng = self.lib.clang_getCursorExtent(fn)
        f, start, end = x.span(fn)
        self.file_ptr = f
        path = x.file_name(f)
        src = x.source(path)
        if start >= 0:
            x.focus(f, rng.begin_int_data, start, src)
        name_off = x.pos(self.lib.clang_getCursorLocation(fn))[3]
        params = self._params(root)
        if start >= 0:
            self.find_macros(src, path, start, end)
        body = next((n for n in root.kids if n.k == K_COMPOUND), None)
        if body is not None:
            self.stmt(body)
        return self._function(src, path, start, end, name_off, params), self.stores

    def _params(self, root: Node) -> tuple[Param, ...]:
        out = []
        x = self.x
        for n in root.kids:
            if n.k != K_PARM:
                continue
            name = x.spelling(n.c)
            t = self.lib.clang_getCursorType(n.c)
            out.append(Param(len(out), name, x.type_spelling(t),
                             x.type_record(t)))
            if name:
                self.params[name] = len(out) - 1
        return tuple(out)

    def _function(self, src: Source, path: str, start: int, end: int, name_off: int,
                  params: tuple[Param, ...]) -> Function:
        x, fn, lib = self.x, self.fn, self.lib
        calls, assigns, returns, blocks = self._finish_cfg()
        line_start, line_end = (src.lines.position(start)[0], src.lines.position(end)[0]) \
            if start >= 0 else (x.loc(fn).line,) * 2
        sections = section_markers(src.text[start:name_off], x.task.section_markers) \
            if 0 <= start <= name_off else ()
        return Function(
            usr=x.usr(fn), name=self.name, file=path, line=line_start, end_line=line_end,
            linkage="internal" if lib.clang_getCursorLinkage(fn) == LINKAGE_INTERNAL
            else "external",
            return_type=x.type_spelling(lib.clang_getCursorResultType(fn)),
            sections=sections,
            inline=bool(lib.clang_Cursor_isFunctionInlined(fn)),
            from_header=self.from_header,
            params=params,
            calls=tuple(CallSite(i, *c) for i, (_, c) in enumerate(calls)),
            macros=tuple(self.macros),
            assigns=tuple(Assign(i, *a) for i, (_, a) in enumerate(assigns)),
            returns=tuple(Return(i, *r) for i, (_, r) in enumerate(returns)),
            blocks=blocks,
        )

    def _finish_cfg(self) -> tuple[_Facts, _Facts, _Facts, tuple[Block, ...]]:
        """The facts of reachable events (calls, assigns, returns), numbered in source
        order, and the finalised CFG whose events use those numbers."""
        live = self.cfg.live_events()
        calls = _live(self.calls, EventKind.CALL, live)
        assigns = _live(self.assigns, EventKind.ASSIGN, live)
        returns = _live(self.returns, EventKind.RETURN, live)
        remap = {
            EventKind.CALL: {s: i for i, (s, _) in enumerate(calls)},
            EventKind.ASSIGN: {s: i for i, (s, _) in enumerate(assigns)},
            EventKind.RETURN: {s: i for i, (s, _) in enumerate(returns)},
        }
        return calls, assigns, returns, self.cfg.finalise(remap)


def _first(pair: tuple[int, object]) -> int:
    return pair[0]


def _live(facts: _Facts, kind: EventKind, live: set[tuple[EventKind, int]]) -> _Facts:
    """Facts whose event is reachable, in source (preorder) order: calls under `if (0)`
    or IS_ENABLED() of a disabled option are not calls in this configuration."""
    return sorted((f for f in facts if (kind, f[0]) in live), key=_first)
