"""The merged program model: every function's facts, from all TUs and headers."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from analyzer.model import FnPtrStore, Function
from analyzer.store import FactStore


@dataclass
class Program:
    functions: dict[str, Function] = field(default_factory=dict)  # by USR
    fp_stores: list[FnPtrStore] = field(default_factory=list)
    tus: list[str] = field(default_factory=list)
    by_name: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, fn: Function) -> None:
        if fn.usr not in self.functions:
            self.by_name[fn.name].append(fn.usr)
        self.functions[fn.usr] = fn

    def named(self, name: str) -> list[Function]:
        return [self.functions[u] for u in self.by_name.get(name, [])]

    @classmethod
    def from_store(cls, store: FactStore, files: list[str] | None = None) -> Program:
        """The program made of the TUs `files` (all stored TUs when None) and every header
        function the store holds."""
        program = cls()
        for tu in store.iter_tus(files):
            program.tus.append(tu.file)
            for fn in tu.functions:
                program.add(fn)
            program.fp_stores.extend(tu.fp_stores)
        for fn in store.header_functions():
            if fn.usr not in program.functions:
                program.add(fn)
        return program
