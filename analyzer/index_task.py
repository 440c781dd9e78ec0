"""One TU parsed on behalf of an indexer: the task body shared by the local worker
processes (analyzer/index.py) and Dask workers (analyzer/dask_executor.py), plus what both
report about a run (IndexStats, Progress)."""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from kmeminit.analyzer.model import Notification, TUFacts


@dataclass
class IndexStats:
    selected: int = 0
    parsed: int = 0
    cached: int = 0
    failed: int = 0
    seconds: float = 0.0
    notifications: list[Notification] = field(default_factory=list)

    def summary(self) -> str:
        return (f"kmeminit: {self.selected} TUs: {self.parsed} parsed, {self.cached} from cache, "
                f"{self.failed} failed, {self.seconds:.1f} s")


class Progress:
    """A one-line progress bar on a terminal; silent otherwise (the summary line says it)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.done = total, 0
        self.bar = None
        if enabled and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="TU", file=sys.stderr, leave=False,
                            dynamic_ncols=True)

    def step(self, name: str) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(os.path.basename(name), refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def inject_fault(file: str) -> None:
    """Fault injection for the robustness tests: KMEMINIT_FAULT="crash:SUBSTR" kills the
    worker with SIGKILL, "hang:SUBSTR" makes it sleep, when the TU path contains SUBSTR."""
    spec = os.environ.get("KMEMINIT_FAULT", "")
    kind, _, needle = spec.partition(":")
    if not needle or needle not in file:
        return
    if kind == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    elif kind == "hang":
        time.sleep(3600)


def parse_one(kwargs: dict[str, Any], skip: frozenset[str]) -> TUFacts | str:
    """One TU's facts (header functions in `skip` are not walked), timed, or a one-line
    reason it could not be parsed: a frontend bug costs this TU, never a traceback."""
    import dataclasses

    from kmeminit.analyzer import frontend

    inject_fault(kwargs["file"])
    accepted = {f.name for f in dataclasses.fields(frontend.ParseTask)}
    start = time.perf_counter()
    try:
        facts = frontend.parse_tu(frontend.ParseTask(
            skip_usrs=skip, **{k: v for k, v in kwargs.items() if k in accepted}))
    except Exception as exc:
        return f"kmeminit frontend failed: {type(exc).__name__}: {exc}"
    return TUFacts(facts.file, facts.functions, facts.fp_stores, facts.includes,
                   facts.notifications, time.perf_counter() - start)
