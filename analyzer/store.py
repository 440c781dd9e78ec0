"""SQLite fact store, keyed by content hashes.

A TU's facts are valid while its arguments, its own text and the text of every file it
included are unchanged.  Header inline functions are stored once per USR, with the hash of
the header they come from.  WAL mode and a busy timeout make concurrent writers (parallel
`kmeminit-cc` under make -j) safe; every write is one short transaction.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kmeminit.analyzer.blobs import pack, unpack
from kmeminit.analyzer.model import (
    Function,
    Level,
    Notification,
    TUFacts,
    from_json,
    from_json_bytes,
    references,
    replace,
    to_json,
    tu_references,
    typed_json,
)
from kmeminit.analyzer.results import Finding

if TYPE_CHECKING:
    from kmeminit.analyzer.compdb import CompileEntry

SCHEMA_VERSION = 5  # 4: CallSite.param and FnPtrStore.table; 5: TUFacts.suppressions


class StoreError(Exception):
    """The store cannot be used at all (not a rebuildable condition)."""


def file_hash(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.blake2b(f.read(), digest_size=16).hexdigest()
    except OSError:
        return None


class HashCache:
    """Content hashes for one run, so a header shared by 80 TUs is read once."""

    def __init__(self) -> None:
        self._hashes: dict[str, str | None] = {}

    def get(self, path: str) -> str | None:
        if path not in self._hashes:
            self._hashes[path] = file_hash(path)
        return self._hashes[path]

    def matches(self, pairs: Iterable[tuple[str, str]]) -> bool:
        """Does every (path, content hash) hold?  (`get` for each, looked up inline: a
        whole kernel's report checks 190,000 includes.)"""
        known = self._hashes
        for path, digest in pairs:
            found = known[path] if path in known else self.get(path)
            if found != digest:
                return False
        return True

    def forget(self, path: str) -> None:
        self._hashes.pop(path, None)

    def seed(self, known: Mapping[str, str]) -> None:
        """Content hashes found by another reader of the same files in this run (the
        prefilter's key, which reads a file only when its stat signature changed)."""
        for path, digest in known.items():
            self._hashes.setdefault(path, digest)


def _sql(text: str) -> str | bytes:
    """A path or USR as an SQLite key.  Names that are not UTF-8 on disk reach Python as
    surrogate escapes, which SQLite text cannot hold: they are stored as their bytes (a
    BLOB never equals a TEXT, and a valid UTF-8 name is always TEXT, so keys stay unique)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text)
    return text


def _py(value: str | bytes) -> str:
    return os.fsdecode(value) if isinstance(value, bytes) else value


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


# a TU's include list and a command's arguments, as tuples (a store check reads them for
# every TU: msgspec decodes them twice as fast as json.loads and the conversions)
_strings = typed_json(tuple[str, ...], lambda text: _tuples(json.loads(text)))
_pairs = typed_json(tuple[tuple[str, str], ...], lambda text: _tuples(json.loads(text)))


def args_digest(args: tuple[str, ...], extra: str = "") -> str:
    return hashlib.blake2b(json.dumps([list(args), extra]).encode(), digest_size=16).hexdigest()


def _pack(obj: object) -> bytes:
    return pack(json.dumps(to_json(obj), separators=(",", ":")).encode())


def _unpack(blob: bytes) -> object:
    return json.loads(unpack(blob))


@dataclass(frozen=True)
class StoredTU:
    file: str
    args_hash: str
    content_hash: str
    includes: tuple[tuple[str, str], ...]  # (path, content hash) at parse time
    failed: bool


@dataclass(frozen=True)
class StoredCommand:
    """How a TU was compiled: the arguments as given, and as sanitised for libclang."""

    file: str
    directory: str
    arguments: tuple[str, ...]
    clang_args: tuple[str, ...]
    arch: str

    def entry(self) -> CompileEntry:
        """The command as a compile database's entry (what `report`, the prefilter and the
        benches take a kbuild store's TUs as)."""
        from kmeminit.analyzer.compdb import CompileEntry

        return CompileEntry(self.file, self.directory, self.arguments, self.clang_args, (),
                            self.arch)


_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tus (
    file TEXT PRIMARY KEY,
    args_hash TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    includes TEXT NOT NULL,
    failed INTEGER NOT NULL,
    notes TEXT NOT NULL,
    facts BLOB NOT NULL,
    parsed_at REAL NOT NULL,
    seconds REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tu_commands (
    file TEXT PRIMARY KEY,
    directory TEXT NOT NULL,
    arguments TEXT NOT NULL,
    clang_args TEXT NOT NULL,
    arch TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS header_functions (
    usr TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    file_hash TEXT NOT NULL,
    facts BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS lex_files (
    path TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    scanner TEXT NOT NULL,
    scan BLOB NOT NULL,
    PRIMARY KEY (path, content_hash)
);
CREATE TABLE IF NOT EXISTS lex_tus (
    file TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    files TEXT NOT NULL,
    relevant INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tu_findings (
    file TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    findings BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS memos (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    payload BLOB NOT NULL,
    stored_at REAL NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS revision_findings (
    key TEXT PRIMARY KEY,
    revision TEXT NOT NULL,
    findings BLOB NOT NULL,
    stored_at REAL NOT NULL
);
"""


# stores with writes deferred (FactStore.defer)
_DEFERRING: list[FactStore] = []


def run_deferred_writes() -> None:
    """The deferred writes of every store, before the command ends."""
    while _DEFERRING:
        _DEFERRING.pop(0).run_deferred()


class FactStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.notifications: list[Notification] = []
        self._facts_written = 0  # put_tu calls: they change facts_digests
        self._digests: tuple[Any, dict[str, str], str] | None = None
        self._deferred: list[Callable[[], None]] = []
        # decoded ahead by `prefetch`: file -> (facts blob, seconds, facts), header USR ->
        # (facts blob, function); taken by load_tu and header_functions when the rows
        # still hold the same bytes
        self._early_tus: dict[str, tuple[bytes, float, TUFacts]] = {}
        self._early_headers: dict[str, tuple[bytes, Function]] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = self._open_waiting()
        except sqlite3.DatabaseError as exc:
            self._rebuild(f"fact store unreadable ({exc}); rebuilt empty")
        else:
            version = self._version()
            if version != SCHEMA_VERSION:
                self.db.close()
                self._rebuild(f"fact store has schema version {version}, this kmeminit uses "
                              f"{SCHEMA_VERSION}; rebuilt empty")

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        db.execute("PRAGMA busy_timeout = 60000")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.executescript(_DDL)
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                   (str(SCHEMA_VERSION),))
        return db

    def _open_waiting(self) -> sqlite3.Connection:
        """_open, waiting out writers that hold the store (make -j runs many kmeminit-cc
        at once): a locked store is busy, not broken, and must never be rebuilt."""
        for attempt in range(600):
            try:
                return self._open()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                time.sleep(0.05 + 0.001 * (os.getpid() % 50) + 0.01 * min(attempt, 20))
        return self._open()

    def _version(self) -> int | None:
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        try:
            return int(row[0]) if row else None
        except ValueError:
            return None

    def _rebuild(self, why: str) -> None:
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(str(self.path) + suffix)
            except FileNotFoundError:
                pass
        self.notifications.append(Notification(Level.WARNING, why, str(self.path)))
        self.db = self._open()

    def close(self) -> None:
        self.db.close()

    # -- TUs ---------------------------------------------------------------------------

    def tu_state(self, file: str) -> StoredTU | None:
        row = self.db.execute(
            "SELECT file, args_hash, content_hash, includes, failed FROM tus WHERE file=?",
            (_sql(file),)).fetchone()
        if row is None:
            return None
        includes = _pairs(row[3])
        return StoredTU(_py(row[0]), row[1], row[2], includes, bool(row[4]))

    def is_current(self, file: str, args_hash: str, hashes: HashCache) -> bool:
        """True when the stored facts for `file` were computed from exactly these arguments,
        this text of the file and this text of every file it included."""
        state = self.tu_state(file)
        if state is None or state.failed or state.args_hash != args_hash:
            return False
        if state.content_hash != hashes.get(file):
            return False
        return hashes.matches(state.includes)

    def put_tu(self, facts: TUFacts, args_hash: str, hashes: HashCache, failed: bool) -> None:
        """Store one TU's facts and the header functions it extracted, atomically."""
        own = tuple(f for f in facts.functions if not f.from_header)
        headers = [f for f in facts.functions if f.from_header]
        includes = [(p, hashes.get(p) or "") for p in sorted(set(facts.includes))]
        # the parse time is in its own column: the facts of an unchanged TU stay
        # byte-identical when it is parsed again (analyzer/memo.py hashes them)
        blob = _pack(replace(facts, functions=own, parse_seconds=0.0))
        rows = [(_sql(f.usr), _sql(f.file), hashes.get(f.file) or "", _pack(f))
                for f in headers]
        with self._transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO tus VALUES (?,?,?,?,?,?,?,?,?)",
                (_sql(facts.file), args_hash, hashes.get(facts.file) or "", json.dumps(includes),
                 int(failed), json.dumps(to_json(facts.notifications)), blob, time.time(),
                 facts.parse_seconds))
            self.db.executemany("INSERT OR REPLACE INTO header_functions VALUES (?,?,?,?)", rows)
        self._facts_written += 1

    def put_commands(self, commands: list[StoredCommand]) -> None:
        """Remember how TUs were compiled, so `kmeminit report` can rebuild the program
        without a compile database (kbuild has none)."""
        rows = [(_sql(c.file), _sql(c.directory), json.dumps(list(c.arguments)),
                 json.dumps(list(c.clang_args)), c.arch) for c in commands]
        if rows:
            with self._transaction():
                self.db.executemany("INSERT OR REPLACE INTO tu_commands VALUES (?,?,?,?,?)",
                                    rows)

    def commands(self, arguments: bool = True) -> list[StoredCommand]:
        """The remembered command of every TU kbuild showed us (parsed, or recorded by its
        lexical entry only), by file.  Without `arguments` they are left empty (`report`
        reads the sanitised ones only, and must then not remember these commands)."""
        column = "arguments" if arguments else "'[]'"
        rows = self.db.execute(
            f"SELECT file, directory, {column}, clang_args, arch FROM tu_commands "
            "ORDER BY file").fetchall()
        return [StoredCommand(_py(f), _py(d), _strings(a), _strings(ca), arch)
                for f, d, a, ca, arch in rows]

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)

    # -- lexical entries (kmeminit-cc's skip, the prefilter's index) -------------------

    def lex_scan(self, path: str, content_hash: str, scanner: str) -> bytes | None:
        """A file's stored lexical scan (analyzer/lexindex.py encodes it) for this content
        and scanner version."""
        row = self.db.execute(
            "SELECT scan FROM lex_files WHERE path=? AND content_hash=? AND scanner=?",
            (_sql(path), content_hash, scanner)).fetchone()
        return row[0] if row else None

    def put_lex_scans(self, rows: list[tuple[str, str, str, bytes]]) -> None:
        """(path, content hash, scanner version, encoded scan) rows, in one transaction."""
        if rows:
            with self._transaction():
                self.db.executemany("INSERT OR REPLACE INTO lex_files VALUES (?,?,?,?)",
                                    [(_sql(p), h, v, b) for p, h, v, b in rows])

    def lexical_state(self, file: str) -> tuple[str, tuple[tuple[str, str], ...], bool] | None:
        """(key, (path, content hash) of the .c file and its private headers, whether it
        mentions a configured symbol) of a TU kmeminit-cc scanned, or None."""
        row = self.db.execute("SELECT key, files, relevant FROM lex_tus WHERE file=?",
                              (_sql(file),)).fetchone()
        if row is None:
            return None
        return row[0], tuple(tuple(x) for x in json.loads(row[1])), bool(row[2])

    def put_lexical(self, command: StoredCommand, key: str,
                    files: list[tuple[str, str]], relevant: bool,
                    scans: list[tuple[str, str, str, bytes]]) -> None:
        """Record a TU by its lexical entry: its command, the files scanned with their
        content hashes, and whether it is relevant, with the scans themselves; one
        transaction, so `kmeminit report` sees all of it or none."""
        with self._transaction():
            self.db.executemany("INSERT OR REPLACE INTO lex_files VALUES (?,?,?,?)",
                                [(_sql(p), h, v, b) for p, h, v, b in scans])
            self.db.execute("INSERT OR REPLACE INTO lex_tus VALUES (?,?,?,?)",
                            (_sql(command.file), key, json.dumps(files), int(relevant)))
            self.db.execute("INSERT OR REPLACE INTO tu_commands VALUES (?,?,?,?,?)",
                            (_sql(command.file), _sql(command.directory),
                             json.dumps(list(command.arguments)),
                             json.dumps(list(command.clang_args)), command.arch))

    # -- the findings of a git revision, for `kmeminit diff --base` ----------------------

    def revision_findings(self, key: str) -> list[Finding] | None:
        """The findings of a git revision's whole analysis stored under `key`
        (analyzer/diff.py:revision_key), or None."""
        row = self.db.execute("SELECT findings FROM revision_findings WHERE key=?",
                              (key,)).fetchone()
        return [from_json(Finding, f) for f in _unpack(row[0])] if row else None

    def put_revision_findings(self, key: str, revision: str, findings: list[Finding]
                              ) -> None:
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO revision_findings VALUES (?,?,?,?)",
                            (key, revision, _pack(list(findings)), time.time()))

    # -- results of earlier runs, by what they depend on (analyzer/memo.py) -------------

    # of each kind: a few trees or configs side by side, and the last edits of a file (a
    # state eight edits back, an undo, is still found; the largest kind, the demand's call
    # trace, is 2.2 MB for a whole kernel)
    MEMOS_KEPT = 8

    def facts_digests(self, files: list[str]) -> tuple[dict[str, str], str]:
        """What the program `Program.from_store(self, files)` would build depends on: (a
        digest of each TU's stored facts as encoded, "-" for a TU without usable facts; a
        digest of every header function).  Kept until this store writes facts, or another
        process commits to it (`report` asks twice: to start workers early, then for its
        rules)."""
        version = (tuple(files), self._facts_written,
                   self.db.execute("PRAGMA data_version").fetchone()[0])
        if self._digests is not None and self._digests[0] == version:
            return dict(self._digests[1]), self._digests[2]
        tus, headers = self._facts_digests(files)
        self._digests = (version, tus, headers)
        return dict(tus), headers

    def _facts_digests(self, files: list[str]) -> tuple[dict[str, str], str]:
        tus = {}
        for file in files:
            row = self.db.execute("SELECT facts FROM tus WHERE file=? AND failed=0",
                                  (_sql(file),)).fetchone()
            tus[file] = hashlib.blake2b(row[0], digest_size=16).hexdigest() if row else "-"
        headers = hashlib.blake2b(digest_size=16)
        for usr, blob in self.db.execute("SELECT usr, facts FROM header_functions ORDER BY usr"):
            headers.update(os.fsencode(_py(usr)) + b"\0" + blob + b"\0")
        return tus, headers.hexdigest()

    def header_usrs(self) -> set[str]:
        """The USRs of the stored header functions (nothing decoded)."""
        return {_py(r[0]) for r in self.db.execute("SELECT usr FROM header_functions")}

    def memo(self, kind: str, key: str) -> Any:
        """The result of kind `kind` stored under `key`, or None (also when it cannot be
        read: a damaged row is dropped and the result computed again)."""
        row = self.db.execute("SELECT payload FROM memos WHERE kind=? AND key=?",
                              (kind, key)).fetchone()
        if row is None:
            return None
        try:
            return _unpack(row[0])
        except ValueError:  # BlobError, or JSON that does not decode
            self.forget_memo(kind, key)
            return None

    def defer(self, write: Callable[[], None]) -> None:
        """A write nothing in this run reads again, done by `run_deferred`: while rule
        workers run, when the parent is idle (the demand's recording of the files it
        read, 60 ms on a whole kernel, is one), and at the latest when the command ends
        (`run_deferred_writes`)."""
        self._deferred.append(write)
        if self not in _DEFERRING:
            _DEFERRING.append(self)

    def run_deferred(self) -> None:
        while self._deferred:
            self._deferred.pop(0)()

    def has_memo(self, kind: str, key: str) -> bool:
        """Whether a result of kind `kind` is stored under `key` (nothing decoded)."""
        return self.db.execute("SELECT 1 FROM memos WHERE kind=? AND key=?",
                               (kind, key)).fetchone() is not None

    def forget_memo(self, kind: str, key: str) -> None:
        with self._transaction():
            self.db.execute("DELETE FROM memos WHERE kind=? AND key=?", (kind, key))

    def put_memo(self, kind: str, key: str, payload: object) -> None:
        """Keep a result (JSON data) under `key`, and the newest few of its kind."""
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO memos VALUES (?,?,?,?)",
                            (kind, key, pack(json.dumps(
                                payload, separators=(",", ":")).encode()), time.time()))
            self._keep_newest(kind)

    def copy_memo(self, kind: str, key: str, to: str) -> None:
        """Keep the result stored under `key` under `to` too (nothing decoded)."""
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO memos SELECT kind, ?, payload, ? FROM "
                            "memos WHERE kind=? AND key=?", (to, time.time(), kind, key))
            self._keep_newest(kind)

    def _keep_newest(self, kind: str) -> None:
        self.db.execute("DELETE FROM memos WHERE kind=? AND key NOT IN (SELECT key FROM "
                        "memos WHERE kind=? ORDER BY stored_at DESC LIMIT ?)",
                        (kind, kind, self.MEMOS_KEPT))

    # -- findings of one TU, as kmeminit-cc printed them ---------------------------------

    def tu_findings(self, file: str, key: str) -> bytes | None:
        row = self.db.execute("SELECT findings FROM tu_findings WHERE file=? AND key=?",
                              (_sql(file), key)).fetchone()
        return unpack(row[0]) if row else None

    def put_tu_findings(self, file: str, key: str, findings: bytes) -> None:
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO tu_findings VALUES (?,?,?)",
                            (_sql(file), key, pack(findings)))

    def known_header_usrs(self, hashes: HashCache) -> set[str]:
        """USRs of header functions whose header is unchanged: no TU needs to walk them."""
        rows = self.db.execute("SELECT usr, file, file_hash FROM header_functions").fetchall()
        return {_py(usr) for usr, file, digest in rows if hashes.get(_py(file)) == digest}

    def tu_notifications(self, file: str) -> list[Notification]:
        """The notifications parsing `file` produced, without loading its facts."""
        row = self.db.execute("SELECT notes FROM tus WHERE file=?", (_sql(file),)).fetchone()
        return [from_json(Notification, n) for n in json.loads(row[0])] if row else []

    def latest_parse(self) -> float:
        """When the newest stored TU was parsed (0 for none)."""
        row = self.db.execute("SELECT max(parsed_at) FROM tus").fetchone()
        return float(row[0] or 0.0)

    def facts_since(self, at: float) -> dict[str, str]:
        """The digest of the stored facts (as `facts_digests`) of each TU parsed after
        `at`."""
        return {_py(file): hashlib.blake2b(blob, digest_size=16).hexdigest()
                for file, blob in self.db.execute(
                    "SELECT file, facts FROM tus WHERE parsed_at > ? AND failed=0", (at,))}

    def tu_files(self) -> list[str]:
        return [_py(r[0]) for r in self.db.execute("SELECT file FROM tus ORDER BY file")]

    def load_tu(self, file: str) -> TUFacts | None:
        """The facts of a TU, None when it is not stored or failed to yield usable facts
        (they stay stored for their notifications only)."""
        row = self.db.execute("SELECT facts, seconds FROM tus WHERE file=? AND failed=0",
                              (_sql(file),)).fetchone()
        if row is None:
            return None
        early = self._early_tus.pop(file, None)
        if early is not None and early[0] == row[0] and early[1] == row[1]:
            return early[2]
        return _tu_facts(row[0], row[1])

    def iter_tus(self, files: list[str] | None = None) -> Iterator[TUFacts]:
        """The usable facts of these TUs (of every stored TU when None)."""
        for file in files if files is not None else self.tu_files():
            facts = self.load_tu(file)
            if facts is not None:
                yield facts

    def header_functions(self) -> Iterator[Function]:
        early = self._early_headers
        for usr, blob in self.db.execute(
                "SELECT usr, facts FROM header_functions ORDER BY usr"):
            ahead = early.pop(_py(usr), None) if early else None
            yield ahead[1] if ahead is not None and ahead[0] == blob else \
                from_json_bytes(Function, unpack(blob))

    def prefetch(self, files: Iterable[str]) -> Iterator[None]:
        """Decode the stored facts of the TUs `files`, then every header function, one TU
        (or a hundred header functions) per step, for the next load_tu, iter_tus or
        header_functions: each takes what was decoded ahead when its row still holds the
        same bytes, and decodes the row itself otherwise.  The index runs the steps while
        its workers parse and the parent has nothing to receive (`kmeminit diff` after a
        one-file change: the other TUs' facts are decoded during that file's parse).  A
        row that cannot be decoded is left to the load, which reports it."""
        import gc

        def step(decode: Callable[[], None]) -> None:
            collecting = gc.isenabled()  # as program.collector_paused: these objects live
            gc.disable()                 # as long as the program
            try:
                decode()
            except Exception:  # noqa: BLE001 - the load decodes it again and reports it
                pass
            finally:
                gc.freeze()
                if collecting:
                    gc.enable()

        for file in files:
            row = self.db.execute("SELECT facts, seconds FROM tus WHERE file=? AND "
                                  "failed=0", (_sql(file),)).fetchone()
            if row is not None:
                def tu(file: str = file, blob: bytes = row[0], seconds: float = row[1]
                       ) -> None:
                    self._early_tus[file] = (blob, seconds, _tu_facts(blob, seconds))
                step(tu)
                yield
        rows = self.db.execute("SELECT usr, facts FROM header_functions").fetchall()
        for start in range(0, len(rows), 100):
            def headers(batch: list[tuple[str, bytes]] = rows[start:start + 100]) -> None:
                for usr, blob in batch:
                    self._early_headers[_py(usr)] = (blob, from_json_bytes(Function,
                                                                           unpack(blob)))
            step(headers)
            yield

    def decoded_ahead(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """What `prefetch` decoded and no load took yet (None: nothing), for the stores of
        workers forked from this process (`use_decoded`)."""
        return (self._early_tus, self._early_headers) if self._early_tus or \
            self._early_headers else None

    def use_decoded(self, ahead: tuple[dict[str, Any], dict[str, Any]]) -> None:
        """Take what another store object of this database decoded ahead (in the process
        this one was forked from): each load checks the row's bytes as for its own."""
        self._early_tus, self._early_headers = dict(ahead[0]), dict(ahead[1])

    def forget_prefetched(self) -> None:
        """Drop what `prefetch` decoded and no load took."""
        self._early_tus.clear()
        self._early_headers.clear()

    def header_functions_reached(self, tus: list[TUFacts]) -> list[Function]:
        """The header functions a program of `tus` holds (Program.from_tus): those their
        functions and file-scope initialisers call, store or hand on as a value, and so
        on from each one found (`model.references`), fetched by USR without decoding
        every header function of a large store (kmeminit-cc's one-TU program)."""
        found: dict[str, Function] = {}
        defined = {fn.usr for tu in tus for fn in tu.functions}
        todo = {usr for tu in tus for usr in tu_references(tu)} - defined
        asked: set[str] = set(defined)
        while todo:
            batch = sorted(todo)[:500]
            todo.difference_update(batch)
            asked.update(batch)
            marks = ",".join("?" * len(batch))
            for (blob,) in self.db.execute(
                    f"SELECT facts FROM header_functions WHERE usr IN ({marks})",
                    [_sql(u) for u in batch]):
                fn = from_json_bytes(Function, unpack(blob))
                found[fn.usr] = fn
                todo.update(u for u in references(fn) if u not in asked)
        return [found[u] for u in sorted(found)]

    def counts(self) -> dict[str, int]:
        return {
            "tus": self.db.execute("SELECT count(*) FROM tus").fetchone()[0],
            "header_functions": self.db.execute(
                "SELECT count(*) FROM header_functions").fetchone()[0],
        }


def _tu_facts(blob: bytes, seconds: float | None) -> TUFacts:
    facts = from_json_bytes(TUFacts, unpack(blob))
    if seconds and not facts.parse_seconds:
        facts = replace(facts, parse_seconds=seconds)
    return facts


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


__all__ = ["FactStore", "HashCache", "StoreError", "StoredCommand", "args_digest", "file_hash"]
