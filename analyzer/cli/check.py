"""`kmeminit check`: index the selected TUs, run the enabled rules, write the result."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from kmeminit.analyzer.cli import output
from kmeminit.analyzer.cli.options import (
    add_input_options,
    add_output_options,
    add_report_options,
)
from kmeminit.analyzer.cli.session import (
    Session,
    index,
    invocation,
    load_selected_rules,
    now,
    open_session,
    rule_metas,
)

if TYPE_CHECKING:
    from kmeminit.analyzer.compdb import CompileEntry
    from kmeminit.analyzer.results import Finding


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="index, run the enabled checkers, write results")
    add_input_options(p, context=True)
    add_output_options(p)
    add_report_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from kmeminit.analyzer.results import RunResult

    start = now()
    session = open_session(args, context=True)
    triage = output.load_triage(args, session)
    checkers, load_notes = load_selected_rules(args, session.config)
    selected = list(session.entries)  # the prefilter narrows session.entries
    stats = index(session, args)
    if not checkers:
        print("kmeminit: no checkers are registered; indexing only", file=sys.stderr)
    analysis = session.analyse(args, checkers, stats=stats)
    findings, run_notes = analysis.findings, analysis.notes
    if session.successful(stats) and not run_notes:
        _remember_head(session, selected, checkers, findings)
    findings = session.reported(findings)
    notes = session.notifications + load_notes + stats.notifications + run_notes
    result = RunResult(tuple(rule_metas(checkers)), tuple(findings), tuple(notes),
                       invocation(start, session, session.successful(stats)),
                       {"functions": str(analysis.functions)},
                       suppressions=analysis.suppressions)
    extra = output.inventories(args, lambda: analysis.program, session.config,
                               [c.id for c in checkers])
    return output.finish(result, args, session, triage, stats=stats, extra=extra)


def _remember_head(session: Session, selected: list[CompileEntry], checkers: list,
                   findings: list[Finding]) -> None:
    """A checkout that is HEAD for the selected TUs leaves its findings (all of them, not
    only those under the positional paths) in the store, so that `kmeminit diff --base`
    that revision (a main-branch run) need not analyse it again."""
    from kmeminit.analyzer import vcs
    from kmeminit.analyzer.diff import revision_key, unchanged_since

    top = vcs.toplevel(session.source_root)
    if top is None:
        return
    try:
        head = vcs.resolve(top, "HEAD")
        if not unchanged_since(top, head, selected, session.store):
            return
    except vcs.GitError:
        return  # no commit yet
    session.store.put_revision_findings(
        revision_key(head, selected, session.config, checkers), head,
        findings)
