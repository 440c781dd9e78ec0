"""`kmeminit diff --base REV`: only the findings the working tree (or --head) adds."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from typing import TYPE_CHECKING

from kmeminit.analyzer.cli import output
from kmeminit.analyzer.cli.options import (
    add_input_options,
    add_output_options,
    add_report_options,
)
from kmeminit.analyzer.cli.session import (
    Session,
    UsageError,
    index,
    invocation,
    load_rules,
    now,
    open_session,
    rule_metas,
    selected_rules,
)
from kmeminit.analyzer.model import Level, Notification

if TYPE_CHECKING:
    from kmeminit.analyzer.compdb import CompileEntry
    from kmeminit.analyzer.results import Finding


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help="only the findings new since a git revision (pre-merge)")
    add_input_options(p)
    add_output_options(p)
    add_report_options(p)
    p.add_argument("--base", required=True, metavar="REV",
                   help="report only findings that are not in this git revision")
    p.add_argument("--head", metavar="REV",
                   help="the revision to check (default: the working tree as it is)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Findings in head (the working tree, or --head) whose fingerprint base has not.
    The base side's fingerprints come from the store when it holds that revision's result
    for the same TUs, config and rules (an earlier diff, or a check of a clean checkout)."""
    from kmeminit.analyzer import vcs
    from kmeminit.analyzer.diff import Facts, program_at, revision_key
    from kmeminit.analyzer.results import RunResult
    from kmeminit.analyzer.rules import run_checkers

    start = now()
    session = open_session(args)
    inputs = output.load_triage(args, session)
    root = session.source_root
    top = vcs.toplevel(root)
    if top is None:
        raise UsageError(f"{root}: not a git checkout (kmeminit diff compares git revisions)")
    try:
        base = vcs.resolve(top, args.base)
        head = vcs.resolve(top, args.head) if args.head else None
    except vcs.GitError as exc:
        raise UsageError(str(exc)) from None
    checkers, load_notes = load_rules(selected_rules(args.rules), session.config)
    selected = list(session.entries)  # the prefilter narrows session.entries
    stats = index(session, args)
    clock = time.perf_counter()
    timeout = args.tu_timeout or session.config.get("index", "tu_timeout", default=120)
    key = revision_key(base, selected, session.config, checkers)
    cached = session.store.revision_fingerprints(key)
    facts = None
    head_sources: dict[str, bytes] = {}
    if head is None:
        findings, run_notes, functions, touched = _working_tree(args, session, top, base,
                                                                selected, checkers)
    else:
        facts = Facts.load(session.store, [e.file for e in session.entries])
        build = (session.entries, session.store, facts, session.config, args.jobs, timeout)
        at_head = program_at(top, head, *build)
        head_sources = at_head.sources
        findings, run_notes = run_checkers(checkers, at_head.program, session.config,
                                           debug=args.debug)
        functions, touched = len(at_head.program.functions), "every rule"
    if cached is None:
        facts = facts or Facts.load(session.store, [e.file for e in session.entries])
        build = (session.entries, session.store, facts, session.config, args.jobs, timeout)
        known, base_failures, how = _base_side(args, top, base, build, checkers, root, key)
    else:
        known, base_failures, how = frozenset(cached), [], "the base's result from the store"
    notes = (session.notifications + load_notes + stats.notifications + run_notes
             + base_failures)
    provenance = vcs.provenance(root)
    if provenance is not None and head is not None:
        provenance = dataclasses.replace(provenance, revision_id=head, branch=None)
    result = RunResult(tuple(rule_metas(checkers)), tuple(findings), tuple(notes),
                       invocation(start, session, session.successful(stats)),
                       {"functions": str(functions)}, provenance=provenance)
    # Only the findings base has no fingerprint for; they are not the whole tree's, so
    # a suppression that matches none of them may still be in use.
    inputs = dataclasses.replace(inputs, overlay=head_sources, base=known,
                                 report_unused=False)
    report = output.triaged(result, args, session, inputs)
    print(f"kmeminit: diff {args.base} ({base[:12]}) -> {args.head or 'working tree'}: "
          f"{how}; {touched}: {len(report.findings)} of {len(findings)} findings are new "
          f"({time.perf_counter() - clock:.1f} s)", file=sys.stderr)
    return output.conclude(report, args, session, stats)


def _working_tree(args: argparse.Namespace, session: Session, top: str, base: str,
                  selected: list[CompileEntry], checkers: list
                  ) -> tuple[list[Finding], list[Notification], int, str]:
    """The findings of the working tree that the change since `base` may have changed:
    the rules of the families it touches (analyzer/incremental.py), the walkers one by
    one on the TUs of their demand.  The others cannot add a finding to the base's."""
    from kmeminit.analyzer import incremental, vcs
    from kmeminit.analyzer.index import index_entries
    from kmeminit.analyzer.program import Program
    from kmeminit.analyzer.rules import run_checkers

    config, store = session.config, session.store
    base_sources = {p: vcs.file_at(top, base, p) for p in vcs.changed_files(top, base)}
    recheck = incremental.plan(selected, store, config, base_sources)
    ids = [c.id for c in checkers]
    whole = set(recheck.whole_rules(ids))
    findings: list[Finding] = []
    notes: list[Notification] = []
    functions = 0
    if whole:
        program = session.program()
        findings, notes = run_checkers([c for c in checkers if c.id in whole], program,
                                       config, debug=args.debug)
        functions = len(program.functions)
    timeout = args.tu_timeout or config.get("index", "tu_timeout", default=120)
    for family, files in sorted(recheck.files.items()):
        rules = set(recheck.target_rules(family, ids))
        if not rules:
            continue
        needed = [e for e in selected if e.file in files]
        index_entries(needed, store, config, args.jobs, timeout)  # beyond the prefilter's
        tus = list(store.iter_tus([e.file for e in needed]))
        headers = store.header_functions_called([fn for tu in tus for fn in tu.functions])
        program = Program.from_tus(tus, headers)
        found, more = run_checkers([c for c in checkers if c.id in rules], program, config,
                                   debug=args.debug)
        findings += [f for f in found if recheck.vouched(family, f)]
        notes += more
        functions = max(functions, len(program.functions))
    return findings, notes, functions, recheck.summary()


def _base_side(args: argparse.Namespace, top: str, base: str, build: tuple, checkers: list,
               root: str, key: str) -> tuple[frozenset[str], list[Notification], str]:
    """The base revision analysed (only the TUs that include a differing file are parsed
    again): its fingerprints, kept in the store when every TU of it was parsed."""
    from kmeminit.analyzer.diff import program_at
    from kmeminit.analyzer.rules import run_checkers
    from kmeminit.analyzer.triage import fingerprints

    store, config = build[1], build[3]
    at_base = program_at(top, base, *build)
    base_findings, crashed = run_checkers(checkers, at_base.program, config,
                                          debug=args.debug)
    known = frozenset(fingerprints(base_findings, root, at_base.sources))
    failures = [Notification(n.level, f"at {args.base}: {n.message}", n.file, n.line, n.rule)
                for n in at_base.stats.notifications if n.level is Level.ERROR]
    if not failures and not crashed:  # a partial result is never reused
        store.put_revision_fingerprints(key, base, sorted(known))
    return known, failures, (f"{len(at_base.changed)} files differ, "
                             f"{len(at_base.reparsed)} TUs parsed again for the base")
