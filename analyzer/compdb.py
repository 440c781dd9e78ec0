"""compile_commands.json → translation units with libclang-ready arguments.

Compile commands are parsed, never executed: `command` strings are split with shlex and
nothing is ever handed to a shell.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from kmeminit.analyzer.config import Config, ConfigError
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
    arch: str  # the target's name (x86_64, arm64, riscv64, ppc64le), see Targets


# Options whose path operand is made absolute so that parsing does not depend on the cwd.
_PATH_OPTS = ("-I", "-isystem", "-iquote", "-idirafter", "-include", "-imacros", "-B")
_ARCH_RE = re.compile(r"(?:^|/)arch/([A-Za-z0-9_]+)/include")
_SOURCE_SUFFIXES = (".c", ".S", ".s", ".cc", ".cpp")
# A cross compiler is named after its target: CROSS_COMPILE=aarch64-linux-gnu- gives
# aarch64-linux-gnu-gcc (Debian also installs x86_64-linux-gnu-gcc-12 and the like).
_COMPILER_RE = re.compile(r"^(?P<triple>.+)-(?:gcc|cc|clang)(?:-[0-9.]+)?$")
_WRAPPERS = ("ccache", "sccache", "distcc", "icecc")
# A prefix clang can take as a target although compdb.targets does not list its cpu: it
# names an OS (a wrapper script called my-gcc is no cross compiler).
_TRIPLE_OS = re.compile(r"-linux(?:-|$)|-elf$")


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
    if "'" not in word and '"' not in word and "\\" not in word:
        return word  # nearly every word of a kernel command (330,000 in a whole vmlinux's)
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


@functools.lru_cache(maxsize=8192)
def _absolute(path: str, directory: str) -> str:
    """`path` made absolute against `directory`, normalised as text (no file is read: the
    same include directories of every kernel command are made absolute once)."""
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(directory, path))


def detect_arch(arguments: list[str] | tuple[str, ...]) -> str:
    """The kernel architecture directory (arch/<arch>/include) the arguments name."""
    for arg in arguments:
        match = _ARCH_RE.search(arg)
        if match:
            return match.group(1)
    return "unknown"


@dataclass(frozen=True)
class Target:
    """The machine a TU is compiled for."""

    triple: str  # clang's --target
    arch: str  # the kernel's architecture directory, arch/<arch>/ (per_arch flags)
    name: str  # what reports call it (SARIF category): x86_64, arm64, riscv64, ppc64le
    bits: int = 0  # 0: not known
    endian: str = ""


def _cpu(triple: str) -> str:
    return triple.split("-", 1)[0]


def _size_and_order(args: list[str] | tuple[str, ...]) -> tuple[int, str]:
    """Word size and byte order the gcc flags ask for (0 / "" when they do not say)."""
    bits, endian = 0, ""
    for arg in args:
        if not arg.startswith("-m"):  # every flag below
            continue
        if arg in ("-m64", "-m32"):
            bits = int(arg[2:])
        elif arg.startswith("-mabi=lp64") or arg.startswith("-march=rv64"):
            bits = 64
        elif arg.startswith("-mabi=ilp32") or arg.startswith("-march=rv32"):
            bits = 32
        elif arg in ("-mlittle-endian", "-mlittle"):
            endian = "little"
        elif arg in ("-mbig-endian", "-mbig"):
            endian = "big"
    return bits, endian


def _option_value(args: list[str] | tuple[str, ...], names: tuple[str, ...]) -> str | None:
    """The last value of an option written `NAME=VALUE` or `NAME VALUE`."""
    value = None
    for i, arg in enumerate(args):
        name, eq, rest = arg.partition("=")
        if name in names and eq:
            value = rest
        elif arg in names and i + 1 < len(args):
            value = args[i + 1]
    return value


class Targets:
    """The clang target of a TU, derived from its build (`compdb.targets` describes the
    known ones).  In order: `compdb.target` in the config; a `--target` the command already
    holds (clang builds); the compiler's CROSS_COMPILE prefix (`aarch64-linux-gnu-gcc`);
    kbuild's ARCH (sparse's `--arch=`, kmeminit-cc); the arch/<arch>/include directory the
    command includes.  Word size and byte order flags (`-m32`, `-mbig-endian`, `-mabi=`)
    choose among one architecture's targets."""

    def __init__(self, config: Config) -> None:
        self.forced: str | None = config.get("compdb", "target")
        table = config.get("compdb", "targets", default={}) or {}
        for triple, spec in table.items():
            missing = [k for k in ("arch", "name") if k not in spec]
            if missing:
                raise ConfigError(f"{config.where('compdb', 'targets', triple)}: target "
                                  f"'{triple}' needs {' and '.join(missing)}")
        self.known = [Target(triple, spec["arch"], spec["name"], spec.get("bits", 0),
                             spec.get("endian", "")) for triple, spec in table.items()]
        self.by_cpu: dict[str, Target] = {}
        for target, spec in zip(self.known, table.values(), strict=True):
            for cpu in (_cpu(target.triple), *spec.get("cpus", [])):
                self.by_cpu.setdefault(cpu, target)

    def _of_triple(self, triple: str, args: list[str] | tuple[str, ...]) -> Target:
        known = self.by_cpu.get(_cpu(triple))
        if known is not None:
            return known
        return Target(triple, detect_arch(args), _cpu(triple))

    def _of_arch(self, arch: str) -> Target | None:
        """The first target of a kernel architecture, by directory or by kbuild ARCH name
        (ARCH=x86_64 and ARCH=i386 are names of x86's targets)."""
        return next((t for t in self.known if t.name == arch), None) or \
            next((t for t in self.known if t.arch == arch), None)

    def _refined(self, target: Target, bits: int, endian: str) -> Target:
        """The target of the same architecture with that word size and byte order."""
        want = (bits or target.bits, endian or target.endian)
        if want == (target.bits, target.endian):
            return target
        return next((t for t in self.known if t.arch == target.arch and
                     (t.bits, t.endian) == want), target)

    def derive(self, argv: list[str], hints: list[str] | tuple[str, ...] = ()
               ) -> Target | None:
        """`argv` is a compile command (compiler first); `hints` are arguments seen beside
        it that are not passed on (kbuild's CHECKFLAGS)."""
        args = [*hints, *argv]
        if self.forced:
            return self._of_triple(self.forced, args)
        explicit = _option_value(argv, ("--target", "-target"))
        if explicit:
            return self._of_triple(explicit, args)
        target = None
        prefix = _COMPILER_RE.match(os.path.basename(compiler(argv) or ""))
        if prefix and _cpu(prefix.group("triple")) in self.by_cpu:
            target = self.by_cpu[_cpu(prefix.group("triple"))]
        elif prefix and _TRIPLE_OS.search(prefix.group("triple")):
            return self._of_triple(prefix.group("triple"), args)  # mips-linux-gnu-gcc
        if target is None:
            arch = _option_value(hints, ("--arch",)) or detect_arch(args)
            target = self._of_arch(arch)
        if target is None:
            return None
        return self._refined(target, *_size_and_order(args))


def _after_compiler(argv: list[str] | tuple[str, ...]) -> int:
    """Index of the first argument after the compiler (behind ccache and the like); 0 when
    the command starts with an option (kbuild's c_flags)."""
    if not argv or argv[0].startswith("-"):
        return 0
    if os.path.basename(argv[0]) in _WRAPPERS and len(argv) > 1 and \
            not argv[1].startswith("-"):
        return 2
    return 1


def compiler(argv: list[str] | tuple[str, ...]) -> str | None:
    """The compiler of a compile command, or None when there is none (kbuild's c_flags)."""
    start = _after_compiler(argv)
    return argv[start - 1] if start else None


class Sanitized(NamedTuple):
    args: list[str]  # for libclang
    dropped: list[str]
    arch: str  # the target's name, else the kernel architecture directory, else "unknown"


class Sanitizer:
    """Turns a gcc command line into libclang arguments, from the `compdb` config."""

    def __init__(self, config: Config) -> None:
        self.drop_flags = set(config.get("compdb", "drop_flags", default=[]))
        self.drop_prefixes = tuple(config.get("compdb", "drop_prefixes", default=[]))
        self.drop_with_value = set(config.get("compdb", "drop_with_value", default=[]))
        self.add_flags = list(config.get("compdb", "add_flags", default=[]))
        self.per_arch = config.get("compdb", "per_arch", default={}) or {}
        self.per_arch_add = config.get("compdb", "per_arch_add", default={}) or {}
        self.implied = set(config.get("compdb", "implied_by_target", default=[]) or [])
        self.targets = Targets(config)

    def sanitize(self, argv: list[str], source: str, directory: str,
                 hints: list[str] | tuple[str, ...] = ()) -> Sanitized:
        """`argv` is the compile command (compiler first) or kbuild's c_flags; `hints` are
        kbuild's CHECKFLAGS, used to find the target and dropped."""
        target = self.targets.derive(argv, hints)
        arch = target.arch if target else detect_arch(argv)
        own = self.per_arch.get(arch, [])
        drop = self.drop_flags | {f for f in own if not f.endswith("=")}
        prefixes = self.drop_prefixes + tuple(f for f in own if f.endswith("="))
        if target is not None:
            drop |= self.implied  # the target's word size and byte order
        out: list[str] = [f"--target={target.triple}"] if target else []
        dropped: list[str] = []
        source_abs = _absolute(source, directory)
        source_real = None  # resolved when a source argument's path differs from it
        args = argv[_after_compiler(argv):]
        i = 0
        while i < len(args):
            arg = args[i]
            if arg in self.drop_with_value or arg in ("-target", "--target"):
                dropped.extend(args[i:i + 2])
                i += 2
                continue
            if arg in drop or arg.startswith(prefixes) or \
                    arg.startswith(("--target=", "-target=")):
                dropped.append(arg)
                i += 1
                continue
            if not arg.startswith("-") and arg.endswith(_SOURCE_SUFFIXES):
                path = _absolute(arg, directory)
                if path != source_abs and source_real is None:
                    source_real = os.path.realpath(source_abs)
                if path == source_abs or os.path.realpath(path) == source_real:
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
        out.extend(self.per_arch_add.get(arch, []))
        return Sanitized(out, dropped, target.name if target else arch)


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
    not_c_files: list[str] = field(default_factory=list)  # skipped: not C (assembly, C++)

    @property
    def not_c(self) -> int:
        """Selected entries skipped because they are not C."""
        return len(self.not_c_files)


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
    """Whether `file` (absolute, resolved) is under one of `filters` (paths relative to
    `root`, or absolute; any file when none) and under none of `exclude` (prefixes of
    the path relative to `root`)."""
    if exclude:
        inside = root.rstrip("/") + "/"
        rel = file[len(inside):] if file.startswith(inside) else os.path.relpath(file, root)
        if rel.startswith(tuple(exclude)):
            return False
    if not filters:
        return True
    return any(_under(file, _resolved(f, root)) for f in filters)


@functools.lru_cache(maxsize=256)
def _resolved(path: str, root: str) -> str:
    """A path filter resolved (once per run: every entry is tested against it)."""
    return os.path.realpath(path if os.path.isabs(path) else os.path.join(root, path))


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
    not_c: list[str] = []
    seen: dict[str, tuple[str, ...]] = {}
    for file, directory, raw, where in checked:
        if not wanted(file, root, filters or [], exclude):
            continue
        if not file.endswith(".c"):
            not_c.append(file)
            continue
        if not os.path.isfile(file):
            notes.append(Notification(Level.ERROR, "source file of compile command not found",
                                      file, None))
            missing.append(file)
            continue
        argv = (list(raw["arguments"]) if isinstance(raw.get("arguments"), list)
                else _split_command(raw["command"], where))
        if _language(argv) not in (None, "c"):
            not_c.append(file)
            continue
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
    if not_c:
        notes.append(skipped_note(not_c, root))
    return Compdb(compdb, root, entries, notes, len(data), missing, not_c)


def _language(argv: list[str]) -> str | None:
    """The language `-x LANG` (or `-xLANG`) forces for the source, if any."""
    lang = None
    for i, arg in enumerate(argv):
        if arg == "-x" and i + 1 < len(argv):
            lang = argv[i + 1]
        elif arg.startswith("-x") and len(arg) > 2:
            lang = arg[2:]
    return None if lang == "none" else lang


def skipped_note(files: list[str], root: str) -> Notification:
    """One notice for every compile command that is not C (assembly: .S, .s; C++)."""
    kinds = Counter(os.path.splitext(f)[1] or "no suffix" for f in files)
    shown = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    first = os.path.relpath(files[0], root)
    return Notification(Level.NOTE, f"{len(files)} compile commands that are not C skipped "
                        f"({shown}; first: {first}): only C is analysed")


def load_entries(path: Path, config: Config) -> tuple[list[CompileEntry], list[Notification]]:
    """Every usable entry (no path selection), with the notifications about the others."""
    db = open_compdb(path, config)
    return db.entries, db.notes
