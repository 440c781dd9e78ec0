"""Source text, clang-free: files' bytes, line positions and a light C lexer.

`lex` / `macro_uses` / `section_markers` work on source text, so macro instantiations and
section markers cost a regex scan instead of a libclang tokenisation; `LineIndex` turns
byte offsets into lines and columns, `Source` holds one file for text slices.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass

TEXT_LIMIT = 200  # characters of source text kept in a fact

_TOKEN = re.compile(r"""
    (?P<ws>(?:\s|\\\n)+)
  | (?P<comment>//[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<string>[LuU8]*"(?:\\.|[^"\\\n])*"?)
  | (?P<char>[LuU8]*'(?:\\.|[^'\\\n])*'?)
  | (?P<ident>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<number>\.?[0-9](?:[eEpP][+-]|[A-Za-z0-9_.'])*)
  | (?P<punct>\.\.\.|->|<<=|>>=|[-+*/%&|^<>=!]=|\+\+|--|&&|\|\||<<|>>|\#\#|.)
""", re.VERBOSE | re.DOTALL)
_DIRECTIVE = re.compile(r"^[ \t]*#(?:[^\n\\]|\\.)*", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Token:
    kind: str  # ident | number | string | char | punct
    text: str
    start: int
    end: int


def lex(text: str) -> list[Token]:
    """C tokens of `text`, without comments and preprocessor directive lines."""
    text = _DIRECTIVE.sub(lambda m: " " * len(m.group()), text)
    return [Token(m.lastgroup, m.group(), m.start(), m.end())
            for m in _TOKEN.finditer(text)
            if m.lastgroup not in ("ws", "comment")]


@dataclass(frozen=True)
class MacroText:
    """A possible macro instantiation found in source text (offsets relative to it)."""

    name: str
    start: int
    end: int  # just after the closing parenthesis
    args: tuple[tuple[str, int], ...]  # (argument text, offset of its first token)


def macro_uses(text: str, names: frozenset[str] | set[str]) -> list[MacroText]:
    """Every `name(` with `name` in `names`, with its arguments split at top-level commas.
    An instantiation without a closing parenthesis (cut-off text) is dropped."""
    if not any(n in text for n in names):
        return []
    toks = lex(text)
    out = []
    for i, tok in enumerate(toks):
        if tok.kind == "ident" and tok.text in names and i + 1 < len(toks) \
                and toks[i + 1].text == "(":
            use = _macro_args(text, toks, i)
            if use is not None:
                out.append(use)
    return out


def _macro_args(text: str, toks: list[Token], i: int) -> MacroText | None:
    depth = 0
    args: list[tuple[str, int]] = []
    first: Token | None = None
    last: Token | None = None
    for tok in toks[i + 1:]:
        if tok.text in "([{" and tok.kind == "punct":
            depth += 1
            if depth == 1:
                continue
        elif tok.text in ")]}" and tok.kind == "punct":
            depth -= 1
            if depth == 0:
                if first is not None:
                    args.append((text[first.start:last.end], first.start))
                return MacroText(toks[i].text, toks[i].start, tok.end, tuple(args))
        elif tok.text == "," and depth == 1:
            args.append((text[first.start:last.end] if first else "",
                         first.start if first else tok.start))
            first = last = None
            continue
        if first is None:
            first = tok
        last = tok
    return None


_SECTION_WORDS = {"section", "__section__", "__section"}


def section_markers(text: str, markers: Iterable[str]) -> tuple[str, ...]:
    """Section markers (`__meminit`) and explicit section names (`.meminit.text`) written
    in a declaration's text before the function name."""
    wanted = set(markers)
    toks = lex(text)
    out: list[str] = []
    for i, tok in enumerate(toks):
        if tok.kind == "ident" and tok.text in wanted:
            out.append(tok.text)
        elif tok.kind == "ident" and tok.text in _SECTION_WORDS and i + 2 < len(toks) \
                and toks[i + 1].text == "(" and toks[i + 2].kind == "string":
            out.append(toks[i + 2].text.strip('"'))
    return tuple(dict.fromkeys(out))


class LineIndex:
    """Offset → (line, column) for one source text, both 1-based."""

    def __init__(self, data: bytes) -> None:
        self._starts = [0] + [m.end() for m in re.finditer(rb"\n", data)]

    def position(self, offset: int) -> tuple[int, int]:
        i = bisect.bisect_right(self._starts, offset) - 1
        return i + 1, offset - self._starts[i] + 1


class Source:
    """One file's bytes and line index, for text slices and macro scans."""

    def __init__(self, path: str, unsaved: bytes | None = None) -> None:
        if unsaved is not None:
            self.data = unsaved
        else:
            try:
                with open(path, "rb") as fh:
                    self.data = fh.read()
            except OSError:
                self.data = b""
        self.text = self.data.decode("latin-1")  # 1 char per byte: offsets stay valid
        self.lines = LineIndex(self.data)

    def slice(self, start: int, end: int) -> str:
        raw = self.data[start:end].decode("utf-8", "replace")
        return " ".join(raw.split())[:TEXT_LIMIT]
