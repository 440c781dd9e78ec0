"""Fix hints made concrete: a rule's `CheckedConversion` becomes edits of the source as
analysed, or a one-line reason why the code is not in a shape rewritten safely.

The rewrite is lexical, on the tokens around the two places the rule names (the guard
call and the conversion), and only for the shapes kernel walkers are written in:

    if (!pfn_valid(pfn))                      page = pfn_to_online_page(pfn);
            continue;                   →     if (!page)
    page = pfn_to_page(pfn);                          continue;

    if (pfn_valid(pfn)) {                     struct page *page = pfn_to_online_page(pfn);
            struct page *page =         →     ...
                    pfn_to_page(pfn);         if (page) {
    (declarations only before the if)

    page = pfn_valid(pfn) ? pfn_to_page(pfn) : NULL;   →   page = pfn_to_online_page(pfn);
    if (pfn_valid(pfn)) page = pfn_to_page(pfn); else page = NULL;   →   (the same)

Elsewhere, when the guard is a condition (`if`/`while`, under `!`, `&&`, `||`), the guard
itself becomes the online check: `pfn_valid(pfn) && PageReserved(pfn_to_page(pfn))` →
`pfn_to_online_page(pfn) && PageReserved(pfn_to_page(pfn))`.  Anything else (the guard's
result stored, a different pfn expression, the text no longer what was analysed) gets no
fix and the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from kmeminit.analyzer.results import CheckedConversion, Edit, Fix, FixHint
from kmeminit.analyzer.triage.sources import Sources

_TOKEN = re.compile(r"""
    (?P<skip>\s+|/\*.*?\*/|//[^\n]*)
  | (?P<tok>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|[A-Za-z_]\w*|\d[\w.]*
      |->|\+\+|--|&&|\|\||<<=|>>=|<<|>>|[<>=!+\-*/%&|^]=|\.\.\.|.)
""", re.VERBOSE | re.DOTALL)
_JUMPS = ("continue", "break", "return", "goto")
_KEYWORDS = frozenset({"return", "if", "else", "while", "for", "do", "switch", "case",
                       "goto", "break", "continue", "sizeof", "default"})


class NoFix(Exception):
    """The code is not in a shape this rewrite handles; str() says why."""


@dataclass(frozen=True)
class _Tok:
    text: str
    start: int  # offset in the file's text
    end: int


class _Text:
    """One file's text, its tokens and the conversions between offsets and positions."""

    def __init__(self, text: str, tokens: bool = True) -> None:
        self.text = text
        self.toks = [_Tok(m.group("tok"), m.start(), m.end())
                     for m in _TOKEN.finditer(text) if m.group("tok")] if tokens else []
        self.starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
        self.by_start = {t.start: i for i, t in enumerate(self.toks)}

    def offset(self, line: int, col: int) -> int:
        """The offset of a 1-based line and byte column."""
        if not 0 < line <= len(self.starts):
            raise NoFix(f"line {line} is beyond the end of the file")
        start = self.starts[line - 1]
        end = self.starts[line] if line < len(self.starts) else len(self.text)
        prefix = self.text[start:end].encode("utf-8", "surrogateescape")[:col - 1]
        return start + len(prefix.decode("utf-8", "replace"))

    def position(self, offset: int) -> tuple[int, int]:
        """(line, byte column) of an offset."""
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        col = len(self.text[self.starts[lo]:offset].encode("utf-8", "surrogateescape")) + 1
        return lo + 1, col

    def line_bounds(self, offset: int) -> tuple[int, int]:
        """Start of the line holding `offset`, and the start of the next line."""
        start = self.text.rfind("\n", 0, offset) + 1
        end = self.text.find("\n", offset)
        return start, len(self.text) if end < 0 else end + 1

    def indent(self, offset: int) -> str:
        start, _ = self.line_bounds(offset)
        return self.text[start:offset][:len(self.text[start:offset])
                                       - len(self.text[start:offset].lstrip())]

    def alone(self, first: int, last: int) -> bool:
        """Tokens first..last fill their lines (nothing but whitespace around them)."""
        start, _ = self.line_bounds(self.toks[first].start)
        _, end = self.line_bounds(self.toks[last].end - 1)
        return (not self.text[start:self.toks[first].start].strip()
                and not self.text[self.toks[last].end:end].strip())

    def match(self, i: int, opening: str = "(", closing: str = ")") -> int:
        """The index of the token closing the group opened at i."""
        depth = 0
        for j in range(i, len(self.toks)):
            depth += {opening: 1, closing: -1}.get(self.toks[j].text, 0)
            if depth == 0:
                return j
        raise NoFix("unbalanced parentheses")

    def opener(self, i: int, opening: str = "(", closing: str = ")") -> int | None:
        """The index of the unmatched `opening` before token i, if any."""
        depth = 0
        for j in range(i - 1, -1, -1):
            text = self.toks[j].text
            if text == closing:
                depth += 1
            elif text == opening:
                if depth == 0:
                    return j
                depth -= 1
        return None

    def words(self, first: int, last: int) -> str:
        """Tokens first..last joined without whitespace (for comparing expressions)."""
        return "".join(t.text for t in self.toks[first:last + 1])

    def source(self, first: int, last: int) -> str:
        return self.text[self.toks[first].start:self.toks[last].end]

    def tok(self, i: int) -> str:
        return self.toks[i].text if 0 <= i < len(self.toks) else ""


@dataclass(frozen=True)
class _Call:
    name: int  # token index of the callee
    close: int  # token index of its closing parenthesis


def _call_at(text: _Text, line: int, col: int, name: str, value: str) -> _Call:
    """The call `name(value)` whose name starts at line:col."""
    index = text.by_start.get(text.offset(line, col))
    if index is None or text.tok(index) != name or text.tok(index + 1) != "(":
        raise NoFix(f"line {line}:{col} is not a call of {name}() any more (or comes from "
                    "a macro)")
    close = text.match(index + 1)
    if text.words(index + 2, close - 1) != "".join(value.split()):
        raise NoFix(f"{name}() at line {line} takes another expression than '{value}'")
    return _Call(index, close)


def _edit(file: str, text: _Text, start: int, end: int, new: str) -> Edit:
    line, col = text.position(start)
    end_line, end_col = text.position(end)
    return Edit(file, line, col, end_line, end_col, new)


def _statement_end(text: _Text, i: int) -> int:
    """The index of the `;` ending the simple statement that starts at token i."""
    depth = 0
    for j in range(i, len(text.toks)):
        t = text.tok(j)
        depth += 1 if t in "([{" and len(t) == 1 else -1 if t in ")]}" and len(t) == 1 else 0
        if depth < 0:
            break
        if t == ";" and depth == 0:
            return j
    raise NoFix("no end of statement")


def _looks_like_declaration(text: _Text, i: int) -> bool:
    """`struct page *page = …;`, `u64 flags;`, `const T x …`: a type then a name."""
    first, second = text.tok(i), text.tok(i + 1)
    if first in ("struct", "union", "enum", "const", "static", "unsigned", "signed",
                 "volatile", "register"):
        return True
    if not re.match(r"[A-Za-z_]\w*$", first) or first in _KEYWORDS:
        return False
    j = i + 1
    while text.tok(j) == "*":
        j += 1
    return (re.match(r"[A-Za-z_]\w*$", text.tok(j)) is not None
            and text.tok(j) not in _KEYWORDS and text.tok(j + 1) in ("=", ";", ",", "[")
            and (second != "*" or j > i + 1))


def _assignment(text: _Text, conv: _Call) -> tuple[int, int, str]:
    """(first token, `;` token, variable) of `[type] var = conv(value);`."""
    var = conv.name - 2
    if text.tok(conv.name - 1) != "=" or not re.match(r"[A-Za-z_]\w*$", text.tok(var)):
        raise NoFix("the conversion is not assigned to a variable")
    if text.tok(conv.close + 1) != ";":
        raise NoFix("the conversion is part of a larger expression")
    first = var
    while first > 0 and text.tok(first - 1) not in (";", "{", "}", ")", ":"):
        first -= 1
    if text.tok(first - 1) == ")" or not text.alone(first, conv.close + 1):
        raise NoFix("the assignment shares its line with other code")
    return first, conv.close + 1, text.tok(var)


_ASSIGN = frozenset({"=", "+=", "-=", "*=", "/=", "%=", "|=", "&=", "^=", "<<=", ">>=",
                     "++", "--"})


def _modified(text: _Text, first: int, last: int, value: str) -> bool:
    """Whether a variable of `value` is assigned, incremented or decremented between
    tokens first and last (a loop's `pfn++` between the check and the conversion)."""
    names = set(re.findall(r"[A-Za-z_]\w*", value))
    return any(text.tok(i) in names and (text.tok(i + 1) in _ASSIGN
                                         or text.tok(i - 1) in ("++", "--"))
               for i in range(first + 1, last))


class _Rewrite:
    """The edits for one hint in one file."""

    def __init__(self, hint: CheckedConversion, file: str, text: _Text) -> None:
        self.hint, self.file, self.text = hint, file, text
        g, c = hint.guard_at, hint.conversion_at
        self.guard = _call_at(text, g.line, g.col, hint.guard, hint.value)
        self.conv = _call_at(text, c.line, c.col, hint.conversion, hint.value)

    def edit(self, start: int, end: int, new: str) -> Edit:
        return _edit(self.file, self.text, start, end, new)

    def rename_conversion(self) -> Edit:
        tok = self.text.toks[self.conv.name]
        return self.edit(tok.start, tok.end, self.hint.replacement)

    def replaced(self) -> str:
        return f"{self.hint.replacement}({self.hint.value})"

    def fix(self) -> Fix:
        for shape in (self.ternary, self.if_else, self.early_exit, self.enclosing):
            fix = shape()
            if fix is not None:
                return fix
        return self.condition()

    def _fix(self, what: str, edits: list[Edit]) -> Fix:
        h = self.hint
        return Fix(f"use {h.replacement}() instead of {h.guard}() + {h.conversion}() "
                   f"({what})", tuple(sorted(edits, key=lambda e: (e.line, e.col))))

    # `guard(v) ? conv(v) : NULL` -> `replacement(v)`
    def ternary(self) -> Fix | None:
        t, g, c = self.text, self.guard, self.conv
        if not (t.tok(g.close + 1) == "?" and c.name == g.close + 2
                and t.tok(c.close + 1) == ":" and t.tok(c.close + 2) == "NULL"
                and t.tok(g.name - 1) in ("=", "(", "return", ",")
                and t.tok(c.close + 3) in (";", ")", ",")):
            return None
        edit = self.edit(t.toks[g.name].start, t.toks[c.close + 2].end, self.replaced())
        return self._fix("the conditional expression", [edit])

    # `if (guard(v)) x = conv(v); else x = NULL;` -> `x = replacement(v);`
    def if_else(self) -> Fix | None:
        t, g, c = self.text, self.guard, self.conv
        if not (t.tok(g.name - 2) == "if" and t.tok(g.name - 1) == "("
                and t.tok(g.close + 1) == ")" and t.tok(c.name - 1) == "="
                and c.name - 2 == g.close + 2 and t.tok(c.close + 1) == ";"
                and t.tok(c.close + 2) == "else"
                and t.words(c.close + 3, c.close + 6) == f"{t.tok(c.name - 2)}=NULL;"):
            return None
        var = t.tok(c.name - 2)
        edit = self.edit(t.toks[g.name - 2].start, t.toks[c.close + 6].end,
                         f"{var} = {self.replaced()};")
        return self._fix("the if/else assignment", [edit])

    def _jump(self, first: int) -> tuple[int, str]:
        """(last token, text) of `continue;`/`break;`/`return …;`/`goto l;` at `first`,
        also inside `{ }`."""
        t = self.text
        if t.tok(first) == "{":
            close = t.match(first, "{", "}")
            last, jump = self._jump(first + 1)
            if last + 1 != close:
                raise NoFix("the guard's branch does more than leave")
            return close, jump
        if t.tok(first) not in _JUMPS:
            raise NoFix("the guard's branch does more than leave")
        end = _statement_end(t, first)
        jump = t.source(first, end)
        if "\n" in jump:
            raise NoFix("the guard's branch spans lines")
        return end, jump

    # `if (!guard(v)) <jump>; [type] x = conv(v);` ->
    # `[type] x = replacement(v); if (!x) <jump>;`
    def early_exit(self) -> Fix | None:
        t, g = self.text, self.guard
        if not (t.tok(g.name - 1) == "!" and t.tok(g.name - 2) == "("
                and t.tok(g.name - 3) == "if" and t.tok(g.close + 1) == ")"):
            return None
        if_tok = g.name - 3
        last, jump = self._jump(g.close + 2)
        if t.tok(last + 1) == "else" or not t.alone(if_tok, last):
            return None
        first, semi, var = _assignment(t, self.conv)
        if first != last + 1:
            return None  # other code between the check and the conversion
        declaration = first < self.conv.name - 2
        if declaration and _looks_like_declaration(t, semi + 1):
            return None  # a check here would put a statement before a declaration
        start, _ = t.line_bounds(t.toks[if_tok].start)
        _, end = t.line_bounds(t.toks[last].end - 1)
        _, after = t.line_bounds(t.toks[semi].end - 1)
        indent = t.indent(t.toks[first].start)
        check = f"{indent}if (!{var})\n{indent}\t{jump}\n"
        gap, _ = t.line_bounds(t.toks[first].start)
        if not t.text[end:gap].strip() and "\n" in t.text[end:gap]:
            end, check = gap, check + "\n"  # the blank line now follows the new check
        return self._fix("the early exit follows the conversion",
                         [self.edit(start, end, ""), self.rename_conversion(),
                          self.edit(after, after, check)])

    # `if (guard(v)) { type x = conv(v); …` (only declarations before the if) ->
    # `type x = replacement(v); … if (x) { …`
    def enclosing(self) -> Fix | None:
        t, g = self.text, self.guard
        if not (t.tok(g.name - 1) == "(" and t.tok(g.name - 2) == "if"
                and t.tok(g.close + 1) == ")" and t.tok(g.close + 2) == "{"):
            return None
        if_tok, brace = g.name - 2, g.close + 2
        first, semi, var = _assignment(t, self.conv)
        if first != brace + 1 or first == self.conv.name - 2:
            return None  # not a declaration opening the block
        if t.tok(t.match(brace, "{", "}") + 1) == "else":
            return None
        anchor = self._declarations_before(if_tok, var)
        if anchor is None:
            return None
        start, end = t.line_bounds(t.toks[first].start)
        if not t.text[end:t.line_bounds(end)[1]].strip():
            end = t.line_bounds(end)[1]  # and the blank line that followed it
        declaration = t.text[t.toks[first].start:t.toks[semi].end]
        declaration = declaration.replace(self.hint.conversion + "(",
                                          self.hint.replacement + "(", 1)
        indent = t.indent(t.toks[if_tok].start)
        at, blank = anchor
        new = f"{indent}{declaration}\n" + ("\n" if blank else "")
        return self._fix("the declaration moves before the check",
                         [self.edit(at, at, new),
                          self.edit(t.toks[g.name].start, t.toks[g.close].end, var),
                          self.edit(start, end, "")])

    def _declarations_before(self, if_tok: int, var: str) -> tuple[int, bool] | None:
        """Where the hoisted declaration goes: after the declarations that open the block
        holding the if (None when a statement comes first, or `var` is taken); and whether
        a blank line must follow it (no declaration before it)."""
        t = self.text
        opening = t.opener(if_tok, "{", "}")
        if opening is None:
            return None
        i, last = opening + 1, None
        while i < if_tok:
            if not _looks_like_declaration(t, i):
                return None
            end = _statement_end(t, i)
            if var in (tok.text for tok in t.toks[i:end]):
                return None
            last, i = end, end + 1
        if last is None:
            return t.line_bounds(t.toks[opening].start)[1], True
        return t.line_bounds(t.toks[last].end - 1)[1], False

    # the guard, in a condition, becomes the online check
    def condition(self) -> Fix:
        t, g = self.text, self.guard
        i, close = g.name, g.close  # the subexpression holding the guard
        while True:
            before, after = t.tok(i - 1), t.tok(close + 1)
            if before == "!":
                i -= 1
                continue
            opening = i - 1 if before == "(" else t.opener(i)
            if (before not in ("(", "&&", "||") or after not in (")", "&&", "||")
                    or opening is None):
                raise NoFix(f"{self.hint.guard}() at line {self.hint.guard_at.line} is not "
                            "a condition of its own")
            if t.tok(opening - 1) in ("if", "while"):
                break
            i, close = opening, t.match(opening)
        if self.conv.name < g.name or _modified(t, g.close, self.conv.name, self.hint.value):
            raise NoFix(f"'{self.hint.value}' may change between {self.hint.guard}() at line "
                        f"{self.hint.guard_at.line} and the conversion")
        tok = t.toks[g.name]
        return self._fix("the check itself becomes the online check",
                         [self.edit(tok.start, tok.end, self.hint.replacement)])


class Fixer:
    """Makes fixes concrete on the text as analysed; each file is tokenised once."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self._texts: dict[str, _Text | None] = {}

    def _text(self, file: str) -> _Text:
        if file not in self._texts:
            content = self.sources.text(file)
            self._texts[file] = None if content is None else _Text(content)
        text = self._texts[file]
        if text is None:
            raise NoFix(f"{file}: cannot be read")
        return text

    def fix(self, hint: FixHint) -> Fix:
        """The edits of `hint`; NoFix with the reason when there are none."""
        if hint.guard_at.file != hint.conversion_at.file:
            raise NoFix("the check and the conversion are in different files")
        file = hint.conversion_at.file
        return _Rewrite(hint, file, self._text(file)).fix()


def spans(text: str, edits: Iterable[Edit]) -> list[tuple[int, int, str]]:
    """The edits as (start, end, new text) offsets in `text`."""
    where = _Text(text, tokens=False) if edits else None
    return [(where.offset(e.line, e.col), where.offset(e.end_line, e.end_col), e.text)
            for e in edits] if where else []


def apply_spans(text: str, changes: Iterable[tuple[int, int, str]]) -> str:
    """`text` with non-overlapping (start, end, new) changes made."""
    out, pos = [], 0
    for start, end, new in sorted(changes, key=lambda c: (c[0], c[1])):
        out += [text[pos:start], new]
        pos = end
    return "".join(out) + text[pos:]


__all__ = ["Fixer", "NoFix", "apply_spans", "spans"]
