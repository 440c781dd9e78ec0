"""Configured macro instantiations: found in a function's source text, placed as events.

Macros leave no cursor of their own, so `container_of(...)` and friends are found by a
lexical scan of the function's text (`source_text.macro_uses`); libclang only confirms that
the name was really expanded there.  Each instantiation becomes a `MacroUse` fact and a
MACRO event, placed before the calls of the statement it appears in.
"""

from __future__ import annotations

from dataclasses import dataclass

from clang import cindex as ci

from kmeminit.analyzer.frontend.cfg_builder import CFGBuilder
from kmeminit.analyzer.frontend.libclang import (
    K_COMPOUND,
    K_DECL_REF,
    K_FUNCTION,
    K_TYPE_REF,
    Node,
    is_null,
)
from kmeminit.analyzer.frontend.source_text import Source, macro_uses
from kmeminit.analyzer.frontend.tu import TU
from kmeminit.analyzer.model import EventKind, Location, MacroUse


@dataclass
class _PendingMacro:
    use: MacroUse
    start: int
    end: int


class MacroEvents:
    """The macro part of `FunctionWalker`: `find_macros` once, then `emit_macros` before
    each statement's events and `macro_for` for each call."""

    x: TU
    cfg: CFGBuilder
    file_ptr: int | None  # the file of the function's text

    def __init__(self) -> None:
        self.macros: list[MacroUse] = []
        self._pending: list[_PendingMacro] = []  # found, no event placed yet
        self._ranges: list[tuple[int, int, str]] = []

    def find_macros(self, src: Source, path: str, start: int, end: int) -> None:
        found = macro_uses(src.text[start:end], self.x.macro_names)
        if not found:
            return
        for m in found:
            at = start + m.start
            cursor = self.x.cursor_at(self.file_ptr, at)
            if cursor._kind_id == K_COMPOUND and m.args and m.args[0][0]:
                # A statement-like macro (`VM_BUG_ON_PAGE(...)`, `pr_err(...)`): the name
                # maps to the enclosing block, its first argument to the code it became.
                # In a region the preprocessor skipped, that is the block too.
                cursor = self.x.cursor_at(self.file_ptr, start + m.args[0][1])
            if not self._active_macro(cursor, m.name):
                continue
            line, col = src.lines.position(at)
            eline, ecol = src.lines.position(start + m.end)
            use = MacroUse(
                index=len(self.macros), name=m.name,
                location=Location(path, line, col, eline, ecol),
                args=tuple(" ".join(a.split()) for a, _ in m.args),
                arg_types=tuple(self._arg_type(start + off, start + m.end)
                                for _, off in m.args),
                text=src.slice(at, start + m.end),
            )
            self.macros.append(use)
            self._ranges.append((at, start + m.end, m.name))
            self._pending.append(_PendingMacro(use, at, start + m.end))

    def _active_macro(self, c: ci.Cursor, name: str) -> bool:
        """The name really expanded as a macro here: it is not in a region the
        preprocessor skipped, and not a call of a function of the same name."""
        k = c._kind_id
        if is_null(c) or k in (K_COMPOUND, K_FUNCTION):
            return False
        if k == K_DECL_REF:
            ref = self.x.referenced(c)
            if ref is not None and ref._kind_id == K_FUNCTION and self.x.spelling(c) == name:
                return False
        return True

    def _arg_type(self, offset: int, limit: int) -> str:
        x = self.x
        c = x.cursor_at(self.file_ptr, offset)
        if is_null(c) or not (100 <= c._kind_id < 200 or c._kind_id == K_TYPE_REF):
            return ""
        f, start, _ = x.span(c)
        if f != self.file_ptr or not offset <= start < limit:
            return ""
        return x.type_of(c)

    def macro_for(self, f: int | None, offset: int) -> str | None:
        """Innermost configured macro instantiation containing `offset`."""
        best: tuple[int, str] | None = None
        if f == self.file_ptr:
            for start, end, name in self._ranges:
                if start <= offset < end and (best is None or start >= best[0]):
                    best = (start, name)
        return best[1] if best else None

    def emit_macros(self, n: Node) -> None:
        """Place MACRO events of instantiations inside statement `n`, before its calls."""
        if not self._pending:
            return
        f, start, end = self.x.span(n.c)
        if f != self.file_ptr or start < 0:
            return
        keep = []
        for p in self._pending:
            if start <= p.start < max(end, start + 1):
                self.cfg.append(EventKind.MACRO, p.use.index)
            else:
                keep.append(p)
        self._pending = keep
