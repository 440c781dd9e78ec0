"""What the prefilter's demand took from the lexical call relation, kept so that an edit
that only adds or removes calls can be shown not to change it, or can update it, without
building the whole kernel's lexical index again (prefilter._carried).

The demand asks the index for breadth-first walks (from some keys, along callers or
callees) and for a few whole answers (the callers of an accessor, the callee of a key
nearest to a walk).  What it reads of a walk is one of:
- `levels`: each key's level (and, for a walk in sorted order, its predecessor);
- `set`: which keys it met (`events`: the same, for the events' callers);
- `entry:K` / `holder:K`: the shortest-chain slices between an entry K's walk along
  callees and a PG_reserved holder K's walk along callers (prefilter.reserved_demand:
  the keys k with entry-to-k plus k-to-holder levels at most the entry-to-holder level
  plus the slack).
So the trace holds every walk (direction, sorted or not, level bound, depth, what is read,
whether a predicate refused keys, each key's level and, when sorted, predecessor);
`whole`, the keys whose callees (0) or callers (1) were used as a whole (also every key of
a walk where macros cost no level); `nearest`, (key, walk, the callee chosen) of
`LexIndex.nearest_callee`; `variables`, the file-scope variables whose callers stood for
the functions they hold; `depth`, the most levels of anything else (a path_to_root), for
the report's "fixpoint after N call levels".  To update the demand it also holds the
answers the index gave (callees and callers by key), reserved_demand's chain slices,
sites and witness walks, each family's keys, the TUs to parse for each key, each
family's TUs by mention, and each key's flags: whether a definition takes a struct page
(PAGE, the walkers' predicate), whether its definitions lie in more than one file
(MULTI), and whether it may be called other than by name (HELD).

A change is a set of added and of removed (caller, callee) pairs of keys, as the files'
scans name them (prefilter.call_changes).  `StoredTrace.keeps` says whether the demand
stays; `patch` updates it from added calls and from removed ones the index no longer has
(the callee is called by name alone, and no other file can name it so: it is a static
function of the edited file, or every definition of the caller is there; a removed call
may otherwise still be made).  Both over-approximate: a pair the index resolves to
nothing is taken as changed, and an answer they would need but the index never gave
makes the demand computed again.
"""

from __future__ import annotations

import base64
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any, NamedTuple

Levels = dict[str, tuple[int, "str | None"]]
ABSENT = 0xFFFF  # a key a walk did not meet (levels are 16 bits)
PAGE = 1  # a key's flag: a definition of it takes a struct page
# a key's flag: its definitions lie in more than one file, so a call by name that an
# edit of one of them no longer makes may still be made by another
MULTI = 2
# a key's flag: it may be called other than by name (stored in a struct field, held in a
# variable): a caller that no longer names it may still call it
HELD = 4
NONE = 0xFFFFFFFF  # no predecessor


class CallTrace:
    """The recording, while the demand runs (LexIndex.trace, prefilter.reserved_demand and
    lexical_demand)."""

    def __init__(self) -> None:
        # (up, ordered, bound, depth, use, predicate, the walk's result); `predicate`: ""
        # (none), "follow:page" (only keys taking a struct page are entered), "?" (another:
        # the trace cannot tell which keys it enters or walks from)
        self.walks: list[tuple[bool, bool, int, int, str, str, Levels]] = []
        self.whole: tuple[set[str], set[str]] = (set(), set())
        self.nearest: list[tuple[str, int, str | None]] = []
        self.variables: set[str] = set()
        self.depth = 0
        # reserved_demand's parts: the chain slice of each (entry, holder) the entry
        # reaches, the holders holding a set or clear (sites), those of them defined, and
        # the walks along callers from the set and the clear sites (for the witnesses)
        self.chains: dict[tuple[str, str], set[str]] = {}
        self.sites: set[str] = set()
        self.defined_sites: set[str] = set()
        self.witness_walks: list[int] = []
        # lexical_demand's answer: the keys each rule family needs; _demand's TUs of
        # each family by mention
        self.families: dict[str, set[str]] = {}
        self.initial: dict[str, set[str]] = {}

    def walked(self, up: bool, seen: Levels, ordered: bool, bound: int, depth: int,
               use: str, predicate: str = "") -> None:
        """A walk's result: `bound`, the level whose keys it does not walk from; `depth`,
        the levels it went; `use`, what is read of it (see above; "whole": a walk whose
        keys are recorded as used whole)."""
        if use == "whole":
            self.whole[int(up)].update(seen)
            self.depth = max(self.depth, depth)
        else:
            self.walks.append((up, ordered, bound, depth, use, predicate, seen))

    def walk_index(self, seen: Levels) -> int:
        for i, walk in enumerate(self.walks):
            if walk[6] is seen:
                return i
        raise ValueError("not a recorded walk")

    def encode(self, answers: tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]],
               files_of: Callable[[str], Iterable[str]], tus: list[str],
               flags_of: Callable[[str], int]) -> dict[str, Any] | None:
        """As JSON data (None when a level does not fit 16 bits): the keys once, sorted;
        each walk's levels as an array over them (and its predecessors when sorted);
        `answers`, the callees and callers the index gave (LexIndex.answers); the TUs
        `files_of` each key (prefilter: the TUs to parse for it) gives, of those in
        `tus`; each key's `flags_of` (PAGE: for the walks' predicates).  Arrays are
        base64."""
        keys = set(self.whole[0]) | self.whole[1]
        for walk in self.walks:
            keys.update(walk[6])
        for side in answers:
            keys.update(side)
            for found in side.values():
                keys.update(found)
        keys.update(k for k, _, _ in self.nearest)
        for family in self.families.values():
            keys.update(family)
        order = sorted(keys)
        at = {k: i for i, k in enumerate(order)}
        walks = []
        level_of, before_of = itemgetter(0), itemgetter(1)
        for up, ordered, bound, depth, use, predicate, seen in self.walks:
            try:
                levels = array("H", map(level_of, seen.values()))
            except OverflowError:  # a level of 16 bits or more
                return None
            before = ""
            if ordered:
                before = _b64(array("I", [NONE if k is None else at[k]
                                          for k in map(before_of, seen.values())]))
            walks.append([int(up), int(ordered), bound, depth, use, predicate,
                          _b64(array("I", map(at.__getitem__, seen))), _b64(levels),
                          before])
        tu_at = {tu: i for i, tu in enumerate(tus)}
        return {"keys": "\n".join(order), "walks": walks, "depth": self.depth,
                "whole": [_b64(array("I", sorted(at[k] for k in side)))
                          for side in self.whole],
                "nearest": [[at[k], w, -1 if c is None else at[c]]
                            for k, w, c in self.nearest],
                "variables": sorted(self.variables),
                "answers": [_csr({at[k]: [at[c] for c in found] for k, found in side.items()})
                            for side in answers],
                "chains": [[at[e], at[h], _b64(array("I", sorted(at[k] for k in chain)))]
                           for (e, h), chain in sorted(self.chains.items())],
                "sites": sorted(at[k] for k in self.sites),
                "defined_sites": sorted(at[k] for k in self.defined_sites),
                "witness_walks": self.witness_walks,
                "families": {f: _b64(array("I", sorted(at[k] for k in keys_)))
                             for f, keys_ in self.families.items()},
                "tus": tus,
                "flags": _b64(array("B", map(flags_of, order))),
                "files": _csr({i: sorted(tu_at[tu] for tu in files if tu in tu_at)
                               if len(files) > 1 else
                               [tu_at[tu] for tu in files if tu in tu_at]
                               for i, files in enumerate(map(files_of, order))}),
                "initial": {f: sorted(tu_at[tu] for tu in found)
                            for f, found in self.initial.items()}}


class _Walk:
    """A stored walk: its keys' levels (and predecessors, when sorted) by position, decoded
    when first read (a check of a few changed calls asks each of a whole kernel's 90 walks
    about two keys: `level_of`)."""

    def __init__(self, up: Any, ordered: Any, bound: Any, depth: Any, use: Any,
                 predicate: Any, at: str, levels: str, before: str) -> None:
        self.up, self.ordered = bool(up), bool(ordered)
        self.bound, self.depth, self.use = int(bound), int(depth), str(use)
        self.predicate = str(predicate)
        self._stored = (str(at), str(levels), str(before))
        self._arrays: tuple[array, array] | None = None
        self._levels: dict[int, int] | None = None
        self._before: dict[int, int] | None = None

    def _decoded(self) -> tuple[array, array]:
        """The positions and their levels, as stored."""
        if self._arrays is None:
            positions, found = _unb64(self._stored[0], "I"), _unb64(self._stored[1], "H")
            if len(positions) != len(found):
                raise ValueError("a damaged trace")
            self._arrays = (positions, found)
        return self._arrays

    @property
    def levels(self) -> dict[int, int]:
        if self._levels is None:
            positions, found = self._decoded()
            self._levels = dict(zip(positions, found, strict=True))
            if len(self._levels) != len(found):
                raise ValueError("a damaged trace")
        return self._levels

    @levels.setter
    def levels(self, value: dict[int, int]) -> None:
        self._levels = value

    @property
    def before(self) -> dict[int, int] | None:
        if self._before is None and self.ordered:
            positions, _ = self._decoded()
            self._before = dict(zip(positions, _unb64(self._stored[2], "I"), strict=True))
        return self._before

    @before.setter
    def before(self, value: dict[int, int] | None) -> None:
        self._before = value

    def level_of(self, position: int) -> int | None:
        """A key's level, None when the walk did not meet it (without decoding every
        level: a search of the stored positions)."""
        if self._levels is not None:
            return self._levels.get(position)
        positions, found = self._decoded()
        try:
            return int(found[positions.index(position)])
        except ValueError:
            return None

    def encode(self) -> list[Any]:
        before = ""
        if self.before is not None:
            before = _b64(array("I", map(self.before.__getitem__, self.levels)))
        return [int(self.up), int(self.ordered), self.bound, self.depth, self.use,
                self.predicate, _b64(array("I", self.levels)),
                _b64(array("H", self.levels.values())), before]


class _Csr:
    """Lists of positions by position (compressed rows)."""

    def __init__(self, data: list[str], changed: dict[int, list[int] | None] | None = None
                 ) -> None:
        self.rows, self.offsets, self.values = (_unb64(part, "I") for part in data)
        if len(self.offsets) != len(self.rows) + 1:
            raise ValueError("a damaged trace")
        self.changed = changed or {}  # rows replaced since (None: dropped)

    def get(self, position: int) -> Iterable[int] | None:
        if position in self.changed:
            return self.changed[position]
        i = bisect_left(self.rows, position)
        if i == len(self.rows) or self.rows[i] != position:
            return None
        return self.values[self.offsets[i]:self.offsets[i + 1]]

    def as_dict(self) -> dict[int, Iterable[int]]:
        """Every row with a value, by position (`get` for each, in one pass)."""
        # lists of ints made once: an array's items are made anew at each iteration
        rows, offsets, values = self.rows.tolist(), self.offsets.tolist(), self.values.tolist()
        out: dict[int, Iterable[int]] = {
            row: values[offsets[i]:offsets[i + 1]] for i, row in enumerate(rows)}
        for row, changed in self.changed.items():
            if changed is None:
                out.pop(row, None)
            else:
                out[row] = changed
        return out

    def positions(self) -> set[int]:
        """Every row with a value."""
        return {row for row in self.rows if self.changed.get(row, ()) is not None} | \
            {row for row, values in self.changed.items() if values is not None}


class Patched(NamedTuple):
    """A demand updated by added calls (StoredTrace.patch)."""

    files: dict[str, set[str]]  # the TUs to parse for each rule family's keys
    initial: dict[str, set[str]]  # each family's TUs by mention
    depth: int  # the deepest walk's levels (the report's "fixpoint after N")
    trace: dict[str, Any]  # the trace of the updated demand, as stored


class StoredTrace:
    """A trace as stored (CallTrace.encode), read back for `keeps` and `patch`."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        text = data["keys"]
        self.keys = text.split("\n") if text else []
        self.walks = [_Walk(*walk) for walk in data["walks"]]
        self.whole = tuple(_unb64(side, "I") for side in data["whole"])
        self.nearest = [(int(k), int(w), int(c)) for k, w, c in data["nearest"]]
        self.variables = frozenset(data["variables"])
        self.depth = int(data["depth"])
        if len(self.whole) != 2:
            raise ValueError("a damaged trace")
        self._flags: array | None = None  # decoded when a predicate asks

    def _flag(self, position: int | None, flag: int) -> bool | None:
        """Whether the key at `position` has `flag` (None: a key the trace cannot name,
        or one past its keys: `_relax`'s unnamed keys)."""
        if position is None or position >= len(self.keys):
            return None
        if self._flags is None:
            self._flags = _unb64(self.data["flags"], "B")
            if len(self._flags) != len(self.keys):
                raise ValueError("a damaged trace")
        return bool(self._flags[position] & flag)

    def _refuses(self, walk: _Walk, position: int | None) -> bool | None:
        """Whether the walk's predicate keeps it from entering this key (None: unknown)."""
        if walk.predicate == "follow:page":
            flag = self._flag(position, PAGE)
            return None if flag is None else not flag
        return False if walk.predicate == "" else None

    def answers(self, side: int) -> dict[str, frozenset[str]]:
        """The recorded callees (side 0) or callers (1) by key (for tests and tools)."""
        tables = self._tables()
        assert tables is not None
        table = tables[side]
        return {self.keys[row]: frozenset(self.keys[v] for v in table.get(row) or ())
                for row in table.positions()}

    def tus_of(self, keys: Iterable[str]) -> set[str] | None:
        """The TUs the demand parses for these keys (those defining them), or None when
        the trace did not meet one of them."""
        files_of = _Csr(self.data["files"])
        tus = list(self.data["tus"])
        out: set[str] = set()
        for key in keys:
            position = self._position(key)
            row = files_of.get(position) if position is not None else None
            if row is None:
                return None
            out.update(tus[t] for t in row)
        return out

    def _position(self, key: str) -> int | None:
        i = bisect_left(self.keys, key)
        return i if i < len(self.keys) and self.keys[i] == key else None

    def level(self, walk: _Walk, key: str) -> int | None:
        """The key's level in a walk, or None when the walk did not meet it."""
        position = self._position(key)
        if position is None:
            return None
        return walk.level_of(position)

    def _in_whole(self, up: bool, key: str) -> bool:
        position = self._position(key)
        if position is None:
            return False
        side = self.whole[int(up)]
        i = bisect_left(side, position)
        return i < len(side) and side[i] == position

    def _gone(self, caller: str, callee: str) -> bool:
        """Whether the index no longer has the call `caller` → `callee` once the edited
        file's scan no longer makes it (no definition there calls it by name: scans are
        compared file by file, prefilter.call_changes).  The callee must be called by
        name alone (not HELD: a call through a field or variable holding it may remain),
        and no other file may name it so: a static function of a .c file (`name@file`)
        is named by that file's scan alone, any other callee by the files defining the
        caller, which must then be that one file (not MULTI)."""
        if self._flag(self._position(callee), HELD) is not False:
            return False
        return "@" in callee or self._flag(self._position(caller), MULTI) is False

    def _rewalks(self, w: int, walk: _Walk) -> bool:
        """Whether `patch` can walk this walk again from its keys at level 0: a walk
        along callers from the set or clear sites (sorted: the witnesses' predecessors),
        or one whose keys the demand reads as a set or chain slices, with a predicate the
        trace can evaluate."""
        if walk.ordered:
            return w in self.data.get("witness_walks", ()) and walk.predicate == ""
        return walk.use != "levels" and walk.predicate in ("", "follow:page")

    def _affected(self, added: list[tuple[str, str]], removed: list[tuple[str, str]],
                  patching: bool, shrunk: set[int] | None = None) -> set[int] | None:
        """The walks whose levels the changed calls change, or None when the demand may
        change otherwise: a whole answer, a variable's callers, a walk whose levels are
        read, or (unless `patching`, where the witnesses are chosen again) a nearest
        callee.  A walk whose keys may be lost (a removed step that set a level) is None
        too, unless `patching` and the call is gone from the index (`_gone`): it goes
        into `shrunk` then (its levels may rise, and keys leave it)."""
        affected: set[int] = set()
        for (caller, callee), is_added in [(p, True) for p in added] + \
                [(p, False) for p in removed]:
            if callee in self.variables:
                return None  # the callers of the functions it holds change
            for up, x, y in ((False, caller, callee), (True, callee, caller)):
                if self._in_whole(up, x):
                    return None
                px, py = self._position(x), self._position(y)
                if px is None:
                    continue  # no walk met x
                for w, walk in enumerate(self.walks):
                    if walk.up != up:
                        continue
                    lx = walk.level_of(px)
                    if lx is None or lx >= walk.bound:
                        continue  # not walked from
                    ly = None if py is None else walk.level_of(py)
                    if is_added:
                        if ly is not None and ly <= lx + (0 if walk.ordered else 1):
                            continue
                        if ly is None and self._refuses(walk, py):
                            continue  # a key the walk does not enter
                    elif ly is None or ly <= lx:
                        continue
                    if walk.use == "levels" or walk.ordered or not is_added:
                        # levels or predecessors read, or keys lost: walked again when
                        # patching, if it can be
                        if shrunk is None or not self._rewalks(w, walk) or \
                                not is_added and not self._gone(caller, callee):
                            return None
                        shrunk.add(w)
                        affected.add(w)
                        continue
                    if ly is None and not (patching and walk.predicate != "?"):
                        return None  # keys gained
                    affected.add(w)
            if not patching and not self._nearest_keeps(caller, callee, is_added):
                return None
        return affected

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
        affected = self._affected(added, removed, patching=False)
        if affected is None:
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

    def carried(self, added: Iterable[tuple[str, str]],
                removed: Iterable[tuple[str, str]]) -> dict[str, Any] | None:
        """The trace, as stored, of the demand `keeps` kept over these changes: the walks
        whose levels changed (though not what the demand reads of them) walked again
        from the added calls, the answers with the added calls and without the removed
        ones; None when that cannot be done (an answer the index never gave, or a removed
        call the index may still have on the way: `_relax`)."""
        added, removed = list(added), list(removed)
        affected = self._affected(added, removed, patching=False)
        if affected is None:
            return None
        if not affected:
            return self._with_answers(dict(self.data), added, removed)
        relaxed = self._relax(added, affected, removed)
        if relaxed is None:
            return None
        return self._with_answers(dict(self.data, walks=self._encode_walks(relaxed[0])),
                                  added, removed)

    def _relax(self, added: list[tuple[str, str]], affected: set[int],
               removed: list[tuple[str, str]] | None = None,
               rewalk: set[int] | None = None
               ) -> tuple[list[_Walk], Callable[[int, int], Iterable[int] | None]] | None:
        """The walks, those `affected` with their levels lowered from the `added` calls
        on (a breadth-first relaxation over the recorded answers), and the answers with
        the added calls and without the `removed` ones as a function (side 0 callees, 1
        callers; None for an answer the index never gave, or one a removed call may
        still be in: `_gone`); None when a relaxation needs such an answer, or reaches a
        walk's bound.  The walks in `rewalk` (those a removed call set levels in) are
        walked again from their keys at level 0 instead, over the same answers.

        A removed call that set no level of a walk is on no shortest chain of it: the
        levels stay those of the calls without it, and the relaxation from the added
        calls gives the levels with both changes."""
        walks = list(self.walks)
        answers = self._tables()
        if answers is None:
            return None  # not kept (see `_answers`)
        steps: list[list[tuple[int, int]]] = [[], []]  # along callees, along callers
        unnamed: dict[str, int] = {}

        def place(key: str) -> int:
            """A key's position; for a key no answer named, one past the trace's keys:
            its answer and flags are unknown, so a walk that would enter it cannot be
            followed (its answer is None, `_refuses` cannot tell), while an added call
            no walk reaches is no obstacle."""
            position = self._position(key)
            if position is None:
                position = unnamed.setdefault(key, len(self.keys) + len(unnamed))
            return position

        for x, y in added:
            px, py = place(x), place(y)
            steps[0].append((px, py))
            steps[1].append((py, px))
        extra: list[dict[int, set[int]]] = [{}, {}]
        for side in (0, 1):
            for a, b in steps[side]:
                extra[side].setdefault(a, set()).add(b)
        gone: list[dict[int, set[int]]] = [{}, {}]
        unsure: list[set[int]] = [set(), set()]  # keys whose answer a removal may be in
        for x, y in removed or ():
            px, py = self._position(x), self._position(y)
            if px is None or py is None:
                continue  # not a key of any answer: in none
            if self._gone(x, y):
                gone[0].setdefault(px, set()).add(py)
                gone[1].setdefault(py, set()).add(px)
            else:
                unsure[0].add(px)
                unsure[1].add(py)

        def step(side: int, position: int) -> Iterable[int] | None:
            return _changed_answer(answers[side], extra[side], gone[side], unsure[side],
                                   position)

        tables: list[dict[int, Iterable[int]] | None] = [None, None]

        def table(side: int) -> dict[int, Iterable[int]]:
            """`step`'s answers of a side as a dict, built once: a walk again looks up
            each of its keys (170,000 lookups after a removal on a whole kernel)."""
            found = tables[side]
            if found is None:
                found = tables[side] = _changed_answers(answers[side], extra[side],
                                                        gone[side], unsure[side])
            return found

        for w in sorted(affected):
            old = walks[w]
            side = int(old.up)
            if old.predicate not in ("", "follow:page"):
                return None  # which keys it enters or walks from is not known
            if rewalk and w in rewalk and old.ordered:
                walked = self._sorted_walk(old, lambda side, k: table(side).get(k))
                if walked is None:
                    return None
                walks[w] = walked
                continue
            if rewalk and w in rewalk:
                levels = dict.fromkeys(sorted(k for k, level in old.levels.items()
                                              if level == 0), 0)
                if not self._breadth_first(old, levels, table(side).get):
                    return None
            else:  # lowered from the added steps on, over a queue
                levels = dict(old.levels)
                todo: deque[int] = deque()
                for a, b in steps[side]:
                    if not self._lower(old, levels, todo, levels.get(a, ABSENT), b):
                        return None
                while todo:
                    k = todo.popleft()
                    if levels[k] >= old.bound:
                        continue
                    found = step(side, k)
                    if found is None:
                        return None  # a key whose answer the index never gave
                    for c in found:
                        if not self._lower(old, levels, todo, levels[k], c):
                            return None
            deepest = max(levels.values())
            if deepest + 1 >= old.bound:
                return None  # at the bound: the walk would stop there
            new = _Walk.__new__(_Walk)
            new.__dict__.update(old.__dict__)
            new.levels = levels
            new.depth = old.depth + deepest - max(old.levels.values())
            walks[w] = new
        return walks, step

    def _sorted_walk(self, old: _Walk, step: Callable[[int, int], Iterable[int] | None]
                     ) -> _Walk | None:
        """A sorted walk (no predicate) again from its keys at level 0 over `step`'s
        answers, as LexIndex._walk goes: level by level, each level's keys in the order
        they were met, each one's answer in sorted order (positions sort as keys do), a
        key's predecessor the first that met it.  None when an answer is unknown or the
        walk reaches its bound."""
        side = int(old.up)
        seeds = sorted(k for k, level in old.levels.items() if level == 0)
        levels = dict.fromkeys(seeds, 0)
        before = dict.fromkeys(seeds, NONE)
        frontier, level = seeds, 0
        while frontier:
            if level >= old.bound:
                return None  # the walk would stop there
            level += 1
            nxt = []
            for k in frontier:
                found = step(side, k)
                if found is None:
                    return None
                for other in sorted(found):
                    if other not in levels:
                        levels[other] = level
                        before[other] = k
                        nxt.append(other)
            frontier = nxt
        new = _Walk.__new__(_Walk)
        new.__dict__.update(old.__dict__)
        new.levels, new.before, new.depth = levels, before, level
        return new

    def _breadth_first(self, walk: _Walk, levels: dict[int, int],
                       answer: Callable[[int], Iterable[int] | None]) -> bool:
        """The relaxation from keys all at level 0 (`levels`, in order), level by level:
        a key's first level is its least, so it is what `_lower` over a queue gives, with
        the keys met in the same order, without a comparison and a call per step (a walk
        of a whole kernel's answers takes 170,000 steps).  False when the trace cannot
        tell whether the walk enters a key, or an answer is unknown."""
        bound, plain = walk.bound, walk.predicate == ""
        frontier, level = list(levels), 0
        while frontier and level < bound:
            nxt: list[int] = []
            for k in frontier:
                found = answer(k)
                if found is None:
                    return False  # a key whose answer the index never gave
                for c in found:
                    if c in levels:
                        continue
                    if not plain:
                        refused = self._refuses(walk, c)
                        if refused is None:
                            return False
                        if refused:
                            continue
                    levels[c] = level + 1
                    nxt.append(c)
            frontier, level = nxt, level + 1
        return True

    def _lower(self, walk: _Walk, levels: dict[int, int], todo: deque[int], level: int,
               key: int) -> bool:
        """A step from a key at `level` to `key`: the key's level lowered to `level + 1`
        (and the key queued) when that is lower and the walk enters it; False when the
        trace cannot tell whether it does."""
        if level >= walk.bound or level + 1 >= levels.get(key, ABSENT):
            return True
        refused = self._refuses(walk, key)
        if refused is None:
            return False
        if not refused:
            levels[key] = level + 1
            todo.append(key)
        return True

    def _answers(self, added: list[tuple[str, str]], removed: list[tuple[str, str]]
                 ) -> list[list[str]] | None:
        """The recorded answers with the added calls and without the removed ones.  A
        removed call may still be in the index (another definition of the caller, or a
        call through a field or variable, may make it: `_gone`): the answers of its ends
        are then as if never given (`patch` refuses to walk them), and so is the answer
        an added call to a key the trace cannot name would change.  None when they
        cannot be kept (no answers recorded)."""
        tables = self._tables()
        if tables is None:
            return None
        out: list[list[Any]] = []
        for side, flip in ((0, False), (1, True)):
            table = tables[side]
            changed: dict[int, list[int] | None] = dict(table.changed)
            for x, y in added:
                a, b = (y, x) if flip else (x, y)
                pa, pb = self._position(a), self._position(b)
                found = None if pa is None else _row(table, changed, pa)
                if found is None:
                    continue  # an answer the index never gave
                # a key the trace cannot name: the answer is no longer known (a walk
                # that needs it is computed again)
                changed[pa] = None if pb is None else sorted(found | {pb})
            for x, y in removed:
                a, b = (y, x) if flip else (x, y)
                pa, pb = self._position(a), self._position(b)
                if pa is None:
                    continue
                found = _row(table, changed, pa)
                if found is not None and pb is not None and self._gone(x, y):
                    changed[pa] = sorted(found - {pb})
                else:
                    changed[pa] = None
            out.extend([side, row_, values] for row_, values in sorted(changed.items()))
        return out

    def _with_answers(self, data: dict[str, Any], added: list[tuple[str, str]],
                      removed: list[tuple[str, str]]) -> dict[str, Any]:
        changes = self._answers(added, removed)
        if changes is None:
            data["answers"] = None
        else:
            data["answer_changes"] = changes
        return data

    def _encode_walks(self, walks: list[_Walk]) -> list[Any]:
        """The walks as stored: those that changed encoded again."""
        return [stored if walk is mine else walk.encode()
                for stored, walk, mine in zip(self.data["walks"], walks, self.walks,
                                              strict=True)]

    def _tables(self) -> list[_Csr] | None:
        """The recorded answers, callees (0) and callers (1), with the rows replaced since
        they were (memo `answer_changes`), or None."""
        data = self.data.get("answers")
        changes = self.data.get("answer_changes") or []
        if data is None or changes is None:
            return None
        rows: list[dict[int, list[int] | None]] = [{}, {}]
        for side, row, values in changes:
            rows[int(side)][int(row)] = None if values is None else [int(v) for v in values]
        return [_Csr(data[side], rows[side]) for side in (0, 1)]

    def patch(self, added: Iterable[tuple[str, str]], removed: Iterable[tuple[str, str]],
              slack: int) -> Patched | None:
        """The demand with the calls `added` and without the calls `removed`, computed
        from the trace instead of the whole index, or None when it cannot be: a change
        `keeps` refuses for any reason but the levels of the `entry`, `holder`, `events`
        and `walkers` walks, one that reaches a key whose answer the index never gave,
        a removed call the index may still have (`_gone`) where it matters, or one that
        sets a level of a walk of the walkers (a part of a union).

        The affected walks' levels are lowered from the added steps on (a breadth-first
        relaxation over the recorded answers, entering only the keys the walk's
        predicate would: the levels of the walk over the new calls, as only lower
        levels and new keys can follow from an added step); a walk a removed call set
        a level in is walked again from its keys at level 0 over the same answers
        (every key it can reach within its bound now was within it before, so their
        answers were recorded); each (entry,
        holder) pair with an affected walk gets its chain slice again, by a search from
        the entry through the keys whose two levels sum to at most the entry-to-holder
        level plus `slack` (every key of a slice lies on a chain of such keys); the
        witnesses are chosen again from the slices to the sites, as reserved_demand
        chooses them; the events' keys are the events walk's, and the walkers' grow by
        their walks' new keys (each walk a part of their union).  The calls must be steps of
        the index: none to or from a service (prefilter._carried leaves them out)."""
        added, removed = list(added), list(removed)
        data = self.data
        if not data.get("families") or not data.get("tus"):
            return None
        shrunk: set[int] = set()
        affected = self._affected(added, removed, patching=True, shrunk=shrunk)
        if affected is None:
            return None
        witness = set(data.get("witness_walks", ()))
        for w in affected:
            use = self.walks[w].use
            if not (use in ("events", "walkers") or use.startswith(("entry:", "holder:"))
                    or w in witness):
                return None
            if use == "walkers" and w in shrunk:
                return None  # a part of a union: what the others hold is not known
        relaxed = self._relax(added, affected, removed, shrunk)
        if relaxed is None:
            return None
        walks, step = relaxed
        families = {f: set(_unb64(v, "I")) for f, v in data["families"].items()}
        out = dict(data)
        out["walks"] = self._encode_walks(walks)
        self._with_answers(out, added, removed)
        for w in affected:
            if walks[w].use == "events":
                families["events"] = set(walks[w].levels)
            elif walks[w].use == "walkers":  # one part of a union that only grows
                families["walkers"] |= set(walks[w].levels)
        # (the witnesses are chosen again even when no walk changed: a nearest callee
        # may have)
        reserved = self._reserved(walks, affected, step, slack, out)
        if reserved is None:
            return None
        families["reserved"] = reserved
        out["families"] = {f: _b64(array("I", sorted(v))) for f, v in families.items()}
        files_of = _Csr(data["files"])
        tus = list(data["tus"])
        files: dict[str, set[str]] = {}
        for f, found in families.items():
            files[f] = set()
            for k in found:
                row = files_of.get(k)
                if row is None:
                    return None
                files[f].update(tus[t] for t in row)
        initial = {f: {tus[t] for t in v} for f, v in data["initial"].items()}
        depth = max([self.depth] + [walk.depth for walk in walks])
        return Patched(files, initial, depth, out)

    def _reserved(self, walks: list[_Walk], affected: set[int],
                  step: Callable[[int, int], Iterable[int] | None], slack: int,
                  out: dict[str, Any]) -> set[int] | None:
        """reserved_demand's keys over the patched walks (see `patch`); `out` gets the
        new chain slices and nearest callees."""
        data = self.data
        entries = {self._position(w.use.split(":", 1)[1]): i for i, w in enumerate(walks)
                   if w.use.startswith("entry:")}
        holders = {self._position(w.use.split(":", 1)[1]): i for i, w in enumerate(walks)
                   if w.use.startswith("holder:")}
        if None in entries or None in holders:
            return None
        chains: dict[tuple[int, int], array] = {
            (int(e), int(h)): _unb64(keys, "I") for e, h, keys in data["chains"]}
        for e, ew in entries.items():
            for h, hw in holders.items():
                assert e is not None and h is not None
                if ew not in affected and hw not in affected:
                    continue
                down, up = walks[ew].levels, walks[hw].levels
                chains.pop((e, h), None)
                if h not in down:
                    continue
                bound = down[h] + slack
                chain = {e} if up.get(e, ABSENT) <= bound else set()
                todo = list(chain)
                while todo:
                    k = todo.pop()
                    found = step(0, k)
                    if found is None:
                        return None
                    for c in found:
                        if c not in chain and down.get(c, ABSENT) + up.get(c, ABSENT) <= bound:
                            chain.add(c)
                            todo.append(c)
                chains[(e, h)] = array("I", sorted(chain))
        sites = set(data["sites"])
        need = set(data["defined_sites"])
        on_site_chains: set[int] = set()
        for (_, h), chain in chains.items():
            need.update(chain)
            if h in sites:
                on_site_chains.update(chain)
        witnesses: set[int] = set()
        nearest = []
        for w in data["witness_walks"]:
            to_op = walks[w]
            assert to_op.before is not None
            walked: set[int] = set()
            for k in sorted(on_site_chains):  # positions sort as keys do
                found = step(0, k)
                if found is None:
                    return None
                near = min(((to_op.levels[c], self.keys[c], c) for c in found
                            if c in to_op.levels), default=None)
                node = near[2] if near is not None else None
                nearest.append([k, w, -1 if node is None else node])
                while node is not None and node not in walked:
                    walked.add(node)
                    before = to_op.before.get(node, NONE)
                    node = None if before == NONE else before
            witnesses |= walked
        out["chains"] = [[e, h, _b64(chain)] for (e, h), chain in sorted(chains.items())]
        out["nearest"] = nearest
        return need | witnesses


def _row(table: _Csr, changed: dict[int, list[int] | None], position: int
         ) -> set[int] | None:
    """An answer as changed so far (None: never given)."""
    if position in changed:
        values = changed[position]
        return None if values is None else set(values)
    found = table.get(position)
    return None if found is None else set(found)


def _b64(values: array) -> str:
    return base64.b64encode(values.tobytes()).decode("ascii")


def _unb64(text: str, kind: str) -> array:
    values = array(kind)
    values.frombytes(base64.b64decode(text))
    return values


def _changed_answer(answers: _Csr, extra: dict[int, set[int]], gone: dict[int, set[int]],
                    unsure: set[int], position: int) -> Iterable[int] | None:
    """A recorded answer with the `extra` steps and without the `gone` ones; None when
    the index never gave it, or a removal it may still hold is `unsure`."""
    found = answers.get(position)
    if found is None or position in unsure:
        return None
    more, less = extra.get(position), gone.get(position)
    if more is None and less is None:
        return found
    return (set(found) | (more or set())) - (less or set())


def _changed_answers(answers: _Csr, extra: dict[int, set[int]], gone: dict[int, set[int]],
                     unsure: set[int]) -> dict[int, Iterable[int]]:
    """Every `_changed_answer` that is not None, by position: the recorded rows in one
    pass, the few positions the changes name one by one."""
    found = answers.as_dict()
    for position in extra.keys() | gone.keys() | unsure:
        one = _changed_answer(answers, extra, gone, unsure, position)
        if one is None:
            found.pop(position, None)
        else:
            found[position] = one
    return found


def _csr(rows: dict[int, list[int]]) -> list[str]:
    order = sorted(rows)
    offsets = array("I", [0])
    values = array("I")
    for row in order:
        values.extend(rows[row])
        offsets.append(len(values))
    return [_b64(array("I", order)), _b64(offsets), _b64(values)]
