"""kbuild integration: `make C=1 CHECK=kmeminit-cc` (also `kmeminit cc`).

kbuild runs `$(CHECK) $(CHECKFLAGS) $(c_flags) file.c` from the object tree root, once per
compiled file.  CHECKFLAGS are sparse's (`-D__linux__ … -Wbitwise … --arch=x86 -m64 …`
plus `$(CF)`), c_flags are gcc's.  kmeminit-cc drops the sparse-only ones (their `--arch=`,
`-m64` and byte order give the clang target, as the cross compiler's name does in a
compile database), sanitises the gcc ones through the same `compdb.Sanitizer` as a compile
database, indexes the TU into the store (a worker process: a libclang crash costs a
one-line notice, not make's job), remembers its command line there for `kmeminit report`,
and prints the findings of the program made of this TU and the store's header functions.
Cross-TU findings need every TU: `kmeminit report` gives them after the build.

Exit codes: 0 (findings never break the build unless CF=--kmeminit-fail-on=LEVEL asks
to: then 1), 2 when the input is unusable (no source file, unreadable store).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kmeminit.analyzer.cli.session import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    FAIL_ON,
    UsageError,
    default_store,
    load_rules,
    now,
    rule_metas,
    selected_rules,
    tune_collector,
)
from kmeminit.analyzer.compdb import CompileEntry, Sanitizer
from kmeminit.analyzer.config import Config, ConfigError, load_config
from kmeminit.analyzer.model import Level, Notification

if TYPE_CHECKING:
    from kmeminit.analyzer.model import SourceSuppression
    from kmeminit.analyzer.program import Program
    from kmeminit.analyzer.results import Finding, Report, RuleMeta
    from kmeminit.analyzer.store import FactStore

USAGE = """\
usage: kmeminit-cc [--kmeminit-NAME=VALUE ...] $(CHECKFLAGS) $(c_flags) file.c
       (also: kmeminit cc ...)

kbuild's CHECK program: make C=1 CHECK=kmeminit-cc [CF=--kmeminit-NAME=VALUE] mm/

Takes the arguments kbuild passes to sparse: sparse's CHECKFLAGS are dropped, gcc's
c_flags are sanitised as a compile database's are, the TU is indexed into the fact store
and the findings of this TU (with the store's header functions it calls) are printed on
stderr, gcc-style.  Cross-TU findings: `kmeminit report` after the build.

kmeminit options (in CF, each --kmeminit-NAME=VALUE):
  --kmeminit-fail-on=LEVEL    exit 1 when a finding at or above note|warning|error is
                              printed (default: none, findings never break the build)
  --kmeminit-min-level=LEVEL  lowest level printed: note|warning|error (default: warning)
  --kmeminit-color=WHEN       auto (default: on a terminal, unless NO_COLOR), always, never
  --kmeminit-store=PATH       fact store (default: $KMEMINIT_STORE, else .kmeminit/facts.db
                              in make's working directory)
  --kmeminit-config=FILE      YAML merged over config/default.yaml
  --kmeminit-rules=IDS        comma-separated rule ids or names to run
  --kmeminit-tu-timeout=S     give up on the TU after S seconds (default 120)

Exit codes: 0 (also when libclang fails on the TU: a one-line notice), 1 with
--kmeminit-fail-on, 2 for unusable input (no .c file among the arguments).
"""

_LEVELS = ("note", "warning", "error")

OWN_PREFIX = "--kmeminit-"
# kbuild's c_flags start with the dependency-file option: what precedes it is CHECKFLAGS.
_C_FLAGS_START = ("-Wp,-MMD,", "-Wp,-MD,")


class KbuildError(Exception):
    """Unusable input; str() is one line."""


@dataclass(frozen=True)
class CcOptions:
    """Options for kmeminit itself, passed through CF as --kmeminit-NAME=VALUE."""

    fail_on: str = "none"
    min_level: str = "warning"
    color: str = "auto"
    store: Path | None = None
    config: Path | None = None
    rules: str | None = None
    timeout: float | None = None


def _own_option(arg: str, opts: dict[str, object]) -> None:
    name, eq, value = arg[len(OWN_PREFIX):].partition("=")
    if not eq or not value:
        raise KbuildError(f"{arg}: expected {OWN_PREFIX}NAME=VALUE")
    if name == "fail-on":
        if value not in FAIL_ON:
            raise KbuildError(f"{arg}: fail-on must be note, warning, error or none")
        opts["fail_on"] = value
    elif name == "min-level":
        if value not in _LEVELS:
            raise KbuildError(f"{arg}: min-level must be note, warning or error")
        opts["min_level"] = value
    elif name == "color":
        if value not in ("auto", "always", "never"):
            raise KbuildError(f"{arg}: color must be auto, always or never")
        opts["color"] = value
    elif name in ("store", "config"):
        opts[name] = Path(value)
    elif name == "rules":
        opts["rules"] = value
    elif name == "tu-timeout":
        opts["timeout"] = float(value)
    else:
        raise KbuildError(f"{arg}: unknown kmeminit option (known: fail-on, min-level, "
                          "color, store, config, rules, tu-timeout)")


def _is_sparse_only(arg: str, config: Config) -> bool:
    flags = set(config.get("kbuild", "sparse_flags", default=[]) or [])
    prefixes = tuple(config.get("kbuild", "sparse_prefixes", default=[]) or [])
    return arg in flags or arg.startswith(prefixes)


def split_argv(argv: list[str], config: Config
               ) -> tuple[CcOptions, str, list[str], list[str]]:
    """(kmeminit options, source file, gcc arguments, dropped sparse arguments) of one
    kbuild CHECK invocation.  The source is the last argument naming a .c file."""
    opts: dict[str, object] = {}
    start = next((i for i, a in enumerate(argv) if a.startswith(_C_FLAGS_START)), 0)
    gcc: list[str] = []
    dropped: list[str] = []
    source = None
    for i, arg in enumerate(argv):
        if arg.startswith(OWN_PREFIX):
            _own_option(arg, opts)
        elif not arg.startswith("-") and arg.endswith(".c"):
            source = arg
            gcc.append(arg)
        elif i < start and not arg.startswith(("-I", "-include", "-U")) or \
                _is_sparse_only(arg, config):
            dropped.append(arg)  # CHECKFLAGS: sparse's, all already implied for clang
        else:
            gcc.append(arg)
    if source is None:
        raise KbuildError("no .c source file among the arguments "
                          "(kbuild runs: $(CHECK) $(CHECKFLAGS) $(c_flags) file.c)")
    return CcOptions(**opts), source, gcc, dropped  # type: ignore[arg-type]


def entry_for(argv: list[str], config: Config, cwd: str
              ) -> tuple[CcOptions, CompileEntry, list[str]]:
    """The TU of one CHECK invocation as a compile entry, sanitised like a database's."""
    opts, source, gcc, sparse = split_argv(argv, config)
    file = os.path.realpath(source if os.path.isabs(source) else os.path.join(cwd, source))
    if not os.path.isfile(file):
        raise KbuildError(f"{source}: source file not found")
    clang_args, dropped, arch = Sanitizer(config).sanitize(gcc, source, cwd, hints=sparse)
    arguments = ("cc", *gcc)  # as a compile database would hold it, minus CHECKFLAGS
    return opts, CompileEntry(file, cwd, arguments, tuple(clang_args),
                              tuple(sparse + dropped), arch), sparse


def _notice(message: str) -> None:
    print(f"kmeminit-cc: {message}", file=sys.stderr)


def run(argv: list[str]) -> int:
    """One kbuild CHECK invocation; never a traceback (KMEMINIT_DEBUG=1 re-raises)."""
    if argv[:1] in (["-h"], ["--help"]):  # never first in a kbuild command line
        print(USAGE, end="")
        return EXIT_OK
    try:
        return _run(argv)
    except KbuildError as exc:
        _notice(f"error: {exc}")
        return EXIT_USAGE
    except (ConfigError, UsageError) as exc:
        _notice(f"error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug of ours must not break the kernel build
        if os.environ.get("KMEMINIT_DEBUG"):
            raise
        _notice(f"internal error, TU skipped: {type(exc).__name__}: {exc}")
        return EXIT_OK


def _run(argv: list[str]) -> int:
    from kmeminit.analyzer.store import FactStore

    cwd = os.getcwd()
    first = load_config(None)
    opts, _, _, _ = split_argv(argv, first)
    config = load_config(opts.config) if opts.config else first
    opts, entry, _ = entry_for(argv, config, cwd)
    exclude = tuple(config.get("compdb", "exclude", default=[]) or [])
    if os.path.relpath(entry.file, cwd).startswith(exclude):
        return EXIT_OK  # host tools kbuild also checks (scripts/mod/empty.c): not kernel code
    try:
        store = FactStore(opts.store or default_store(cwd))
    except Exception as exc:  # sqlite3 errors, a read-only tree
        raise KbuildError(f"cannot open the fact store: {exc}") from None
    return _check_tu(entry, store, config, opts, cwd)


def _check_tu(entry: CompileEntry, store: FactStore, config: Config, opts: CcOptions,
              cwd: str) -> int:
    """The cheapest way to this TU's findings: cached with its facts; nothing to do when
    it was skipped and is unchanged; skipped (recorded by its lexical entry, not parsed)
    when it mentions no configured symbol; else parsed and checked."""
    from kmeminit.analyzer.index import frontend_key, tu_key
    from kmeminit.analyzer.store import HashCache

    hashes = HashCache()
    key = tu_key(entry, frontend_key(config))
    if store.is_current(entry.file, key, hashes):
        shown_key = _shown_key(key, config, opts, cwd)
        cached = store.tu_findings(entry.file, shown_key)
        if cached is not None:
            return _print_shown(json.loads(cached), opts)
        return _print_shown(_check_parsed(entry, store, config, opts, cwd, shown_key), opts)
    lex_key = _lexical_key(entry, config)
    state = store.lexical_state(entry.file)
    if state is not None and state[0] == lex_key and not state[2] and \
            hashes.matches(state[1]):
        return EXIT_OK  # skipped before, and nothing it is judged by has changed
    if not _record_lexical(entry, store, config, lex_key):
        return EXIT_OK  # mentions no configured symbol: `kmeminit report` decides
    shown = _parse(entry, store, config, opts, cwd, _shown_key(key, config, opts, cwd))
    return _print_shown(shown, opts) if shown is not None else EXIT_OK


def _lexical_key(entry: CompileEntry, config: Config) -> str:
    """What a TU's lexical entry depends on besides file contents: its arguments (they
    find its private headers), the configured symbols and the scanner."""
    from kmeminit.analyzer import version
    from kmeminit.analyzer.lexindex import SCANNER
    from kmeminit.analyzer.prefilter import config_symbols
    from kmeminit.analyzer.store import args_digest

    return args_digest(entry.clang_args,
                       f"{version()}/{SCANNER}/{sorted(config_symbols(config))}")


def _record_lexical(entry: CompileEntry, store: FactStore, config: Config, key: str) -> bool:
    """Scan the TU's .c file and private headers and record them with its command (what
    `kmeminit report` needs to decide whether to parse it); True when it is relevant."""
    from kmeminit.analyzer.prefilter import StoredScans, lexical_entry
    from kmeminit.analyzer.store import StoredCommand

    scans = StoredScans(store, config)
    lexical = lexical_entry(entry, config, scans)
    if lexical is None:
        raise KbuildError(f"{entry.file}: cannot read the source file")
    command = StoredCommand(entry.file, entry.directory, entry.arguments, entry.clang_args,
                            entry.arch)
    store.put_lexical(command, key, list(lexical.files), lexical.relevant, scans.new)
    return lexical.relevant


def _parse(entry: CompileEntry, store: FactStore, config: Config, opts: CcOptions,
           cwd: str, shown_key: str) -> dict | None:
    """Index the TU (a worker process: a libclang crash costs a one-line notice), then
    check it; None when it yielded no facts."""
    from kmeminit.analyzer.index import index_entries

    timeout = opts.timeout or config.get("index", "tu_timeout", default=120)
    stats = index_entries([entry], store, config, jobs=1, timeout=timeout,
                          idle=_prepare_check)
    notes = list(store.notifications) + stats.notifications
    if stats.failed:
        for note in notes:
            if note.level is Level.ERROR:
                _notice(f"{os.path.relpath(entry.file, cwd)}: {note.message}; TU skipped")
        return None
    return _check_parsed(entry, store, config, opts, cwd, shown_key, notes)


def _prepare_check() -> None:
    """Import what checking the TU needs (networkx, the program model, the rules, the
    text output: 0.08 s) while the worker process parses it."""
    import networkx  # noqa: F401

    import kmeminit.analyzer.paths
    import kmeminit.analyzer.program
    import kmeminit.analyzer.triage.sources
    import kmeminit.sarif.text  # noqa: F401
    from kmeminit.analyzer.rules import builtin_checkers

    builtin_checkers()  # the rules' modules, and the kernel facts they import


def _shown_key(key: str, config: Config, opts: CcOptions, cwd: str) -> str:
    """What the printed findings of a TU depend on besides its facts (`key`): kmeminit's
    code (a checkout or a pin to a commit changes the rules without changing the
    version), the config, the rules selected and installed, and the directory paths
    are shown relative to."""
    from importlib.metadata import entry_points

    from kmeminit.analyzer import package_digest
    from kmeminit.analyzer.rules import ENTRY_POINT_GROUP
    from kmeminit.analyzer.store import args_digest

    plugins = sorted(f"{e.name}={e.value}" for e in entry_points(group=ENTRY_POINT_GROUP))
    return args_digest((key, cwd, opts.rules or "", package_digest(), *plugins),
                       json.dumps(config.data, sort_keys=True, default=str))


def _check_parsed(entry: CompileEntry, store: FactStore, config: Config, opts: CcOptions,
                  cwd: str, shown_key: str, notes: list[Notification] | None = None
                  ) -> dict:
    """Run the rules over the program made of this TU and the store's header functions
    it reaches (as a whole program's, Program.from_tus); what is printed (`shown`) is
    cached in the store with the TU's facts."""
    from kmeminit.analyzer.paths import SourceTree
    from kmeminit.analyzer.program import Program
    from kmeminit.analyzer.rules import run_rules
    from kmeminit.analyzer.triage.sources import Sources
    from kmeminit.sarif.text import Paint, finding_lines, format_notification

    start = now()
    if notes is None:
        notes = list(store.notifications) + store.tu_notifications(entry.file)
    checkers, load_notes = load_rules(selected_rules(opts.rules), config)
    tus = list(store.iter_tus([entry.file]))
    headers = store.header_functions_reached(tus)
    # One TU is a partial view: callers, callees and ops-table implementations may lie in
    # other TUs, so only what holds whatever they do is printed; the rest is in `report`.
    program = Program.from_tus(tus, headers, partial=True)
    findings, run_notes = run_rules(checkers, program, config)
    comments = tuple(c for c in program.suppressions.values() if c.file == entry.file)
    report = _triaged(tuple(rule_metas(checkers)), shown(findings, entry, program), start,
                      cwd, comments)
    tree, sources = SourceTree(cwd), Sources(cwd)
    plain, coloured = Paint(False), Paint(True)  # which one is printed is decided then
    result = {
        "findings": [[item.finding.level.value, finding_lines(item, tree, sources, plain),
                      finding_lines(item, tree, sources, coloured)]
                     for item in report.reported],
        "notes": [format_notification(note, tree)
                  for note in notes + load_notes + run_notes + list(report.notifications)
                  if note.level is not Level.NOTE]}
    deferred = _deferred(program, entry.file)
    if deferred:
        result["notes"].append(f"kmeminit-cc: {os.path.relpath(entry.file, cwd)}: {deferred}")
    store.put_tu_findings(entry.file, shown_key, json.dumps(result).encode())
    return result


def _deferred(program: Program, file: str) -> str:
    """The verdicts on this file's functions that the TU alone cannot give (their callers,
    callees or origins lie in other TUs), as one line; "" when there are none."""
    counts = {rule: n for rule, usrs in sorted(program.deferred.items())
              if (n := sum(1 for u in usrs if (fn := program.functions.get(u)) is not None
                           and fn.file == file))}
    if not counts:
        return ""
    total = sum(counts.values())
    per = ", ".join(f"{rule} {n}" for rule, n in counts.items())
    verdicts = "1 verdict on its functions needs" if total == 1 else \
        f"{total} verdicts on its functions need"
    return (f"{verdicts} the other TUs "
            f"({per}): `kmeminit report` gives them after the build")


def shown(findings: list[Finding], entry: CompileEntry, program: Program) -> list[Finding]:
    """The findings kmeminit-cc prints for a TU it checked (the rest are `kmeminit
    report`'s): what this returns is cached with the TU's facts and printed by
    `_print_shown` whenever the TU is checked again unchanged."""
    return [f for f in findings if f.location.file == entry.file]


def _print_shown(result: dict, opts: CcOptions) -> int:
    """Print a TU's findings (gcc-style, at or above --kmeminit-min-level, and always those
    that fail the build) and notices on stderr; the exit code."""
    from kmeminit.sarif.text import use_color

    paint = use_color(opts.color, sys.stderr)
    fail = Level(opts.fail_on).rank if opts.fail_on != "none" else 99
    floor = min(Level(opts.min_level).rank, fail)
    for level, plain, coloured in result["findings"]:
        if Level(level).rank >= floor:
            print("\n".join(coloured if paint else plain), file=sys.stderr)
    for line in result["notes"]:
        print(line, file=sys.stderr)
    failed = any(Level(level).rank >= fail for level, *_ in result["findings"])
    return EXIT_FINDINGS if failed else EXIT_OK


def _triaged(rules: tuple[RuleMeta, ...], findings: list[Finding], start: str, cwd: str,
             comments: tuple[SourceSuppression, ...] = ()) -> Report:
    """This TU's findings through the triage stage (no baseline, no suppressions file; the
    TU's own `kmeminit: ignore` comments), paths relative to the object tree root kbuild
    runs in."""
    from kmeminit.analyzer.results import Invocation, RunResult
    from kmeminit.analyzer.triage import TriageInputs, triage

    argv = tuple(sys.argv[1:])
    invocation = Invocation(shlex.join(["kmeminit-cc", *argv]), argv, cwd, start, now(),
                            True, cwd)
    return triage(RunResult(rules, tuple(findings), (), invocation, suppressions=comments),
                  TriageInputs(report_unused=False))


def main() -> int:
    """Console script `kmeminit-cc`."""
    tune_collector()
    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
