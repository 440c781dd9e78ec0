"""Clang-free helpers for building per-function facts.

`CFGBuilder` is driven by the frontend while it walks a function body: it hands out blocks,
collects events in evaluation order and wires edges, then `finalise()` prunes what entry
cannot reach and renumbers deterministically (0 = entry, 1 = exit, the rest in creation
order).  `lex` / `macro_uses` / `section_markers` work on source text, so macro
instantiations and section markers cost a regex scan instead of a libclang tokenisation.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

from kmeminit.analyzer.model import ENTRY_BLOCK, EXIT_BLOCK, Block, Edge, Event, EventKind

# ---------------------------------------------------------------------------------------
# CFG construction


@dataclass
class _Jumps:
    """Where `break` and `continue` go inside the innermost loop or switch."""

    brk: int
    cont: int | None  # None for a switch: `continue` passes through to the enclosing loop


class CFGBuilder:
    """Mutable CFG under construction.  `current` is the block receiving events, or None
    right after a jump (code there is unreachable until a label or case starts a block)."""

    def __init__(self) -> None:
        self._events: list[list[tuple[EventKind, int]]] = [[], []]
        self._succs: list[list[Edge]] = [[], []]
        self._labels: dict[Hashable, int] = {}
        self._jumps: list[_Jumps] = []
        self.current: int | None = ENTRY_BLOCK
        self._known_reachable: set[int] | None = None

    # -- blocks and edges

    def new_block(self) -> int:
        self._known_reachable = None
        self._events.append([])
        self._succs.append([])
        return len(self._events) - 1

    def ensure_current(self) -> int:
        """The block receiving events; unreachable code gets a fresh block (pruned later)."""
        if self.current is None:
            self.current = self.new_block()
        return self.current

    def append(self, kind: EventKind, index: int) -> None:
        self._known_reachable = None
        self._events[self.ensure_current()].append((kind, index))

    def edge(self, src: int, dst: int, cond: str | None = None,
             branch: str | None = None) -> None:
        self._known_reachable = None
        self._succs[src].append(Edge(dst, cond, branch))

    def jump(self, dst: int, cond: str | None = None, branch: str | None = None) -> None:
        """Edge from the current block (if reachable) to `dst`; current becomes None."""
        if self.current is not None:
            self.edge(self.current, dst, cond, branch)
        self.current = None

    def branch(self, cond: str, true_dst: int, false_dst: int) -> None:
        src = self.ensure_current()
        self.edge(src, true_dst, cond, "true")
        self.edge(src, false_dst, cond, "false")
        self.current = None

    def start(self, block: int) -> None:
        """Fall through from the current block into `block` and continue there."""
        self.jump(block)
        self.current = block

    # -- structured jumps

    def label(self, key: Hashable) -> int:
        """The block starting at label `key` (a name, or any identity of the label)."""
        if key not in self._labels:
            self._labels[key] = self.new_block()
        return self._labels[key]

    def push_loop(self, brk: int, cont: int) -> None:
        self._jumps.append(_Jumps(brk, cont))

    def push_switch(self, brk: int) -> None:
        self._jumps.append(_Jumps(brk, None))

    def pop(self) -> None:
        self._jumps.pop()

    def break_(self) -> None:
        self.jump(self._jumps[-1].brk if self._jumps else EXIT_BLOCK)

    def continue_(self) -> None:
        target = next((j.cont for j in reversed(self._jumps) if j.cont is not None),
                      EXIT_BLOCK)
        self.jump(target)

    def return_(self) -> None:
        self.jump(EXIT_BLOCK)

    # -- finalisation

    def finalise(self, remap: Mapping[EventKind, Mapping[int, int]] | None = None
                 ) -> tuple[Block, ...]:
        """Close the function, prune blocks unreachable from entry, skip empty pass-through
        blocks and renumber.  `remap` translates provisional event indices per kind."""
        self.return_()
        forward = self._forwarding()
        reachable = self._known_reachable if self._known_reachable is not None \
            else self._reachable(forward)
        order = [ENTRY_BLOCK, EXIT_BLOCK] + sorted(reachable - {ENTRY_BLOCK, EXIT_BLOCK})
        number = {old: new for new, old in enumerate(order)}
        remap = remap or {}
        blocks = []
        for old in order:
            events = tuple(Event(kind, remap.get(kind, {}).get(idx, idx))
                           for kind, idx in self._events[old])
            succs = tuple(Edge(number[forward(e.target)], e.cond, e.branch)
                          for e in self._succs[old])
            blocks.append(Block(number[old], events, succs))
        return tuple(blocks)

    def live_events(self) -> set[tuple[EventKind, int]]:
        """Events in blocks reachable from entry (call before `finalise`, which closes the
        function first).  Facts of dead code (`if (0)`, code after `return`) can be
        dropped with this."""
        self.return_()
        reachable = self._reachable(self._forwarding())
        self._known_reachable = reachable
        return {ev for b in reachable for ev in self._events[b]}

    def _forwarding(self):
        """Empty blocks with one unconditional successor are skipped over."""
        skip: dict[int, int] = {}
        for b in range(2, len(self._events)):
            succs = self._succs[b]
            if not self._events[b] and len(succs) == 1 and succs[0].cond is None:
                skip[b] = succs[0].target

        def forward(b: int) -> int:
            seen = set()
            while b in skip and b not in seen:  # a cycle of empty blocks is an empty loop
                seen.add(b)
                b = skip[b]
            return b
        return forward

    def _reachable(self, forward) -> set[int]:
        seen = {ENTRY_BLOCK}
        todo = [ENTRY_BLOCK]
        while todo:
            for e in self._succs[todo.pop()]:
                t = forward(e.target)
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        return seen


# ---------------------------------------------------------------------------------------
# Source-text scanning

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


__all__ = ["CFGBuilder", "LineIndex", "MacroText", "Token", "lex", "macro_uses",
           "section_markers"]
