"""What the prefilter's demand took from the lexical call relation, kept so that an edit
that only adds or removes calls can be shown not to change it (prefilter._carried).

The demand asks the index for breadth-first walks (from some keys, along callers or
callees) and for a few whole answers (the callers of an accessor, the callee of a key
nearest to a walk).  What it reads of a walk is one of:
- `levels`: each key's level (and, for a walk in sorted order, its predecessor);
- `set`: which keys it met;
- `entry:K` / `holder:K`: the shortest-chain slices between an entry K's walk along
  callees and a PG_reserved holder K's walk along callers (prefilter.reserved_demand:
  the keys k with entry-to-k plus k-to-holder levels at most the entry-to-holder level
  plus the slack).
So the trace holds every walk (direction, sorted or not, level bound, depth, what is read,
each key's level); `whole`, the keys whose callees (0) or callers (1) were used as a whole
(also every key of a walk where macros cost no level); `nearest`, (key, walk, the callee
chosen) of `LexIndex.nearest_callee`; `variables`, the file-scope variables whose callers
stood for the functions they hold; `depth`, the most levels of anything else (a
path_to_root), for the report's "fixpoint after N call levels".

A change is a set of added and of removed (caller, callee) pairs of keys, as the files'
scans name them (prefilter.call_changes).  The check over-approximates: a pair the index
resolves to nothing, or that another file still contributes, is taken as changed.
"""

from __future__ import annotations

import base64
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

Levels = dict[str, tuple[int, "str | None"]]


class CallTrace:
    """The recording, while the demand runs (LexIndex.trace)."""

    def __init__(self) -> None:
        # (up, ordered, bound, depth, use, the walk's result)
        self.walks: list[tuple[bool, bool, int, int, str, Levels]] = []
        self.whole: tuple[set[str], set[str]] = (set(), set())
        self.nearest: list[tuple[str, int, str | None]] = []
        self.variables: set[str] = set()
        self.depth = 0

    def walked(self, up: bool, seen: Levels, ordered: bool, bound: int, depth: int,
               use: str) -> None:
        """A walk's result: `bound`, the level whose keys it does not walk from; `depth`,
        the levels it went; `use`, what is read of it (see above; "whole": a walk whose
        keys are recorded as used whole)."""
        if use == "whole":
            self.whole[int(up)].update(seen)
            self.depth = max(self.depth, depth)
        else:
            self.walks.append((up, ordered, bound, depth, use, seen))

    def walk_index(self, seen: Levels) -> int:
        for i, walk in enumerate(self.walks):
            if walk[5] is seen:
                return i
        raise ValueError("not a recorded walk")

    def encode(self) -> dict[str, Any]:
        """As JSON data: the keys once, sorted; each walk's levels as two arrays (key
        positions in the walk's order, levels), base64."""
        keys = set(self.whole[0]) | self.whole[1]
        for walk in self.walks:
            keys.update(walk[5])
        keys.update(k for k, _, _ in self.nearest)
        keys.update(c for _, _, c in self.nearest if c is not None)
        order = sorted(keys)
        at = {k: i for i, k in enumerate(order)}
        walks = []
        for up, ordered, bound, depth, use, seen in self.walks:
            walks.append([int(up), int(ordered), bound, depth, use,
                          _b64(array("I", [at[k] for k in seen])),
                          _b64(array("I", [level for level, _ in seen.values()]))])
        return {"keys": "\n".join(order), "walks": walks, "depth": self.depth,
                "whole": [_b64(array("I", sorted(at[k] for k in side)))
                          for side in self.whole],
                "nearest": [[at[k], w, -1 if c is None else at[c]]
                            for k, w, c in self.nearest],
                "variables": sorted(self.variables)}


class _Walk:
    def __init__(self, up: Any, ordered: Any, bound: Any, depth: Any, use: Any,
                 at: str, levels: str) -> None:
        self.up, self.ordered = bool(up), bool(ordered)
        self.bound, self.depth, self.use = int(bound), int(depth), str(use)
        self.at, self.levels = _unb64(at), _unb64(levels)
        if len(self.at) != len(self.levels):
            raise ValueError("a damaged trace")


class StoredTrace:
    """A trace as stored (CallTrace.encode), read back for `keeps`."""

    def __init__(self, data: dict[str, Any]) -> None:
        text = data["keys"]
        self.keys = text.split("\n") if text else []
        self.walks = [_Walk(*walk) for walk in data["walks"]]
        self.whole = tuple(_unb64(side) for side in data["whole"])
        self.nearest = [(int(k), int(w), int(c)) for k, w, c in data["nearest"]]
        self.variables = frozenset(data["variables"])
        self.depth = int(data["depth"])
        if len(self.whole) != 2:
            raise ValueError("a damaged trace")

    def _position(self, key: str) -> int | None:
        i = bisect_left(self.keys, key)
        return i if i < len(self.keys) and self.keys[i] == key else None

    def level(self, walk: _Walk, key: str) -> int | None:
        """The key's level in a walk, or None when the walk did not meet it."""
        position = self._position(key)
        if position is None:
            return None
        try:  # a linear search in C: the few keys of a change, not worth sorting
            return walk.levels[walk.at.index(position)]
        except ValueError:
            return None

    def keeps(self, added: Iterable[tuple[str, str]], removed: Iterable[tuple[str, str]],
              slack: int) -> bool:
        """Whether the demand stays the same when the calls (caller, callee) `added`
        appear and `removed` disappear (`slack`: prefilter.CHAIN_SLACK).

        For a walk along callees a pair is a step caller → callee, along callers
        callee → caller.  From a key `x` the walk met below its bound, to `y`:
        - an added step that reaches a key the walk met at most one level below `x` (at
          most at `x`'s own level when the walk is sorted: at the next level it could
          come before the key that put `y` there, and change the predecessors), and
        - a removed step that does not reach a key one level below `x` (it may have been
          the step that put it there)
        leave every level as it was (by induction on the levels: every step that set one
        is still there, and no step leads to a lower level or a new key).  Any other step
        changes levels: the demand is kept only when it reads no levels of that walk.
        - A `set` walk meets the same keys when the added steps lead to keys it met, and
          no removed step changes a level.
        - The `entry`/`holder` walks keep their chain slices when every added call is too
          far from the pair's shortest chain to make a new one within the slack: a chain
          through added calls goes from the entry to the caller of the first (at least
          its old level, as the part before uses old calls only), and from the callee of
          the last to the holder (likewise), so when the least such sum is above the
          entry-to-holder level plus the slack, neither that level nor any key's sum
          within it changes.
        Their depths may only shrink then: the report's deepest level stays when a walk
        not affected is at least as deep."""
        added, removed = list(added), list(removed)
        affected: set[int] = set()
        for (caller, callee), is_added in [(p, True) for p in added] + \
                [(p, False) for p in removed]:
            if callee in self.variables:
                return False  # the callers of the functions it holds change
            for up, x, y in ((False, caller, callee), (True, callee, caller)):
                position = self._position(x)
                if position is not None:
                    i = bisect_left(self.whole[int(up)], position)
                    if i < len(self.whole[int(up)]) and self.whole[int(up)][i] == position:
                        return False
                for w, walk in enumerate(self.walks):
                    if walk.up != up:
                        continue
                    lx = self.level(walk, x)
                    if lx is None or lx >= walk.bound:
                        continue  # not walked from
                    ly = self.level(walk, y)
                    if is_added:
                        if ly is not None and ly <= lx + (0 if walk.ordered else 1):
                            continue
                    elif ly is None or ly <= lx:
                        continue
                    if walk.use == "levels" or walk.ordered or not is_added or ly is None:
                        return False  # levels read, or keys lost or gained
                    affected.add(w)
            if not self._nearest_keeps(caller, callee, is_added):
                return False
        if not affected:
            return True
        rest = max([self.depth] + [walk.depth for w, walk in enumerate(self.walks)
                                   if w not in affected])
        if max(self.walks[w].depth for w in affected) > rest:
            return False  # the deepest walk may be shallower now
        return self._chains_keep(added, affected, slack)

    def _chains_keep(self, added: list[tuple[str, str]], affected: set[int],
                     slack: int) -> bool:
        entries = [(w, walk) for w, walk in enumerate(self.walks)
                   if walk.use.startswith("entry:")]
        holders = [(w, walk) for w, walk in enumerate(self.walks)
                   if walk.use.startswith("holder:")]
        for e, down in entries:
            # the least level of an added call's caller on this entry's walk
            first = min((lx for lx in (self.level(down, x) for x, _ in added)
                         if lx is not None and lx < down.bound), default=None)
            for h, up in holders:
                if e not in affected and h not in affected:
                    continue
                last = min((ly for ly in (self.level(up, y) for _, y in added)
                            if ly is not None), default=None)
                if first is None or last is None:
                    continue  # no chain through an added call
                holder = up.use.split(":", 1)[1]
                reached = self.level(down, holder)
                if reached is None or first + 1 + last <= reached + slack:
                    return False
        return True

    def _nearest_keeps(self, caller: str, callee: str, is_added: bool) -> bool:
        position = self._position(caller)
        if position is None:
            return True
        for key, w, chosen in self.nearest:
            if key != position:
                continue
            if not is_added:
                if chosen >= 0 and self.keys[chosen] == callee:
                    return False
                continue
            walk = self.walks[w]
            level = self.level(walk, callee)
            if level is None:
                continue
            if chosen < 0:
                return False
            near = self.level(walk, self.keys[chosen])
            if near is None or (level, callee) < (near, self.keys[chosen]):
                return False
        return True


def _b64(values: array) -> str:
    return base64.b64encode(values.tobytes()).decode("ascii")


def _unb64(text: str) -> array:
    values = array("I")
    values.frombytes(base64.b64decode(text))
    return values
