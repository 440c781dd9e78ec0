"""Source text, clang-free: files' bytes, line positions and a light C lexer.

`lex` / `macro_uses` / `section_markers` work on source text, so macro instantiations and
section markers cost a regex scan instead of a libclang tokenisation; `LineIndex` turns
byte offsets into lines and columns, `Source` holds one file for text slices;
`suppression_comments` finds the `kmeminit: ignore` comments of a file.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kmeminit.analyzer.model import SourceSuppression

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


# -- in-source suppressions ---------------------------------------------------------------

MARKER = b"kmeminit:"
# Comments, and the literals that may hold comment-like text, in one pass.
_COMMENT_OR_LITERAL = re.compile(r"""
    (?P<comment>//(?:[^\n\\]|\\.)*|/\*.*?(?:\*/|\Z))
  | [LuU8]*"(?:\\.|[^"\\\n])*"?
  | [LuU8]*'(?:\\.|[^'\\\n])*'?
""", re.VERBOSE | re.DOTALL)
_DIRECTIVE_RE = re.compile(r"\bkmeminit:\s*(\S*)(.*)", re.DOTALL)
_RULE_ID = r"[A-Za-z][A-Za-z0-9]*[0-9]{3}"
_IGNORE = re.compile(rf"({_RULE_ID}(?:\s*,\s*{_RULE_ID})*)(?![A-Za-z0-9])[\s:,-]*(.*)",
                     re.DOTALL)
_USAGE = "kmeminit: ignore RULE[,RULE] reason"


def _comment_body(comment: str) -> str:
    """The words of a comment, without its delimiters and the `*` that starts the lines
    of a block comment."""
    body = comment[2:] if comment.startswith("//") else comment[2:].removesuffix("*/")
    lines = [re.sub(r"^\s*\*(?!/)", "", line) for line in body.splitlines()]
    return " ".join(" ".join(lines).split())


def _parse_directive(body: str) -> tuple[tuple[str, ...], str, str] | None:
    """(rules, reason, error) of a comment holding `kmeminit:`; None when it holds none."""
    match = _DIRECTIVE_RE.search(body)
    if match is None:
        return None
    word, rest = match.group(1).rstrip(":"), match.group(2).strip()
    if word.lower() != "ignore":
        shown = f"'{word}'" if word else "nothing"
        return (), "", f"'kmeminit:' is followed by {shown}; expected '{_USAGE}'"
    ignore = _IGNORE.match(rest)
    if ignore is None:
        return (), "", f"'kmeminit: ignore' needs a rule id, as in '{_USAGE}'"
    rules = tuple(dict.fromkeys(r.strip().upper() for r in ignore.group(1).split(",")))
    reason = ignore.group(2).strip()
    if not reason:
        return rules, "", (f"'kmeminit: ignore {','.join(rules)}' needs a reason after the "
                           "rule id")
    return rules, reason, ""


def _blank(text: str) -> bool:
    return not text.strip()


def suppression_comments(data: bytes, path: str) -> list[SourceSuppression]:
    """The `kmeminit:` comments of one file, in order.  A comment that shares its line
    with code applies to that line; a comment alone on its lines applies to the next."""
    if MARKER not in data:
        return []
    text = data.decode("latin-1")  # one char per byte: offsets are byte offsets
    lines = LineIndex(data)
    out = []
    for match in _COMMENT_OR_LITERAL.finditer(text):
        comment = match.group("comment")
        if comment is None or "kmeminit:" not in comment:
            continue
        body = _comment_body(comment.encode("latin-1").decode("utf-8", "replace"))
        parsed = _parse_directive(body)
        if parsed is None:
            continue
        start, end = match.start(), match.end()
        line, _ = lines.position(start)
        end_line, _ = lines.position(max(start, end - 1))
        before = text[text.rfind("\n", 0, start) + 1:start]
        eol = text.find("\n", end)
        after = text[end:eol if eol >= 0 else len(text)]
        if not _blank(before):
            target = line
        elif not _blank(after):
            target = end_line
        else:
            target = end_line + 1
        rules, reason, error = parsed
        out.append(SourceSuppression(path, line, target, rules, reason, error))
    return out


# Per worker process: a header's comments are read once, however many TUs include it.
_SCANNED: dict[str, tuple[tuple[int, int], list[SourceSuppression]]] = {}


def file_suppressions(paths: Iterable[str], unsaved: Mapping[str, bytes]) -> list[
        SourceSuppression]:
    """The suppression comments of these files (absolute paths), `unsaved` contents read in
    place of the disk's; unreadable files have none."""
    out: list[SourceSuppression] = []
    for path in dict.fromkeys(paths):
        if path in unsaved:
            out += suppression_comments(unsaved[path], path)
            continue
        try:
            st = os.stat(path)
        except OSError:
            continue
        key = (st.st_mtime_ns, st.st_size)
        cached = _SCANNED.get(path)
        if cached is None or cached[0] != key:
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            cached = _SCANNED[path] = (key, suppression_comments(data, path))
        out += cached[1]
    return out
