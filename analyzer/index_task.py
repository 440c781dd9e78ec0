"""One TU parsed on behalf of an indexer: the task body shared by the local worker
processes (analyzer/index.py) and Dask workers (analyzer/dask_executor.py), plus what both
report about a run (IndexStats, Progress)."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kmeminit.analyzer.model import (
    ERROR_LIMIT,
    FATAL,
    Level,
    Notification,
    TUFacts,
    replace,
)

if TYPE_CHECKING:
    from kmeminit.analyzer.store import FactStore, HashCache

OK, DEGRADED, FAILED = "ok", "degraded", "failed"


def with_tu(file: str, notes: tuple[Notification, ...] | list[Notification]
            ) -> list[Notification]:
    """The TU's notifications, each naming the TU (a header's diagnostic says which TU
    included the header; a command-line one has no location at all)."""
    return [n if n.tu == file else replace(n, tu=file) for n in notes]


def tu_health(file: str, notes: tuple[Notification, ...] | list[Notification]
              ) -> tuple[str, str | None]:
    """What a TU's parse diagnostics mean for its facts, and why: FAILED when it yields no
    usable facts (a missing include), DEGRADED when functions may be lost or wrong (clang's
    error limit reached, errors in the TU's own source or in a header it includes), else
    OK.  A header's errors count: parsed for the wrong target, an arm64 TU has a dozen
    errors in arch/arm64/include/asm/ (inline asm registers, a global register variable),
    all in headers and under the error limit, and the header functions it contributes are
    the ones clang could not make sense of.  A clean tree has none in any C TU."""
    fatal = next((n for n in notes if n.kind == FATAL), None)
    if fatal is not None:
        return FAILED, fatal.message
    if any(n.kind == ERROR_LIMIT for n in notes):
        return DEGRADED, "clang's error limit was reached"
    errors = [n for n in notes if n.level is Level.ERROR and n.file]
    own = next((n for n in errors if n.file == file), None)
    if own is not None:
        return DEGRADED, f"error in its own source, line {own.line}: {own.message}"
    if errors:
        first = errors[0]
        return DEGRADED, (f"error in an included header, {first.file}:{first.line}: "
                          f"{first.message}")
    return OK, None


@dataclass
class IndexStats:
    """What indexing did.  Every selected TU is exactly one of: parsed, from cache (both
    clean), parsed with errors (degraded: facts kept, some may be lost) or failed (no
    usable facts: a crash, a timeout, a missing include, a missing source file)."""

    selected: int = 0
    parsed: int = 0
    cached: int = 0
    degraded: int = 0
    failed: int = 0
    seconds: float = 0.0
    notifications: list[Notification] = field(default_factory=list)
    # (health, TU file, reason) of every degraded or failed TU, in the order met
    problems: list[tuple[str, str, str]] = field(default_factory=list)

    def count(self, health: str, file: str, reason: str | None, cached: bool = False) -> None:
        """Record one TU's outcome."""
        if health == OK:
            if cached:
                self.cached += 1
            else:
                self.parsed += 1
            return
        if health == DEGRADED:
            self.degraded += 1
        else:
            self.failed += 1
        self.problems.append((health, file, reason or health))

    def add(self, other: IndexStats) -> None:
        for name in ("selected", "parsed", "cached", "degraded", "failed", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.notifications.extend(other.notifications)
        self.problems.extend(other.problems)

    @property
    def clean(self) -> bool:
        return not self.failed and not self.degraded

    def summary(self) -> str:
        return (f"kmeminit: {self.selected} TUs: {self.parsed} parsed, {self.cached} from cache, "
                f"{self.degraded} parsed with errors, {self.failed} failed, "
                f"{self.seconds:.1f} s")


def _eta(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Progress of a phase (TUs indexed, rules run), for a person or a CI log.

    On a terminal: a tqdm bar with the count, rate, ETA and failures.  Otherwise (a CI
    log, a pipe) a heartbeat line every HEARTBEAT seconds or every tenth of the work,
    whichever comes first, never two within MIN_GAP seconds:
    `kmeminit: indexed 812/2,790 TUs, 3 failed, ETA 4 min`.  Silent when not enabled
    (--no-progress) or when there is nothing to do; the phase's summary line is the
    caller's.  One object for the local pool and Dask alike.
    """

    HEARTBEAT, MIN_GAP = 10.0, 2.0

    def __init__(self, total: int, enabled: bool, what: str = "TUs", verb: str = "indexed",
                 stream: Any = None, clock: Any = time.monotonic, phase: bool = False
                 ) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.phase = phase  # few long steps (the rules): a log line as each one begins
        self.what, self.verb = what, verb
        self.stream = stream or sys.stderr
        self.clock = clock
        self.start = self.last = clock()
        self.last_done = 0
        self.bar = None
        self.log = False
        if not enabled or not total:
            return
        if getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=what.rstrip("s") or what, desc=verb,
                            file=self.stream, leave=False, dynamic_ncols=True)
        else:
            self.log = True

    def begin(self, name: str, ordinal: int | None = None) -> None:
        """A step starts (a rule): named on the bar, or a line in a log for a phase, with
        its `ordinal` (default: the next step's; steps running in other processes are
        announced as they start, in their own order)."""
        if self.bar is not None:
            self.bar.set_postfix_str(name)
        elif self.log and self.phase:
            n = self.done + 1 if ordinal is None else ordinal
            print(f"kmeminit: {self.verb} {name} ({n}/{self.total})", file=self.stream,
                  flush=True)

    def step(self, name: str, failed: bool = False) -> None:
        self.done += 1
        self.failed += failed
        if self.bar is not None:
            post = os.path.basename(name)
            if self.failed:
                post = f"{self.failed} failed, {post}"
            self.bar.set_postfix_str(post, refresh=False)
            self.bar.update(1)
        elif self.log and not self.phase:
            self._heartbeat()

    def _heartbeat(self) -> None:
        now = self.clock()
        since = now - self.last
        tenth = self.done - self.last_done >= max(1, self.total / 10)
        if self.done >= self.total or since < self.MIN_GAP or not (
                since >= self.HEARTBEAT or tenth):
            return
        self.last, self.last_done = now, self.done
        line = f"kmeminit: {self.verb} {self.done:,}/{self.total:,} {self.what}"
        if self.failed:
            line += f", {self.failed:,} failed"
        rate = self.done / max(now - self.start, 1e-9)
        line += f", ETA {_eta((self.total - self.done) / rate)}"
        print(line, file=self.stream, flush=True)

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

    from kmeminit.analyzer import frontend

    inject_fault(kwargs["file"])
    accepted = {f.name for f in dataclasses.fields(frontend.ParseTask)}
    start = time.perf_counter()
    try:
        facts = frontend.parse_tu(frontend.ParseTask(
            skip_usrs=skip, **{k: v for k, v in kwargs.items() if k in accepted}))
    except Exception as exc:
        return f"kmeminit frontend failed: {type(exc).__name__}: {exc}"
    return replace(facts, parse_seconds=time.perf_counter() - start)


def record(store: FactStore, facts: TUFacts | str, file: str, key: str, hashes: HashCache,
           stats: IndexStats) -> bool:
    """Store one task's outcome and count it: facts (a TU that failed to yield usable facts
    is stored as failed, so the next run parses it again and no program uses it), or the
    reason there are none.  True when the facts are usable."""
    if isinstance(facts, str):
        stats.count(FAILED, file, facts)
        stats.notifications.append(Notification(Level.ERROR, facts, file, tu=file))
        return False
    health, reason = tu_health(facts.file, facts.notifications)
    store.put_tu(facts, key, hashes, failed=health == FAILED)
    stats.count(health, file, reason)
    stats.notifications.extend(with_tu(file, facts.notifications))
    return health != FAILED
