"""Rule families in parallel, each worker over the program of its families' TUs.

Behind the prefilter each rule runs over its family's TUs alone with the findings of a
whole run, and so over those together with another family's (analyzer/memo.py;
bench/scopes.py checks both on a whole kernel).  Such a program is smaller than the whole,
and so is every pass the kernel facts make over it: on the kbuild store of the 6.12
vmlinux the whole program of 273 TUs takes 2.85 s to load, graph and run the seven rules;
the walkers' and the ordering events' 205 TUs 1.38 s for their three rules, PG_reserved's
and the altmap origins' 177 TUs 1.67 s for their four.  With more than one job the groups
of rules that share a set of TUs are spread over worker processes; each worker loads one
program, over the TUs of its groups, runs their rules and sends back the findings,
notifications and each TU's part (its USRs and suppression comments), and what it spent;
the parent never loads a program.  A worker that dies (killed, out of memory) costs
nothing but time: its groups run again in the parent.

How the groups are spread: by what the previous run measured, when there is one (memo
`rule-costs`: each rule's seconds, and the seconds a program costs per function loaded),
so that the slowest worker is as fast as it can be (on the 6.12 kbuild store the
PG_reserved rule costs half again as much as the pfn walkers' over fewer TUs, which
counting TUs misses).
Without a measurement: largest group first, each to the bin with the fewest TUs so far.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from kmeminit.analyzer.model import (
    Level,
    Notification,
    SourceSuppression,
    from_json,
    to_json,
)

# a TU's part of a program: the USRs it defines, its suppression comments
TUPart = tuple[tuple[str, ...], tuple[SourceSuppression, ...]]
# one group: the TUs of a program and the rules that run over it
Group = tuple[list[str], list[Any]]
# what running a bin gives: per rule (findings, notifications), each TU's part, and what
# it cost (Costs; and under "subjects" the names a rule with `subjects` judged, under
# "owners" the USR each finding of a rule with `owners` is in)
Outcome = tuple[dict[str, tuple[list[Any], list[Notification]]], dict[str, TUPart],
                dict[str, Any]]
# assignments of groups to bins tried at most when spreading by cost (4 workers and 7
# groups of rules: 16,384); beyond, the largest estimate first to the cheapest bin
MAX_ASSIGNMENTS = 20000


def groups_of(checkers: Iterable[Any], scope: Callable[[Any], frozenset[str]],
              order: list[str]) -> list[Group]:
    """The checkers by the TUs they run over (in `order`), the largest set first."""
    by_scope: dict[frozenset[str], list[Any]] = {}
    for checker in checkers:
        by_scope.setdefault(scope(checker), []).append(checker)
    groups = [([f for f in order if f in files], rules) for files, rules in by_scope.items()]
    return sorted(groups, key=lambda g: -len(g[0]))


def spread(groups: list[Group], workers: int,
           cost: Callable[[list[Group]], float] | None = None) -> list[list[Group]]:
    """Groups in at most `workers` bins.  With `cost` (the estimated seconds of a bin):
    the assignment whose dearest bin is cheapest, every one tried when there are few
    (ties: the first found, so the choice is stable), else each group, dearest first, to
    the bin it makes cheapest.  Without: each group, largest first, to the bin with the
    fewest TUs so far."""
    workers = max(1, min(workers, len(groups)))
    if cost is None:
        bins: list[list[Group]] = [[] for _ in range(workers)]
        loads = [0] * workers
        for group in groups:
            i = loads.index(min(loads))
            bins[i].append(group)
            loads[i] += len(group[0])
        return [b for b in bins if b]
    if workers ** len(groups) <= MAX_ASSIGNMENTS:
        # bins are interchangeable here: the first group opens bin 0
        best = _cheapest((trial for trial in _assignments(groups, workers)
                          if trial[0] and trial[0][0] is groups[0]), cost)
        assert best is not None
        return [b for b in best if b]
    bins = [[] for _ in range(workers)]
    for group in sorted(groups, key=lambda g: -cost([g])):
        i = min(range(workers), key=lambda k: cost(bins[k] + [group]))
        bins[i].append(group)
    return [b for b in bins if b]


def _assignments(groups: list[Group], workers: int) -> Iterator[list[list[Group]]]:
    """Every assignment of the groups to `workers` bins (empty bins included)."""
    for choice in itertools.product(range(workers), repeat=len(groups)):
        trial: list[list[Group]] = [[] for _ in range(workers)]
        for group, i in zip(groups, choice, strict=True):
            trial[i].append(group)
        yield trial


def _cheapest(trials: Iterable[list[list[Group]]],
              cost: Callable[[list[Group]], float]) -> list[list[Group]] | None:
    """The assignment whose dearest bin is cheapest (the first of equals), or None."""
    best: tuple[float, list[list[Group]]] | None = None
    for trial in trials:
        dearest = max(cost(b) for b in trial if b)
        if best is None or dearest < best[0] - 1e-9:
            best = (dearest, trial)
    return best[1] if best is not None else None


def bin_files(groups: list[Group], order: list[str]) -> list[str]:
    """The TUs of a bin's program, in `order`."""
    wanted = set().union(*(set(files) for files, _ in groups))
    return [f for f in order if f in wanted]


def load_bin(load: Callable[[list[str]], Any], files: list[str]) -> tuple[Any, dict[str, Any]]:
    """The program of these TUs with its call graph built, and what that cost: `program`
    seconds for `functions` functions, `headers` of them header functions."""
    start = time.perf_counter()
    program = load(files)
    _ = program.graph
    return program, {"program": time.perf_counter() - start,
                     "functions": len(program.functions),
                     "headers": len(program.functions) - sum(
                         len(program.tu_parts.get(f, ((), ()))[0]) for f in files),
                     "rules": {}}


def run_rule(checker: Any, program: Any, config: Any, progress: Any = None
             ) -> tuple[tuple[list[Any], list[Notification]], frozenset[str] | None,
                        list[str] | None]:
    """One rule over a program: its findings and notifications (rules.run_rules), and
    unless it crashed, for a rule that tells them, the names of the functions it judged
    (`subjects`: the prefilter learns walkers from them, analyzer/prefilter.py) and the
    USR of the function each finding is in (`owners`: memo.Units keeps the findings walker
    by walker); None for what it does not tell."""
    from kmeminit.analyzer.rules import run_rules

    found = run_rules([checker], program, config, progress=progress)
    if any(n.level is Level.ERROR for n in found[1]):
        return found, None, None
    subjects = frozenset(checker.subjects(program, config)) \
        if hasattr(checker, "subjects") else None
    owners = getattr(checker, "owners", None)
    return found, subjects, list(owners) if isinstance(owners, list) else None


def run_bin(load: Callable[[list[str]], Any], config: Any, groups: list[Group],
            order: list[str], loaded: tuple[Any, dict[str, Any]] | None = None) -> Outcome:
    """Load one program over the groups' TUs (in `order`), unless `loaded` is it (see
    `load_bin`), and run their rules over it; with what it cost (`load_bin`'s, and each
    rule's seconds) and each rule's subjects and owners (`run_rule`)."""
    files = bin_files(groups, order)
    program, costs = loaded if loaded is not None else load_bin(load, files)
    costs = dict(costs, rules={}, subjects={}, owners={})
    found = {}
    for _, checkers in groups:
        for c in checkers:
            began = time.perf_counter()
            found[c.id], subjects, owners = run_rule(c, program, config)
            if subjects is not None:
                costs["subjects"][c.id] = sorted(subjects)
            if owners is not None:
                costs["owners"][c.id] = owners
            costs["rules"][c.id] = time.perf_counter() - began
    parts = {f: program.tu_parts.get(f, ((), ())) for f in files}
    return found, parts, costs


def run_groups(store_path: Path, config: Any, groups: list[Group], jobs: int,
               load: Callable[[list[str]], Any], order: list[str],
               cost: Callable[[list[Group]], float] | None = None,
               early: Speculation | None = None,
               idle: Callable[[], None] | None = None, ahead: Any = None
               ) -> list[tuple[list[Group], Outcome]]:
    """Each worker's bin of groups, with its outcome: in up to `jobs` worker processes
    (forked: the checkers and config are inherited), each opening the store itself; the
    bin of a worker that fails runs in this process, with `load`.  `cost` estimates a
    bin's seconds (see `spread`).  A bin whose program an `early` worker has loaded
    already runs there.  `idle` is done while the workers run.  `ahead` (this process's
    FactStore.decoded_ahead()) is what the fresh workers' stores take before decoding."""
    bins = early.match(groups, order, cost) if early is not None else None
    if bins is None:
        bins = spread(groups, jobs, cost)
    if len(bins) < 2:
        if early is not None:
            early.close()
        return [(groups, run_bin(load, config, groups, order))]
    ctx = multiprocessing.get_context("fork")
    running = []
    fresh = []
    for chosen in bins:
        taken = early.take(bin_files(chosen, order), chosen) if early is not None else None
        if taken is not None:
            running.append((chosen, taken, None))
        else:
            fresh.append(chosen)
    if early is not None:
        early.close()  # the workers no bin took
    if fresh:
        _release_free_memory()
    for chosen in fresh:
        try:
            receive, send = ctx.Pipe(duplex=False)
            worker = ctx.Process(target=_worker,
                                 args=(store_path, config, chosen, order, send, ahead),
                                 daemon=True)
            worker.start()
        except OSError:  # no process to be had (a limit): the bin runs here
            running.append((chosen, None, None))
            continue
        send.close()
        running.append((chosen, receive, worker))
    if idle is not None:
        idle()
    outcomes = []
    for chosen, receive, worker in running:
        payload = None
        if receive is not None:
            try:
                payload = receive.recv()
            except (EOFError, OSError):
                pass
            if worker is not None:
                worker.join()
        outcome = _decode(payload) if payload is not None else None
        if outcome is None:  # the worker died or failed: its bin runs here
            outcome = run_bin(load, config, chosen, order)
        outcomes.append((chosen, outcome))
    return outcomes


def run_shared(program: Any, config: Any, checkers: list[Any], jobs: int,
               seconds: Mapping[str, float] | None = None, progress: Any = None,
               debug: bool = False, memory: int = 2 << 30
               ) -> tuple[dict[str, tuple[list[Any], list[Notification]]], dict[str, float]]:
    """Every checker over one program loaded here, each rule's (findings, notifications)
    and seconds.  With `jobs` > 1 the rule families (checkers sharing a `demand`) are
    spread over this process and up to `jobs` - 1 children forked from it: they inherit
    the program and its call graph, built first (every rule needs it), and send back
    their rules' results.  A 6.12 slice's program (208 TUs, `kmeminit diff` without the
    prefilter) runs its seven rules in 0.52 s after its 0.2 s graph; spread over two
    processes, in 0.38 s (each copies the pages of the program it touches).  `seconds`
    (each rule's, as measured before) balance the spread; without, a rule counts one.
    A child that fails costs only time: its rules run here.  Nothing is forked under
    `debug` (a checker's exception must reach the caller), or when this process and a
    whole copy of it per child would take more than `memory` bytes, or the copies more
    than half of the memory available (copy-on-write: a rule's walk over the program
    copies what it touches; the whole 6.12 vmlinux's program of 2 GiB, spread so, took
    3.8 GiB for no gain in time)."""
    from kmeminit.analyzer.rules import rule_label, run_rules

    by_family: dict[Any, list[Any]] = {}
    for checker in checkers:
        by_family.setdefault(getattr(checker, "demand", None) or checker.id, []).append(checker)
    groups: list[Group] = [([], rules) for rules in by_family.values()]
    bins = [groups]
    if jobs > 1 and len(groups) > 1 and not debug:
        known = dict(seconds or {})
        usual = max(known.values(), default=1.0)
        bins = spread(groups, jobs, lambda bin_: sum(known.get(c.id, usual)
                                                      for _, rules in bin_ for c in rules))
    if len(bins) > 1:
        _ = program.graph
        if not _room_to_fork(len(bins) - 1, memory):
            bins = [groups]
    ctx = multiprocessing.get_context("fork")
    children = []
    for chosen in bins[1:]:
        try:
            receive, send = ctx.Pipe(duplex=False)
            child = ctx.Process(target=_shared_worker, args=(program, config, chosen, send),
                                daemon=True)
            child.start()
        except OSError:  # no process to be had (a limit): the bin runs here
            bins[0] = bins[0] + chosen
            continue
        send.close()
        children.append((chosen, receive, child))
    results: dict[str, tuple[list[Any], list[Notification]]] = {}
    spent: dict[str, float] = {}
    if children and progress is not None:  # every rule starts now, here or in a child
        for i, checker in enumerate(checkers):
            progress.begin(rule_label(checker), i + 1)

    def here(chosen: list[Group]) -> None:
        for _, rules in chosen:
            for checker in rules:
                began = time.perf_counter()
                results[checker.id] = run_rules([checker], program, config, debug=debug,
                                                progress=None if children else progress)
                spent[checker.id] = time.perf_counter() - began
                if children and progress is not None:
                    progress.step(checker.id)

    here(bins[0])
    for chosen, receive, child in children:
        payload = None
        try:
            payload = receive.recv()
        except (EOFError, OSError):
            pass
        child.join()
        outcome = _decode(payload) if payload is not None else None
        if outcome is None:  # the child died or failed: its rules run here
            here(chosen)
            continue
        results.update(outcome[0])
        spent.update(outcome[2].get("rules", {}))
        if progress is not None:
            for _, rules in chosen:
                for checker in rules:
                    progress.step(checker.id)
    return results, spent


def _shared_worker(program: Any, config: Any, groups: list[Group], send: Any) -> None:
    """A child of `run_shared`: its groups' rules over the inherited program."""
    _answer(send, lambda: run_bin(lambda _: None, config, groups, [], (program, {})))


def _answer(send: Any, outcome: Callable[[], Outcome]) -> None:
    """A worker's end: what `outcome()` gives, sent as JSON data, then out without the
    interpreter's teardown (freeing a program object by object takes seconds).  Nothing
    is sent when it fails: the parent runs the work again and reports what fails there."""
    status = 1
    try:
        send.send(_encode(outcome()))
        status = 0
    except BaseException:  # noqa: BLE001 - any failure: the parent's run reports it
        pass
    finally:
        try:
            send.close()
        finally:
            os._exit(status)


def _room_to_fork(children: int, memory: int) -> bool:
    """Whether this process and `children` copies of it fit in `memory` bytes, and the
    copies in half of the memory available (Linux's /proc; elsewhere, no)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            available = next(int(line.split()[1]) * 1024 for line in meminfo
                             if line.startswith("MemAvailable:"))
    except (OSError, ValueError, IndexError, StopIteration):
        return False
    return (children + 1) * rss <= memory and children * rss <= available // 2


def asked(groups: list[Group]) -> list[list[Any]]:
    """Groups as a worker is asked to run them: each group's TUs and its rules' ids."""
    return [[list(g_files), [c.id for c in checkers]] for g_files, checkers in groups]


class Speculation:
    """Workers started before the rules that must run are known, each loading the
    program of a bin of the last run that spread its rules (memo `speculation`), while
    this process checks the store and computes the prefilter's demand.  After an edit of
    a TU of every rule family (kbuild's `make C=1` of mm/memremap.c, then `report`) the
    same bins come back, and their programs are ready when the rules are: the half second
    of the parent's checks is no longer spent before the workers start.  A worker no bin
    takes is killed; one that fails costs only time (its bin runs in the parent).

    A worker that has its program before it is asked runs the groups its bin ran last
    time (`expected`, as `asked` gives them) meanwhile, and answers with that outcome
    when it is asked exactly those: when the parent computes the prefilter's demand again
    (an edit on the demand's own paths), the rules have run by the time it is done."""

    def __init__(self, store_path: Path, config: Any, checkers: list[Any],
                 bins: list[list[str]], expected: list[list[list[Any]]] | None = None
                 ) -> None:
        self.workers: list[tuple[list[str], Any, Any]] = []  # (files, connection, process)
        self.taken = 0  # bins whose early worker answered
        by_id = {c.id: c for c in checkers}
        ctx = multiprocessing.get_context("fork")
        for i, files in enumerate(bins):
            guess = expected[i] if expected else None  # a bin's groups, [] if unknown
            try:
                mine, theirs = ctx.Pipe(duplex=True)
                worker = ctx.Process(target=_early_worker,
                                     args=(store_path, config, by_id, files, theirs, mine,
                                           guess),
                                     daemon=True)
                worker.start()
            except OSError:  # no process to be had: the run goes on without
                continue
            theirs.close()
            self.workers.append((files, mine, worker))

    def match(self, groups: list[Group], order: list[str],
              cost: Callable[[list[Group]], float] | None = None) -> list[list[Group]] | None:
        """The groups as bins over exactly the programs the workers load, when some
        assignment gives those (the cheapest by `cost`), else None.  Which bin a rule
        runs in does not change its findings (see the module doc); a program loaded
        already beats a better balance."""
        loaded = [files for files, _, _ in self.workers]
        if len(loaded) < 2 or len(loaded) ** len(groups) > MAX_ASSIGNMENTS:
            return None
        return _cheapest((trial for trial in _assignments(groups, len(loaded))
                          if all(b and bin_files(b, order) == files
                                 for b, files in zip(trial, loaded, strict=True))),
                         cost or (lambda _: 0.0))

    def take(self, files: list[str], groups: list[Group]) -> Any | None:
        """The connection of a worker whose program is that of `files`, told to run the
        groups' rules (it answers as `_worker` does), or None."""
        for i, (loaded, conn, worker) in enumerate(self.workers):
            if loaded == files:
                del self.workers[i]
                try:
                    conn.send(asked(groups))
                except OSError:
                    return None
                return _Answer(self, conn, worker)
        return None

    def close(self) -> None:
        """Stop the workers no bin took (one may still be loading: it reads the store
        only, and is killed: no handler of its own runs, wherever it is)."""
        for _, conn, worker in self.workers:
            conn.close()
            worker.kill()
            worker.join()
        self.workers = []


class _Answer:
    """An early worker's answer, read like a fresh worker's pipe; counted in `taken`
    when one came."""

    def __init__(self, early: Speculation, conn: Any, worker: Any) -> None:
        self.early, self.conn, self.worker = early, conn, worker

    def recv(self) -> Any:
        try:
            answer = self.conn.recv()
        finally:
            self.conn.close()
            self.worker.join()
        if answer is not None:
            self.early.taken += 1
        return answer


def _early_worker(store_path: Path, config: Any, by_id: dict[str, Any], files: list[str],
                  conn: Any, theirs: Any, expected: list[list[Any]] | None = None) -> None:
    """An early worker: load the program of `files`, then wait for the groups to run over
    it, and answer with the outcome as `_worker` does (nothing, and out, when the parent
    has gone or sends None).  Not asked yet when the program is loaded, it runs the
    `expected` groups meanwhile: their outcome is the answer if those are asked."""
    status = 1
    try:
        theirs.close()  # the parent's end: when the parent is gone, recv() ends
        loaded = None
        try:
            from kmeminit.analyzer.program import Program
            from kmeminit.analyzer.store import FactStore

            store = FactStore(store_path)
            loaded = load_bin(lambda f: Program.from_store(store, f).apply_config(config),
                              files)
        except Exception:  # the parent runs the bin again and reports what fails there
            pass

        def run(wanted: list[list[Any]]) -> Any:
            groups = [(g_files, [by_id[rule] for rule in rules]) for g_files, rules in wanted]
            return _encode(run_bin(lambda f: None, config, groups, files, loaded))

        ready = None
        if expected and loaded is not None and not conn.poll(0):
            try:
                ready = run(expected)
            except Exception:  # asked for these, it fails again: the parent reports it
                ready = None
        wanted = conn.recv()
        if wanted is not None and loaded is not None:
            conn.send(ready if ready is not None and wanted == expected else run(wanted))
            status = 0
    except BaseException:  # EOF (the parent is gone), a rule unknown here
        pass
    finally:
        try:
            conn.close()
        finally:
            os._exit(status)


def _release_free_memory() -> None:
    """Before forking: give back what the parent no longer uses (the prefilter's lexical
    index of a whole kernel, 450 MB), else each worker's allocations land in the freed
    pages it inherited and copy them (whole 6.12 vmlinux: 1.97 GiB summed over the
    processes, 1.4 GiB so)."""
    import gc

    from kmeminit.analyzer.program import release_spared

    release_spared()
    gc.collect()
    try:  # glibc keeps freed heap memory; malloc_trim returns it to the system
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # another C library
        pass


def _worker(store_path: Path, config: Any, groups: list[Group], order: list[str],
            send: Any, ahead: Any = None) -> None:
    """A worker: its bin over the program it loads from the store (`_answer`)."""

    def outcome() -> Outcome:
        from kmeminit.analyzer.program import Program
        from kmeminit.analyzer.store import FactStore

        store = FactStore(store_path)
        if ahead is not None:
            store.use_decoded(ahead)
        return run_bin(lambda files: Program.from_store(store, files).apply_config(config),
                       config, groups, order)

    _answer(send, outcome)


def _encode(outcome: Outcome) -> list[Any]:
    found, parts, costs = outcome
    return [{rule: [to_json(list(f)), to_json(list(n))] for rule, (f, n) in found.items()},
            {file: [list(usrs), to_json(list(comments))]
             for file, (usrs, comments) in parts.items()}, costs]


def _decode(payload: Any) -> Outcome | None:
    """A worker's outcome, None when the payload is not one."""
    from kmeminit.analyzer.results import Finding

    try:
        found, parts, costs = payload
        return ({rule: ([from_json(Finding, x) for x in f],
                        [from_json(Notification, x) for x in n])
                 for rule, (f, n) in found.items()},
                {file: (tuple(usrs), tuple(from_json(SourceSuppression, c) for c in comments))
                 for file, (usrs, comments) in parts.items()}, dict(costs))
    except (TypeError, ValueError, KeyError, AttributeError):
        return None


__all__ = ["Speculation", "asked", "groups_of", "load_bin", "run_bin", "run_groups",
           "run_shared", "spread"]
