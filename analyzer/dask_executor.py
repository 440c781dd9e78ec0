"""TU indexing as Dask tasks (`--executor dask --scheduler ADDRESS`, extra `kmeminit[dask]`).

Each TU becomes one task running the same `index_task.parse_one` the local worker
processes run; the facts (plain dataclasses, pickled by Dask) come back to this process and are
written with `FactStore.put_tu`, exactly as local workers' facts are.  Assumptions: every
worker sees the source tree (and its generated headers) at the same absolute path as the
client, runs the same kmeminit and libclang versions, and nothing but this client writes
the store.  A task that kills its worker (a libclang crash) costs that TU, as a
notification; Dask does not retry it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kmeminit.analyzer.index_task import IndexStats, Progress, parse_one, record
from kmeminit.analyzer.model import TUFacts

if TYPE_CHECKING:
    from kmeminit.analyzer.compdb import CompileEntry
    from kmeminit.analyzer.store import FactStore, HashCache


class DaskUnavailable(Exception):
    """dask.distributed is not installed; str() says how to install it."""


def client_for(scheduler: str) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise DaskUnavailable("--executor dask needs dask.distributed: "
                              "pip install 'kmeminit[dask]'") from None
    return Client(scheduler, set_as_default=False)


def run_dask(scheduler: str | Any, todo: list[tuple[CompileEntry, str]], known: list[str],
             store: FactStore, hashes: HashCache, options: dict[str, Any], timeout: float,
             stats: IndexStats, bar: Progress,
             on_facts: Callable[[TUFacts], None] | None) -> None:
    """Parse `todo` on the cluster at `scheduler` (an address, or a Client); store the facts
    as they arrive.  Tasks get the header USRs known before the run: header functions two
    tasks both extract are stored once (one row per USR)."""
    from distributed import as_completed

    client = client_for(scheduler) if isinstance(scheduler, str) else scheduler
    keys = {entry.file: key for entry, key in todo}
    skip = frozenset(known)
    try:
        futures = {}
        for entry, _ in todo:
            kwargs = dict(options, file=entry.file, args=entry.clang_args,
                          directory=entry.directory)
            future = client.submit(parse_one, kwargs, skip, pure=False, retries=0,
                                   key=f"kmeminit-parse-{entry.file}-{time.monotonic_ns()}")
            futures[future] = entry
        pending = dict(futures)
        try:
            with client.as_current():
                done = as_completed(list(futures), timeout=timeout * max(1, len(todo)))
            for future in done:
                entry = pending.pop(future)
                failed = stats.failed
                _store(_result(future, timeout), entry, store, hashes, keys, stats, on_facts)
                bar.step(entry.file, failed=stats.failed > failed)
        except TimeoutError:
            for future, entry in pending.items():
                future.cancel()
                _store(f"parse timed out on the Dask cluster after {timeout:g} s per TU",
                       entry, store, hashes, keys, stats, on_facts)
    finally:
        bar.close()
        if isinstance(scheduler, str):
            client.close()


def _store(facts: TUFacts | str, entry: CompileEntry, store: FactStore, hashes: HashCache,
           keys: dict[str, str], stats: IndexStats,
           on_facts: Callable[[TUFacts], None] | None) -> None:
    if record(store, facts, entry.file, keys.get(entry.file, ""), hashes, stats) \
            and on_facts and isinstance(facts, TUFacts):
        on_facts(facts)


def _result(future: Any, timeout: float) -> TUFacts | str:
    try:
        return future.result(timeout=timeout)
    except Exception as exc:  # KilledWorker, CancelledError, a worker-side error
        name = type(exc).__name__
        if name == "KilledWorker":
            return "Dask worker died while parsing (libclang crash?)"
        return f"Dask task failed: {name}: {str(exc).splitlines()[0] if str(exc) else ''}"
