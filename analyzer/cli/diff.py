"""`kmeminit diff --base REV`: the working tree's (or --head's) findings compared with the
base revision's: each new, unchanged or updated, the base's vanished ones absent.  Text
output and the exit code count the new ones only."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from typing import TYPE_CHECKING

from kmeminit.analyzer import vcs
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
    load_selected_rules,
    now,
    open_session,
    rule_metas,
)
from kmeminit.analyzer.model import Level, Notification

if TYPE_CHECKING:
    from kmeminit.analyzer.results import Finding


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help="findings compared with a git revision: new ones are "
                                    "shown and fail (pre-merge)")
    add_input_options(p, context=True)
    add_output_options(p)
    add_report_options(p)
    p.add_argument("--base", required=True, metavar="REV",
                   help="the revision to compare with: its findings are the baseline")
    p.add_argument("--head", metavar="REV",
                   help="the revision to check (default: the working tree as it is)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Head's findings (the working tree, or --head) against base's, by fingerprint.  The
    base's findings come from the store when it holds that revision's result for the same
    TUs, config and rules (an earlier diff, or a check of a clean checkout)."""
    from kmeminit.analyzer.diff import Facts, program_at, revision_key
    from kmeminit.analyzer.memo import Analysis
    from kmeminit.analyzer.results import RunResult
    from kmeminit.analyzer.rules import run_rules
    from kmeminit.analyzer.triage import BaseRun

    if args.baseline is not None:
        raise UsageError("--baseline cannot be combined with kmeminit diff: the base "
                         "revision is the baseline (use check --baseline for a SARIF file)")
    start = now()
    session = open_session(args, context=True)
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
    checkers, load_notes = load_selected_rules(args, session.config)
    selected = list(session.entries)  # the prefilter narrows session.entries
    stats = index(session, args)
    clock = time.perf_counter()
    timeout = args.tu_timeout or session.config.get("index", "tu_timeout", default=120)
    facts = Facts(session.store, [e.file for e in session.entries])
    build = (session.entries, session.store, facts, session.config, args.jobs, timeout)
    head_sources: dict[str, bytes] = {}
    if head is None:  # the working tree: as `check` would analyse it, through the memo
        analysis = session.analyse(args, checkers, load=facts.program, progress=False,
                                   stats=stats)
        if [e.file for e in session.entries] != facts.files:  # the prefilter's next round
            facts = Facts(session.store, [e.file for e in session.entries])
            build = (session.entries, session.store, facts, session.config, args.jobs,
                     timeout)
    else:
        at_head = program_at(top, head, *build)
        head_sources = at_head.sources
        findings, notes = run_rules(checkers, at_head.program, session.config,
                                    debug=args.debug)
        analysis = Analysis(findings, notes, len(at_head.program.functions),
                            tuple(at_head.program.suppressions.values()), False,
                            at_head.program, lambda: at_head.program)
    findings, run_notes = session.reported(analysis.findings), analysis.notes
    key = revision_key(base, selected, session.config, checkers)
    base_findings, base_sources, base_failures, how = _base_side(
        args, top, base, build, checkers, key)
    base_findings = session.reported(base_findings)  # absent ones only under the paths
    notes = (session.notifications + load_notes + stats.notifications + run_notes
             + base_failures)
    provenance = vcs.provenance(root)
    if provenance is not None and head is not None:
        provenance = dataclasses.replace(provenance, revision_id=head, branch=None)
    result = RunResult(tuple(rule_metas(checkers)), tuple(findings), tuple(notes),
                       invocation(start, session, session.successful(stats)),
                       {"functions": str(analysis.functions)}, provenance=provenance,
                       suppressions=analysis.suppressions)
    inputs = dataclasses.replace(inputs, overlay=head_sources, base=BaseRun(
        tuple(base_findings), base_sources, args.base))
    report = output.triaged(result, args, session, inputs)
    counts = report.counts()
    print(f"kmeminit: diff {args.base} ({base[:12]}) -> {args.head or 'working tree'}: "
          f"{how}; {counts.new} of {counts.findings} findings are new "
          f"({time.perf_counter() - clock:.1f} s)", file=sys.stderr)
    return output.conclude(report, args, session, stats)


def _base_side(args: argparse.Namespace, top: str, base: str, build: tuple, checkers: list,
               key: str) -> tuple[list[Finding], dict[str, bytes], list[Notification], str]:
    """The base revision's findings, the base's text of the files that differ from the
    working tree, the base's parse errors and how the findings were obtained: from the
    store when it holds them under `key`, else by analysing the base (only the TUs that
    include a differing file are parsed again) and keeping a complete result."""
    from kmeminit.analyzer.diff import program_at
    from kmeminit.analyzer.rules import run_rules

    store, config = build[1], build[3]
    cached = store.revision_findings(key)
    if cached is not None:
        sources = {}
        for path in vcs.changed_files(top, base):
            data = vcs.file_at(top, base, path)
            if data is not None:
                sources[path] = data
        return (cached, sources, [],
                "the base's result from the store")
    at_base = program_at(top, base, *build)
    found, crashed = run_rules(checkers, at_base.program, config, debug=args.debug)
    failures = [Notification(n.level, f"at {args.base}: {n.message}", n.file, n.line, n.rule)
                for n in at_base.stats.notifications if n.level is Level.ERROR]
    if not failures and not crashed:  # a partial result is never reused
        store.put_revision_findings(key, base, found)
    return (found, at_base.sources, failures,
            f"{len(at_base.changed)} files differ, {len(at_base.reparsed)} TUs parsed again "
            "for the base")
