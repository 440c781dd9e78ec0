"""CFG construction, clang-free.

`CFGBuilder` is driven by the function walker while it walks a body: it hands out blocks,
collects events in evaluation order and wires edges, then `finalise()` prunes what entry
cannot reach and renumbers deterministically (0 = entry, 1 = exit, the rest in creation
order).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from kmeminit.analyzer.model import ENTRY_BLOCK, EXIT_BLOCK, Block, Edge, Event, EventKind


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
