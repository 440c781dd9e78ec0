"""`kmeminit diff --base REV`: only the findings the working tree (or --head) adds."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from kmeminit.analyzer.cli import output
from kmeminit.analyzer.cli.options import (
    add_input_options,
    add_output_options,
    add_report_options,
)
from kmeminit.analyzer.cli.session import (
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
    facts = Facts.load(session.store, [e.file for e in session.entries])
    build = (session.entries, session.store, facts, session.config, args.jobs, timeout)
    head_sources: dict[str, bytes] = {}
    if head is None:
        program = facts.program()
    else:
        at_head = program_at(top, head, *build)
        program, head_sources = at_head.program, at_head.sources
    findings, run_notes = run_checkers(checkers, program, session.config, debug=args.debug)
    key = revision_key(base, selected, session.config, checkers)
    cached = session.store.revision_fingerprints(key)
    if cached is None:
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
                       {"functions": str(len(program.functions))}, provenance=provenance)
    # Only the findings base has no fingerprint for; they are not the whole tree's, so
    # a suppression that matches none of them may still be in use.
    inputs = dataclasses.replace(inputs, overlay=head_sources, base=known,
                                 report_unused=False)
    report = output.triaged(result, args, session, inputs)
    print(f"kmeminit: diff {args.base} ({base[:12]}) -> {args.head or 'working tree'}: "
          f"{how}; {len(report.findings)} of {len(findings)} findings are new "
          f"({time.perf_counter() - clock:.1f} s)", file=sys.stderr)
    return output.conclude(report, args, session, stats)


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
