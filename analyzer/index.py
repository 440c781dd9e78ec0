"""Parallel, crash-isolated indexing of translation units into the fact store.

Each TU is parsed in a worker process.  A worker that segfaults inside libclang, or hangs
past the timeout, is killed and replaced; its TU becomes a notification and the run goes
on.  Facts are written by the parent, one transaction per TU, so an interrupted run leaves
every TU either fully stored or absent.
"""

from __future__ import annotations

import multiprocessing
import pickle
import signal
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any

from kmeminit.analyzer import version
from kmeminit.analyzer.compdb import CompileEntry
from kmeminit.analyzer.config import Config
from kmeminit.analyzer.index_task import (
    IndexStats,
    Progress,
    parse_one,
    record,
    tu_health,
    with_tu,
)
from kmeminit.analyzer.model import TUFacts
from kmeminit.analyzer.store import SCHEMA_VERSION, FactStore, HashCache, StoredCommand, args_digest


def frontend_key(config: Config) -> dict[str, Any]:
    """The config's frontend options: part of every TU's cache key (`tu_key`)."""
    # frontend.task only: commands that never parse need no libclang binding
    from kmeminit.analyzer.frontend.task import frontend_options

    return frontend_options(config)


def tu_key(entry: CompileEntry, options: dict[str, Any]) -> str:
    """Hash of everything besides file contents that decides a TU's facts."""
    salt = f"{version()}/{SCHEMA_VERSION}/{sorted(options.items())}"
    return args_digest(entry.clang_args, salt)


def _worker_main(conn: Connection) -> None:
    """Worker loop: receive (task kwargs, new header USRs), reply with TUFacts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the CLI's handler, inherited by fork
    skip: set[str] = set()
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        kwargs, new_usrs = message
        skip.update(new_usrs)
        facts = parse_one(kwargs, frozenset(skip))
        if isinstance(facts, TUFacts):
            skip.update(f.usr for f in facts.functions if f.from_header)
        conn.send(facts)


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by signal {-code} ({signal.Signals(-code).name})"
    return f"exit code {code}"


class _Worker:
    def __init__(self, ctx: Any) -> None:
        parent, child = ctx.Pipe()
        self.conn: Connection = parent
        self.proc = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.entry: CompileEntry | None = None
        self.started = 0.0
        self.usrs_sent = 0

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


def index_entries(entries: list[CompileEntry], store: FactStore, config: Config, jobs: int,
                  timeout: float, progress: bool = False,
                  on_facts: Callable[[TUFacts], None] | None = None,
                  unsaved: tuple[tuple[str, bytes], ...] = (),
                  known_usrs: frozenset[str] = frozenset(), scheduler: str | None = None,
                  remember: bool = True, hashes: HashCache | None = None,
                  idle: Callable[[], None] | None = None,
                  background: Callable[[set[str]], Iterator[None]] | None = None
                  ) -> IndexStats:
    """Bring the store up to date for `entries`; returns what was done.  `unsaved` gives
    file contents to parse in place of the files on disk (the store must then be one that
    only this run uses: its content hashes describe the disk, not these contents).
    `known_usrs` are header functions whose facts the caller has already: not walked.
    `scheduler` (a Dask scheduler address) parses on a Dask cluster instead of local
    worker processes; the facts are stored here the same way.  The entries' commands are
    remembered in the store (for `kmeminit report`) unless `remember` is false: `report`'s
    come from there.  `hashes`: the run's content hashes so far.  `idle` is done once
    while the first TUs parse (local workers only).  `background(files being parsed)`
    gives work done a step at a time whenever the parent has no worker to answer (local
    workers only; stopped at the first step that raises)."""
    start = time.perf_counter()
    stats = IndexStats(selected=len(entries))
    hashes = hashes if hashes is not None else HashCache()
    options = frontend_key(config)
    todo: list[tuple[CompileEntry, str]] = []
    for entry in entries:
        key = tu_key(entry, options)
        if store.is_current(entry.file, key, hashes):
            notes = store.tu_notifications(entry.file)
            health, reason = tu_health(entry.file, notes)
            stats.count(health, entry.file, reason, cached=True)
            stats.notifications.extend(with_tu(entry.file, notes))
        else:
            todo.append((entry, key))
    if todo:
        known = sorted(store.known_header_usrs(hashes) | known_usrs)
        if scheduler is not None:
            from kmeminit.analyzer.dask_executor import run_dask

            run_dask(scheduler, todo, known, store, hashes, options, timeout, stats,
                     Progress(len(todo), progress), on_facts)
        else:
            _run_pool(todo, known, store, hashes, options, max(1, min(jobs, len(todo))),
                      timeout, stats, progress, on_facts, unsaved, idle,
                      background({entry.file for entry, _ in todo}) if background else None)
    if remember and not unsaved:
        store.put_commands([StoredCommand(e.file, e.directory, e.arguments, e.clang_args,
                                          e.arch) for e in entries])
    stats.seconds = time.perf_counter() - start
    return stats


def _run_pool(todo: list[tuple[CompileEntry, str]], known: list[str], store: FactStore,
              hashes: HashCache, options: dict[str, Any], jobs: int, timeout: float,
              stats: IndexStats, progress: bool,
              on_facts: Callable[[TUFacts], None] | None,
              unsaved: tuple[tuple[str, bytes], ...] = (),
              idle: Callable[[], None] | None = None,
              background: Iterator[None] | None = None) -> None:
    from kmeminit.analyzer.program import release_spared

    release_spared()  # not inherited by the parsers
    ctx = multiprocessing.get_context("fork")
    keys = {entry.file: key for entry, key in todo}
    queue = list(reversed(todo))
    workers = [_Worker(ctx) for _ in range(jobs)]
    bar = Progress(len(todo), progress)

    def failed(entry: CompileEntry, reason: str) -> None:
        record(store, reason, entry.file, "", hashes, stats)
        bar.step(entry.file, failed=True)

    def fail(worker: _Worker, reason: str) -> None:
        assert worker.entry is not None
        failed(worker.entry, reason)
        worker.entry = None

    def dispatch(i: int) -> None:
        """Hand worker i the next TU, if any (with the header USRs it has not seen)."""
        worker = workers[i]
        if worker.entry is not None or not queue:
            return
        entry, _ = queue.pop()
        kwargs = dict(options, file=entry.file, args=entry.clang_args,
                      directory=entry.directory)
        if unsaved:
            kwargs["unsaved"] = unsaved
        try:
            worker.conn.send((kwargs, known[worker.usrs_sent:]))
        except OSError:
            worker.stop(kill=True)
            workers[i] = worker = _Worker(ctx)
            worker.conn.send((kwargs, known))
        worker.usrs_sent = len(known)
        worker.entry, worker.started = entry, time.monotonic()

    try:
        while queue or any(w.entry for w in workers):
            for i in range(len(workers)):
                dispatch(i)
            if idle is not None:  # once, in this thread: the workers are forked already
                idle, then = None, idle
                then()
            busy = [w for w in workers if w.entry is not None]
            deadline = min(w.started for w in busy) + timeout
            waited = [w.conn for w in busy] + [w.proc.sentinel for w in busy]
            if background is not None and not wait(waited, timeout=0):
                try:  # a step of the background work, then look again
                    next(background)
                except Exception:  # noqa: BLE001 - StopIteration, or work it need not do
                    background = None
                continue
            ready = wait(waited, timeout=max(0.0, deadline - time.monotonic()))
            for i, worker in enumerate(workers):
                if worker.entry is None:
                    continue
                if worker.conn in ready:
                    try:
                        # decoded after the worker has its next TU (below)
                        raw = worker.conn.recv_bytes()
                    except (EOFError, OSError):
                        worker.proc.join(timeout=5)
                        fail(worker, f"libclang worker crashed while parsing "
                                     f"({_death(worker.proc.exitcode)})")
                        worker.stop(kill=True)
                        workers[i] = _Worker(ctx)
                        continue
                    # The worker parses its next TU while its facts are decoded and
                    # stored: it knows the header functions it just walked (the USRs are
                    # sent again later, harmlessly), and a serial run no longer waits on
                    # the store.
                    entry, worker.entry = worker.entry, None
                    dispatch(i)
                    facts = pickle.loads(raw)
                    if isinstance(facts, str):
                        failed(entry, facts)
                        continue
                    usable = record(store, facts, entry.file, keys[entry.file], hashes,
                                    stats)
                    if usable:
                        known.extend(f.usr for f in facts.functions if f.from_header)
                        if on_facts:
                            on_facts(facts)
                    bar.step(entry.file, failed=not usable)
                elif worker.proc.sentinel in ready or not worker.proc.is_alive():
                    worker.proc.join(timeout=5)
                    fail(worker, f"libclang worker crashed while parsing "
                                 f"({_death(worker.proc.exitcode)})")
                    worker.stop(kill=True)
                    workers[i] = _Worker(ctx)
                elif time.monotonic() - worker.started > timeout:
                    fail(worker, f"parse timed out after {timeout:g} s")
                    worker.stop(kill=True)
                    workers[i] = _Worker(ctx)
    finally:
        bar.close()
        for worker in workers:
            worker.stop(kill=worker.entry is not None)
