"""compile_commands.json → translation units with libclang-ready arguments.

Compile commands are parsed, never executed: `command` strings are split with shlex and
nothing is ever handed to a shell.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from kmeminit.analyzer.config import Config
from kmeminit.analyzer.model import Level, Notification


class CompdbError(Exception):
    """An unusable compile database; str() is one line naming the file (and line)."""


@dataclass(frozen=True)
class CompileEntry:
    file: str  # absolute, symlinks resolved
    directory: str  # absolute
    arguments: tuple[str, ...]  # as written in the database
    clang_args: tuple[str, ...]  # sanitised for libclang, include paths made absolute
    dropped: tuple[str, ...]  # arguments removed by sanitising (for notices)
    arch: str


# Options whose path operand is made absolute so that parsing does not depend on the cwd.
_PATH_OPTS = ("-I", "-isystem", "-iquote", "-idirafter", "-include", "-imacros", "-B")
_ARCH_RE = re.compile(r"(?:^|/)arch/([A-Za-z0-9_]+)/include")
_SOURCE_SUFFIXES = (".c", ".S", ".s", ".cc", ".cpp")


def find_compdb(path: Path) -> Path:
    """A compile_commands.json given as itself or as the build directory holding it."""
    if path.is_dir():
        candidate = path / "compile_commands.json"
        if not candidate.is_file():
            raise CompdbError(f"{path}: no compile_commands.json in this directory")
        return candidate
    if not path.exists():
        raise CompdbError(f"{path}: compile database not found")
    return path


def _entry_lines(text: str) -> list[int]:
    """Line number of each top-level array element, for error messages."""
    decoder = json.JSONDecoder()
    lines: list[int] = []
    pos = text.index("[") + 1
    ws = re.compile(r"[\s,]*")
    line, counted = 1, 0
    while True:
        pos = ws.match(text, pos).end()
        if pos >= len(text) or text[pos] == "]":
            return lines
        line += text.count("\n", counted, pos)  # incrementally: a 3,000-entry database
        counted = pos
        lines.append(line)
        _, pos = decoder.raw_decode(text, pos)


def read_compdb(path: Path) -> tuple[list[dict], list[int]]:
    """The raw entries of a compile database, with the line each starts on."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CompdbError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CompdbError(f"{path}:{line}: compile database is not UTF-8") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CompdbError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, list):
        raise CompdbError(f"{path}:1: compile database must be a JSON list of entries")
    return data, _entry_lines(text)


# POSIX shell words (what shlex.split returns), matched by regular expressions: shlex is
# pure Python, and splitting a full kernel build's 3,000 commands with it took 10 s.
_WS = "[ \t\r\n]"
_WORD = re.compile(r"""(?:[^ \t\r\n'"\\]+|'[^']*'|"(?:[^"\\]|\\[\s\S])*"|\\[\s\S])+""")
_WORDS = re.compile(rf"{_WS}*(?:{_WORD.pattern}{_WS}*)*")
_PIECE = re.compile(r"""[^'"\\]+|'([^']*)'|"((?:[^"\\]|\\[\s\S])*)"|\\([\s\S])""")
_IN_DOUBLE_QUOTES = re.compile(r'\\(["\\])')


def _unquote(word: str) -> str:
    out = []
    for m in _PIECE.finditer(word):
        single, double, escaped = m.groups()
        if single is not None:
            out.append(single)
        elif double is not None:
            out.append(_IN_DOUBLE_QUOTES.sub(r"\1", double))
        elif escaped is not None:
            out.append(escaped)
        else:
            out.append(m.group(0))
    return "".join(out)


def _split_command(command: str, where: str) -> list[str]:
    if _WORDS.fullmatch(command):
        return [_unquote(w) for w in _WORD.findall(command)]
    try:  # not well-formed: shlex says why
        return shlex.split(command)
    except ValueError as exc:
        raise CompdbError(f"{where}: cannot split 'command': {exc}") from None


def _absolute(path: str, directory: str) -> str:
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(directory, path))


def detect_arch(arguments: list[str] | tuple[str, ...]) -> str:
    for arg in arguments:
        match = _ARCH_RE.search(arg)
        if match:
            return match.group(1)
    return "unknown"


class Sanitizer:
    """Turns a gcc command line into libclang arguments, from the `compdb` config."""

    def __init__(self, config: Config) -> None:
        self.drop_flags = set(config.get("compdb", "drop_flags", default=[]))
        self.drop_prefixes = tuple(config.get("compdb", "drop_prefixes", default=[]))
        self.drop_with_value = set(config.get("compdb", "drop_with_value", default=[]))
        self.add_flags = list(config.get("compdb", "add_flags", default=[]))
        self.per_arch = config.get("compdb", "per_arch", default={}) or {}

    def sanitize(self, argv: list[str], source: str, directory: str
                 ) -> tuple[list[str], list[str], str]:
        arch = detect_arch(argv)
        drop = self.drop_flags | set(self.per_arch.get(arch, []))
        out: list[str] = []
        dropped: list[str] = []
        source_real = os.path.realpath(_absolute(source, directory))
        args = argv[1:] if argv and not argv[0].startswith("-") else argv
        i = 0
        while i < len(args):
            arg = args[i]
            if arg in self.drop_with_value:
                dropped.extend(args[i:i + 2])
                i += 2
                continue
            if arg in drop or arg.startswith(self.drop_prefixes):
                dropped.append(arg)
                i += 1
                continue
            if not arg.startswith("-") and arg.endswith(_SOURCE_SUFFIXES) and \
                    os.path.realpath(_absolute(arg, directory)) == source_real:
                i += 1
                continue
            if arg in _PATH_OPTS and i + 1 < len(args):
                out.extend([arg, _absolute(args[i + 1], directory)])
                i += 2
                continue
            if arg.startswith("-I") and len(arg) > 2:
                out.append("-I" + _absolute(arg[2:], directory))
            else:
                out.append(arg)
            i += 1
        out.extend(self.add_flags)
        return out, dropped, arch


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def guess_source_root(sources: list[tuple[str, str]]) -> str:
    """From (file, directory) pairs: the directory most entries are compiled in, if it holds
    (nearly) all sources; otherwise the deepest directory common to all sources."""
    if not sources:
        return os.getcwd()
    directory, _ = Counter(d for _, d in sources).most_common(1)[0]
    inside = sum(1 for f, _ in sources if _under(f, directory))
    if inside * 10 >= len(sources) * 9:
        return os.path.realpath(directory)
    return os.path.commonpath([f for f, _ in sources])


@dataclass
class Compdb:
    """The selected, sanitised entries of one compile database."""

    path: Path
    source_root: str
    entries: list[CompileEntry]
    notes: list[Notification]
    total: int  # entries in the database before selection
    missing: list[str] = field(default_factory=list)  # selected sources that do not exist


def _checked(data: list, lines: list[int], compdb: Path) -> list[tuple[str, str, dict, str]]:
    """(absolute file, absolute directory, raw entry, where) for every entry, or a
    CompdbError for the first malformed one."""
    base_dir = str(compdb.parent.resolve())
    out = []
    for n, raw in enumerate(data):
        where = f"{compdb}:{lines[n] if n < len(lines) else 1}"
        if not isinstance(raw, dict):
            raise CompdbError(f"{where}: entry {n} is not a JSON object")
        missing = [k for k in ("file", "directory") if not isinstance(raw.get(k), str)]
        if missing:
            raise CompdbError(f"{where}: entry {n} has no {' or '.join(repr(m) for m in missing)}")
        arguments = raw.get("arguments")
        if not (isinstance(arguments, list) and all(isinstance(a, str) for a in arguments)
                or isinstance(raw.get("command"), str)):
            raise CompdbError(f"{where}: entry {n} has neither 'arguments' (list of strings) "
                              "nor 'command' (string)")
        directory = _absolute(raw["directory"], base_dir)
        file = os.path.realpath(_absolute(raw["file"], directory))
        out.append((file, directory, raw, where))
    return out


def wanted(file: str, root: str, filters: list[str], exclude: list[str]) -> bool:
    rel = os.path.relpath(file, root)
    if any(rel.startswith(x) for x in exclude):
        return False
    if not filters:
        return True
    return any(_under(file, os.path.realpath(f if os.path.isabs(f) else os.path.join(root, f)))
               for f in filters)


def open_compdb(path: Path, config: Config, filters: list[str] | None = None,
                source_root: str | None = None) -> Compdb:
    """Entries of the database under `filters` (paths relative to the source root, or
    absolute), minus `compdb.exclude`.  Only selected entries are split and sanitised, so a
    20,000-entry database costs little when a few directories are wanted.  Problems with one
    entry become notifications; problems with the database as a whole raise CompdbError."""
    compdb = find_compdb(path)
    data, lines = read_compdb(compdb)
    checked = _checked(data, lines, compdb)
    root = (os.path.realpath(source_root) if source_root
            else guess_source_root([(f, d) for f, d, _, _ in checked]))
    exclude = list(config.get("compdb", "exclude", default=[]) or [])
    sanitizer = Sanitizer(config)
    notes: list[Notification] = []
    entries: list[CompileEntry] = []
    missing: list[str] = []
    seen: dict[str, tuple[str, ...]] = {}
    for file, directory, raw, where in checked:
        if not wanted(file, root, filters or [], exclude):
            continue
        if not os.path.isfile(file):
            notes.append(Notification(Level.ERROR, "source file of compile command not found",
                                      file, None))
            missing.append(file)
            continue
        argv = (list(raw["arguments"]) if isinstance(raw.get("arguments"), list)
                else _split_command(raw["command"], where))
        clang_args, dropped, arch = sanitizer.sanitize(argv, raw["file"], directory)
        if file in seen:
            same = seen[file] == tuple(clang_args)
            notes.append(Notification(
                Level.NOTE if same else Level.WARNING,
                "duplicate compile command ignored" + ("" if same else
                                                       " (its arguments differ from the first)"),
                file, None))
            continue
        seen[file] = tuple(clang_args)
        entries.append(CompileEntry(file, directory, tuple(argv), tuple(clang_args),
                                    tuple(dropped), arch))
    return Compdb(compdb, root, entries, notes, len(data), missing)


def load_entries(path: Path, config: Config) -> tuple[list[CompileEntry], list[Notification]]:
    """Every usable entry (no path selection), with the notifications about the others."""
    db = open_compdb(path, config)
    return db.entries, db.notes
