"""Statements: a function body's control flow, built into the CFG as it is walked.

The statement part of `FunctionWalker`.  Each statement kind has a handler (the `_STMT`
table) that opens blocks and wires edges through `CFGBuilder`: if/else, the loops,
switch/case with its implicit default edge, labels and goto, return.  Conditions and
plain expression statements are handed to the expression part; MACRO events of a
statement are placed before its calls.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

from kmeminit.analyzer.frontend.cfg_builder import CFGBuilder
from kmeminit.analyzer.frontend.expressions import MAX_DEPTH
from kmeminit.analyzer.frontend.libclang import (
    K_BINARY,
    K_BREAK,
    K_CASE,
    K_COMPOUND,
    K_CONTINUE,
    K_DECL_STMT,
    K_DEFAULT,
    K_DO,
    K_FOR,
    K_GOTO,
    K_IF,
    K_INDIRECT_GOTO,
    K_INIT_LIST,
    K_LABEL,
    K_LABEL_REF,
    K_NULL_STMT,
    K_RETURN,
    K_SWITCH,
    K_VAR,
    K_WHILE,
    OP_ASSIGN,
    Node,
    is_null,
    strip,
)
from kmeminit.analyzer.frontend.source_text import lex
from kmeminit.analyzer.frontend.tu import TU
from kmeminit.analyzer.model import EXIT_BLOCK, EventKind, Value, ValueKind


class Statements:
    """Statement walking for `FunctionWalker`; `expr`, `cond`, `value`, `record_assign`,
    `flat` and `emit_macros` come from its other parts."""

    x: TU
    lib: ctypes.CDLL
    cfg: CFGBuilder
    depth: int
    returns: list[tuple[int, tuple]]  # (preorder serial, Return fields after `index`)

    def __init__(self) -> None:
        # (dispatch block, condition text, [has a default label]) of the open switches
        self._switches: list[tuple[int, str, list[bool]]] = []

    def stmt(self, n: Node) -> None:
        if self.depth > MAX_DEPTH:
            self.flat(n)
            return
        self.depth += 1  # no try/finally: after an exception the walker is discarded
        handler = _STMT.get(n.k)
        if handler is not None:
            handler(self, n)
        else:
            self.emit_macros(n)
            self.expr(n)
        self.depth -= 1

    def _compound(self, n: Node) -> None:
        for kid in n.kids:
            self.stmt(kid)

    def _decl_stmt(self, n: Node) -> None:
        self.emit_macros(n)
        for kid in n.kids:
            if kid.k == K_VAR:
                self._var(kid)

    def _var(self, n: Node) -> None:
        if is_null(self.lib.clang_Cursor_getVarDeclInitializer(n.c)):
            return
        init = next((k for k in reversed(n.kids) if 100 <= k.k < 200), None)
        if init is None:
            return
        self.expr(init)
        name = self.x.spelling(n.c)
        local = Value(ValueKind.LOCAL, name, self.x.type_of(n.c), name=name)
        loc = self.x.loc(n.c)
        if strip(init).k == K_INIT_LIST:
            for record, fld, value in self.x.init_items(strip(init)):
                if fld is None:
                    continue
                target = Value(ValueKind.FIELD, f"{name}.{fld}", record=record, field=fld,
                               base=local)
                self.record_assign(value.i, target, value, self.x.loc(value.c))
            return
        self.record_assign(n.i, local, init, loc)

    def _if(self, n: Node) -> None:
        if len(n.kids) < 2:
            self.expr(n)
            return
        cfg = self.cfg
        then_b, after = cfg.new_block(), cfg.new_block()
        else_b = cfg.new_block() if len(n.kids) > 2 else after
        self.emit_macros(n.kids[0])
        self.cond(n.kids[0], then_b, else_b)
        cfg.current = then_b
        self.stmt(n.kids[1])
        cfg.jump(after)
        if len(n.kids) > 2:
            cfg.current = else_b
            self.stmt(n.kids[2])
            cfg.jump(after)
        cfg.current = after

    def _while(self, n: Node) -> None:
        if len(n.kids) < 2:
            self.expr(n)
            return
        self._loop(n.kids[0], None, n.kids[1])

    def _for(self, n: Node) -> None:
        init, cond, inc, body = self._for_parts(n)
        if body is None:
            self.expr(n)
            return
        if init is not None:
            self.stmt(init)
        self._loop(cond, inc, body)

    def _loop(self, cond: Node | None, inc: Node | None, body: Node) -> None:
        cfg = self.cfg
        head, body_b, after = cfg.new_block(), cfg.new_block(), cfg.new_block()
        cont = cfg.new_block() if inc is not None else head
        cfg.start(head)
        if cond is not None:
            self.emit_macros(cond)
            self.cond(cond, body_b, after)
        else:
            cfg.jump(body_b)
        cfg.current = body_b
        cfg.push_loop(after, cont)
        self.stmt(body)
        cfg.pop()
        if inc is not None:
            cfg.start(cont)
            self.emit_macros(inc)
            self.expr(inc)
        cfg.jump(head)
        cfg.current = after

    def _do(self, n: Node) -> None:
        if len(n.kids) < 2:
            self.expr(n)
            return
        cfg = self.cfg
        body_b, cond_b, after = cfg.new_block(), cfg.new_block(), cfg.new_block()
        cfg.start(body_b)
        cfg.push_loop(after, cond_b)
        self.stmt(n.kids[0])
        cfg.pop()
        cfg.start(cond_b)
        self.emit_macros(n.kids[1])
        self.cond(n.kids[1], body_b, after)
        cfg.current = after

    def _for_parts(self, n: Node) -> tuple[Node | None, ...]:
        """(init, cond, inc, body): libclang omits absent parts, so place the present ones
        by the semicolons of the `for (;;)` header."""
        kids = n.kids
        if not kids:
            return None, None, None, None
        if len(kids) == 4:
            return kids[0], kids[1], kids[2], kids[3]
        if len(kids) == 1:
            return None, None, None, kids[0]
        slots = self._for_slots(n, kids[:-1])
        parts: list[Node | None] = [None, None, None]
        for kid, slot in zip(kids[:-1], slots, strict=True):
            parts[slot] = kid
        return parts[0], parts[1], parts[2], kids[-1]

    def _for_slots(self, n: Node, heads: list[Node]) -> list[int]:
        x = self.x
        f, start, end = x.span(n.c)
        offsets = [x.span(k.c) for k in heads]
        if f and start >= 0 and all(o[0] == f and o[1] > start for o in offsets) \
                and len({o[1] for o in offsets}) == len(offsets):
            text = x.source(x.file_name(f)).text[start:end]
            semis = _header_semicolons(text)
            if len(semis) == 2:
                return [sum(o[1] - start > s for s in semis) for o in offsets]
        # From a macro body: a declaration or assignment first is the init; the rest
        # fill cond then inc.
        first = strip(heads[0])
        if heads[0].k == K_DECL_STMT or (first.k == K_BINARY and self.lib.
                                         clang_getCursorBinaryOperatorKind(first.c)
                                         == OP_ASSIGN):
            return [0, 1, 2][:len(heads)]
        return [1, 2][:len(heads)]

    def _switch(self, n: Node) -> None:
        if len(n.kids) < 2:
            self.expr(n)
            return
        cfg = self.cfg
        cond = n.kids[0]
        self.emit_macros(cond)
        self.expr(cond)
        dispatch = cfg.ensure_current()
        text = self.x.text(cond.c)
        after = cfg.new_block()
        has_default = [False]
        self._switches.append((dispatch, text, has_default))
        cfg.push_switch(after)
        cfg.current = None
        self.stmt(n.kids[-1])
        cfg.pop()
        self._switches.pop()
        cfg.jump(after)
        if not has_default[0]:
            cfg.edge(dispatch, after, text, "default")
        cfg.current = after

    def _case(self, n: Node) -> None:
        if not self._switches or not n.kids:
            self._compound(n)
            return
        dispatch, text, has_default = self._switches[-1]
        if n.k == K_DEFAULT:
            has_default[0] = True
            branch = "default"
        else:
            values = [self.x.text(k.c) for k in n.kids[:-1]]
            branch = "case " + " ... ".join(values)
        block = self.cfg.new_block()
        self.cfg.edge(dispatch, block, text, branch)
        self.cfg.start(block)
        self.stmt(n.kids[-1])

    # Labels are keyed by their statement, not their name: GNU local labels (`__label__
    # __out;` in wait_event()) repeat the same name in every expansion.

    def _label(self, n: Node) -> None:
        self.cfg.start(self.cfg.label(n.c.data[1]))
        if n.kids:
            self.stmt(n.kids[-1])

    def _goto(self, n: Node) -> None:
        label = next((k for k in n.kids if k.k == K_LABEL_REF), None)
        target = self.x.referenced(label.c) if label is not None else None
        if target is None:
            self.cfg.jump(EXIT_BLOCK)
            return
        self.cfg.jump(self.cfg.label(target.data[1]))

    def _indirect_goto(self, n: Node) -> None:
        self.expr(n)
        self.cfg.jump(EXIT_BLOCK)  # computed goto: targets unknown

    def _return(self, n: Node) -> None:
        self.emit_macros(n)
        value = None
        if n.kids:
            self.expr(n.kids[0])
            value = self.value(n.kids[0])
        self.returns.append((n.i, (value, self.x.loc(n.c))))
        self.cfg.append(EventKind.RETURN, n.i)
        self.cfg.return_()


def _header_semicolons(text: str) -> list[int]:
    """Offsets of the two `;` separating the parts of a `for (...)` header."""
    depth = 0
    semis: list[int] = []
    for tok in lex(text):
        if tok.text in "([{" and tok.kind == "punct":
            depth += 1
        elif tok.text in ")]}" and tok.kind == "punct":
            depth -= 1
            if depth == 0:
                break
        elif tok.text == ";" and depth == 1:
            semis.append(tok.start)
    return semis


_STMT: dict[int, Callable[[Statements, Node], None]] = {
    K_COMPOUND: Statements._compound,
    K_DECL_STMT: Statements._decl_stmt,
    K_IF: Statements._if,
    K_WHILE: Statements._while,
    K_DO: Statements._do,
    K_FOR: Statements._for,
    K_SWITCH: Statements._switch,
    K_CASE: Statements._case,
    K_DEFAULT: Statements._case,
    K_LABEL: Statements._label,
    K_GOTO: Statements._goto,
    K_INDIRECT_GOTO: Statements._indirect_goto,
    K_RETURN: Statements._return,
    K_BREAK: lambda w, n: w.cfg.break_(),
    K_CONTINUE: lambda w, n: w.cfg.continue_(),
    K_NULL_STMT: lambda w, n: None,
}
