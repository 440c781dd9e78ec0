"""Expressions: their events (calls, assignments, short-circuit branches) and their values.

The expression part of `FunctionWalker`.  Calls and assignments become facts in source
order and events in evaluation order; `&&`, `||` and `?:` branch the CFG; an operand
becomes a `Value` (parameter, local, global, field, address of one of them, call, NULL,
literal).  Nesting past MAX_DEPTH is walked flat: calls still recorded, no branching.
"""

from __future__ import annotations

import ctypes
import re

from kmeminit.analyzer.frontend.cfg_builder import CFGBuilder
from kmeminit.analyzer.frontend.libclang import (
    K_BINARY,
    K_CALL,
    K_CAST,
    K_CHAR_LIT,
    K_COMPOUND,
    K_COMPOUND_ASSIGN,
    K_CONDITIONAL,
    K_DECL_REF,
    K_ENUM_CONST,
    K_FLOAT_LIT,
    K_FUNCTION,
    K_GNU_NULL,
    K_IMAG_LIT,
    K_INT_LIT,
    K_MEMBER_EXPR,
    K_PAREN,
    K_PARM,
    K_STMT_EXPR,
    K_STRING_LIT,
    K_TYPE_REF,
    K_UNARY,
    K_UNEXPOSED_EXPR,
    K_VAR,
    OP_ASSIGN,
    OP_LAND,
    OP_LOR,
    UOP_ADDR,
    UOP_DEREF,
    Node,
    strip,
)
from kmeminit.analyzer.frontend.tu import TU
from kmeminit.analyzer.model import (
    GLOBAL_FP,
    EventKind,
    FnPtrStore,
    Level,
    Location,
    MacroUse,
    Notification,
    Value,
    ValueKind,
)

MAX_DEPTH = 200  # statement/expression nesting walked structurally; deeper is flattened
MAX_VALUE_DEPTH = 6  # nesting of Value.base / Value.args
_LITERALS = {K_INT_LIT, K_FLOAT_LIT, K_IMAG_LIT, K_STRING_LIT, K_CHAR_LIT}
_TRANSPARENT_CALLS = {"__builtin_expect", "__builtin_expect_with_probability",
                      "__builtin_constant_p"}


class Expressions:
    """Expression walking for `FunctionWalker`; `stmt` (a GNU statement expression) and
    `macro_for` come from its other parts."""

    x: TU
    lib: ctypes.CDLL
    cfg: CFGBuilder
    name: str
    params: dict[str, int]
    depth: int
    # (preorder serial, CallSite / Assign fields after `index`)
    calls: list[tuple[int, tuple]]
    assigns: list[tuple[int, tuple]]
    stores: list[FnPtrStore]
    macros: list[MacroUse]

    def __init__(self) -> None:
        self._seen_calls: set[int] = set()
        self._texts: dict[int, str] = {}  # by node serial: call sites are also values
        self._flattened = False

    def expr(self, n: Node) -> None:
        if self.depth > MAX_DEPTH:
            self.flat(n)
            return
        self.depth += 1
        k = n.k
        if k == K_CALL:
            self._call(n)
        elif k == K_BINARY:
            self._binary(n)
        elif k == K_COMPOUND_ASSIGN:
            for kid in n.kids:
                self.expr(kid)
            if len(n.kids) == 2:
                self._assign(n, n.kids[0], n.kids[1], compound=True)
        elif k == K_CONDITIONAL and len(n.kids) == 3:
            self._conditional(n)
        elif k == K_STMT_EXPR:
            for kid in n.kids:
                self.stmt(kid)
        else:
            for kid in n.kids:
                if kid.kids:  # leaves (names, literals) hold no events
                    self.expr(kid)
        self.depth -= 1

    def _binary(self, n: Node) -> None:
        op = self.lib.clang_getCursorBinaryOperatorKind(n.c)
        if len(n.kids) != 2:
            for kid in n.kids:
                self.expr(kid)
        elif op == OP_LAND or op == OP_LOR:
            after = self.cfg.new_block()
            self.cond(n, after, after)
            self.cfg.current = after
        elif op == OP_ASSIGN:
            self.expr(n.kids[1])
            self.expr(n.kids[0])
            self._assign(n, n.kids[0], n.kids[1])
        else:
            self.expr(n.kids[0])
            self.expr(n.kids[1])

    def _assign(self, n: Node, lhs: Node, rhs: Node, compound: bool = False) -> None:
        target = self.value(lhs)
        if compound:
            value = Value(ValueKind.OTHER, self.x.text(n.c), self.x.type_of(n.c))
            self.assigns.append((n.i, (target, value, self.x.loc(n.c))))
            self.cfg.append(EventKind.ASSIGN, n.i)
            return
        self.record_assign(n.i, target, rhs, self.x.loc(n.c))

    def record_assign(self, serial: int, target: Value, value: Node, loc: Location) -> None:
        self.assigns.append((serial, (target, self.value(value), loc)))
        self.cfg.append(EventKind.ASSIGN, serial)
        if target.kind is ValueKind.FIELD and target.record and target.field:
            fn = self.x.function_ref(value)
            if fn is not None:
                self.stores.append(FnPtrStore(target.record, target.field, fn[0], fn[1],
                                              loc, self.name))
        elif target.kind is ValueKind.GLOBAL and target.usr:
            fn = self.x.function_ref(value)
            if fn is not None:
                self.stores.append(FnPtrStore(GLOBAL_FP, target.usr, fn[0], fn[1], loc,
                                              self.name))

    def _conditional(self, n: Node) -> None:
        cfg = self.cfg
        t, f, after = cfg.new_block(), cfg.new_block(), cfg.new_block()
        self.cond(n.kids[0], t, f)
        cfg.current = t
        self.expr(n.kids[1])
        cfg.jump(after)
        cfg.current = f
        self.expr(n.kids[2])
        cfg.jump(after)
        cfg.current = after

    def cond(self, n: Node, t: int, f: int) -> None:
        """Evaluate condition `n`, branching to `t` / `f`; `&&` and `||` short-circuit."""
        cfg = self.cfg
        s = strip(n)
        if s.k == K_BINARY and len(s.kids) == 2 and self.depth <= MAX_DEPTH:
            op = self.lib.clang_getCursorBinaryOperatorKind(s.c)
            if op == OP_LAND or op == OP_LOR:
                mid = cfg.new_block()
                self.depth += 1
                if op == OP_LAND:
                    self.cond(s.kids[0], mid, f)
                else:
                    self.cond(s.kids[0], t, mid)
                cfg.current = mid
                self.cond(s.kids[1], t, f)
                self.depth -= 1
                return
        value = self.x.constant(s.c) if s.k != K_CALL else None
        if value is not None:
            cfg.jump(t if value else f)  # `while (0)`, IS_ENABLED(): one way only
            return
        self.expr(n)
        cfg.branch(self._text(n), t, f)

    def _call(self, n: Node) -> None:
        key = n.c.data[1]
        if key in self._seen_calls or not n.kids:
            for kid in n.kids:
                self.expr(kid)
            return
        self._seen_calls.add(key)
        callee_node, args = n.kids[0], n.kids[1:]
        callee = self._callee(callee_node)
        if callee[0] in _TRANSPARENT_CALLS:
            for a in args:
                self.expr(a)
            return
        if strip(callee_node).k != K_DECL_REF:
            self.expr(callee_node)
        for a in args:
            self.expr(a)
        f, line, col, off = self.x.pos(self.lib.clang_getCursorLocation(n.c))
        site = (callee[0], callee[1], Location(self.x.file_name(f), line, col),
                tuple(self.value(a) for a in args), callee[2], callee[3], callee[4],
                self._text(n), self.macro_for(f, off) if self.macros else None, callee[5])
        self.calls.append((n.i, site))
        self.cfg.append(EventKind.CALL, n.i)

    def _callee(self, n: Node
                ) -> tuple[str, str | None, bool, str | None, str | None, int | None]:
        """(name, usr, indirect, record, field, parameter index) of a call's callee
        expression; the index is set for a call through a parameter (`func(mem, arg)`)."""
        s = strip(n)
        while s.k == K_UNARY and s.kids and \
                self.lib.clang_getCursorUnaryOperatorKind(s.c) == UOP_DEREF:
            s = strip(s.kids[0])  # (*fp)(x)
        x = self.x
        if s.k == K_DECL_REF:
            ref = x.referenced(s.c)
            name = x.decl_name(ref) if ref is not None else x.spelling(s.c)
            if ref is not None and ref._kind_id == K_FUNCTION:
                return name, x.usr(ref), False, None, None, None
            if ref is not None and ref._kind_id == K_VAR and \
                    self.lib.clang_getCursorLinkage(ref) > 1:
                # a file-scope function pointer (`online_page_callback(page, order)`):
                # resolved through the functions stored into that variable
                return name, None, True, GLOBAL_FP, x.usr(ref), None
            if ref is not None and ref._kind_id == K_PARM:
                # a callback the caller handed over: resolved at each call of this function
                return name, None, True, None, None, self.params.get(name)
            return name, None, True, None, None, None
        if s.k == K_MEMBER_EXPR:
            ref = x.referenced(s.c)
            fld = x.decl_name(ref) if ref is not None else x.spelling(s.c)
            return (fld, None, True, x.field_record(ref) if ref is not None else None, fld,
                    None)
        return self._text(n), None, True, None, None, None

    def flat(self, n: Node) -> None:
        """Past MAX_DEPTH: record calls straight-line, without recursion or branching."""
        if not self._flattened:
            self._flattened = True
            loc = self.x.loc(n.c)
            self.x.notes.append(Notification(
                Level.NOTE, f"{self.name}: nesting deeper than {MAX_DEPTH}; "
                "events below it are treated as straight-line code", loc.file, loc.line))
        stack = [n]
        order: list[Node] = []
        while stack:
            node = stack.pop()
            order.append(node)
            stack.extend(reversed(node.kids))
        for node in reversed(order):  # children before parents: evaluation order
            if node.k == K_CALL and node.kids and node.c.data[1] not in self._seen_calls:
                self._seen_calls.add(node.c.data[1])
                callee = self._callee(node.kids[0])
                f, line, col, _ = self.x.pos(self.lib.clang_getCursorLocation(node.c))
                self.calls.append((node.i, (
                    callee[0], callee[1], Location(self.x.file_name(f), line, col), (),
                    callee[2], callee[3], callee[4], self.x.text(node.c), None, callee[5])))
                self.cfg.append(EventKind.CALL, node.i)

    # -- values

    def _text(self, n: Node) -> str:
        text = self._texts.get(n.i)
        if text is None:
            text = self._texts[n.i] = self.x.text(n.c)
        return text

    def value(self, n: Node, depth: int = 0) -> Value:
        x = self.x
        text, typ = self._text(n), x.type_of(n.c)
        s = strip(n)
        k = s.k
        if depth > MAX_VALUE_DEPTH:
            return Value(ValueKind.OTHER, text, typ)
        if k == K_GNU_NULL:
            return Value(ValueKind.NULL, text, typ)
        if k in _LITERALS:
            if k == K_INT_LIT and ("*" in typ or s is not n and
                                   "*" in x.type_of(_outer_cast(n).c)) \
                    and x.constant(s.c) == 0:
                return Value(ValueKind.NULL, text, typ)
            return Value(ValueKind.LITERAL, text, typ)
        if k == K_DECL_REF:
            return self._decl_value(s, text, typ, ValueKind.PARAM)
        if k == K_MEMBER_EXPR:
            return self._field_value(s, text, typ, ValueKind.FIELD, depth)
        if k == K_UNARY and s.kids and \
                self.lib.clang_getCursorUnaryOperatorKind(s.c) == UOP_ADDR:
            inner = strip(s.kids[0])
            if inner.k == K_DECL_REF:
                return self._decl_value(inner, text, typ, ValueKind.ADDR_LOCAL)
            if inner.k == K_MEMBER_EXPR:
                return self._field_value(inner, text, typ, ValueKind.ADDR_FIELD, depth)
        if k == K_CALL and s.kids:
            callee = self._callee(s.kids[0])
            args = tuple(self.value(a, MAX_VALUE_DEPTH) for a in s.kids[1:]) \
                if depth == 0 else ()
            return Value(ValueKind.CALL, text, typ, name=callee[0], usr=callee[1], args=args)
        alternatives = self._alternatives(s)
        if alternatives:
            return Value(ValueKind.CHOICE, text, typ,
                         args=tuple(self.value(a, depth) for a in alternatives))
        return Value(ValueKind.OTHER, text, typ)

    def _alternatives(self, n: Node) -> list[Node]:
        """The operands a conditional expression may yield, `?:` chains flattened (also
        through statement expressions, as in the min()/max() of older kernels): `c ? a : b`
        gives a and b; GNU `a ?: b`, an unexposed expression of four children (the common
        operand, two opaque copies of it, the alternative), gives a and b.  Empty for
        anything else, and for chains of more than MAX_ALTERNATIVES operands."""
        if n.k == K_STMT_EXPR:  # `({ ...; a < b ? a : b; })`, as min() once was
            last = _result(n)
            n = strip(last) if last is not None else n
        if not self._is_conditional(n):
            return []
        out: list[Node] = []
        work = [n]
        while work and len(out) + len(work) <= MAX_ALTERNATIVES:
            operand = work.pop()
            node = strip(operand)
            if node.k == K_STMT_EXPR and _result(node) is not None:
                work.append(_result(node))  # type: ignore[arg-type]
            elif node.k == K_CONDITIONAL and len(node.kids) == 3:
                work += [node.kids[2], node.kids[1]]
            elif self._is_conditional(node):
                work += [node.kids[3], node.kids[0]]
            else:
                out.append(operand)  # unstripped: `(void *)0` is NULL by its cast
        return [] if work else out

    def _is_conditional(self, n: Node) -> bool:
        if n.k == K_CONDITIONAL:
            return len(n.kids) == 3
        return n.k == K_UNEXPOSED_EXPR and len(n.kids) == 4 and \
            bool(_GNU_CONDITIONAL.search(self._text(n)))

    def _decl_value(self, s: Node, text: str, typ: str, kind: ValueKind) -> Value:
        """A named declaration: `kind` is PARAM for a plain read, ADDR_LOCAL for `&x`."""
        x = self.x
        ref = x.referenced(s.c)
        addr = kind is ValueKind.ADDR_LOCAL
        if ref is None:
            return Value(ValueKind.OTHER, text, typ, name=x.spelling(s.c))
        name = x.decl_name(ref)
        rk = ref._kind_id
        if rk == K_ENUM_CONST:
            return Value(ValueKind.LITERAL, text, typ, name=name)
        if rk == K_PARM and name in self.params and not addr:
            return Value(ValueKind.PARAM, text, typ, param=self.params[name], name=name)
        if rk == K_FUNCTION or (rk == K_VAR and self.lib.clang_getCursorLinkage(ref) > 1):
            return Value(ValueKind.ADDR_GLOBAL if addr else ValueKind.GLOBAL, text, typ,
                         name=name, usr=x.usr(ref))
        if rk in (K_VAR, K_PARM):
            return Value(ValueKind.ADDR_LOCAL if addr else ValueKind.LOCAL, text, typ,
                         name=name)
        return Value(ValueKind.OTHER, text, typ, name=name)

    def _field_value(self, s: Node, text: str, typ: str, kind: ValueKind,
                     depth: int) -> Value:
        x = self.x
        ref = x.referenced(s.c)
        base_node = s.kids[0] if s.kids else None
        while base_node is not None and strip(base_node).k == K_MEMBER_EXPR and \
                _anonymous(x.spelling(strip(base_node).c)):
            inner = strip(base_node)  # implicit access to an anonymous struct/union member
            base_node = inner.kids[0] if inner.kids else None
        base = self.value(base_node, depth + 1) if base_node is not None else None
        return Value(kind, text, typ, record=x.field_record(ref) if ref is not None else None,
                     field=x.decl_name(ref) if ref is not None else x.spelling(s.c),
                     base=base)


MAX_ALTERNATIVES = 16  # operands of one `?:` chain kept as a CHOICE; longer chains: OTHER
_GNU_CONDITIONAL = re.compile(r"\?\s*:")


def _result(n: Node) -> Node | None:
    """The value of a GNU statement expression: its last statement, if an expression."""
    body = n.kids[0] if n.kids and n.kids[0].k == K_COMPOUND else None
    if body is None or not body.kids:
        return None
    last = body.kids[-1]
    return last if 100 <= last.k < 200 else None


def _anonymous(name: str) -> bool:
    """Spelling of an anonymous struct/union member: empty or `union page::(anonymous at
    ...)`."""
    return not name or "(anonymous" in name or "(unnamed" in name


def _outer_cast(n: Node) -> Node:
    """The innermost explicit cast above the literal `n` strips to: `(void *)0`."""
    last = n
    while True:
        if n.k == K_CAST:
            last = n
        if (n.k == K_UNEXPOSED_EXPR or n.k == K_PAREN) and len(n.kids) == 1:
            n = n.kids[0]
        elif n.k == K_CAST and n.kids and n.kids[-1].k != K_TYPE_REF:
            n = n.kids[-1]
        else:
            return last
