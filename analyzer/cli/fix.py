"""`kmeminit fix`: the mechanical fixes of the findings as a unified diff (or applied).

The pipeline is `check`'s (index, rules, triage with the baseline and suppressions); the
findings whose rule proposes a fix that fits the code (analyzer/triage/fixes.py) become a
patch in git's format, with paths relative to the source root: `git apply` or
`patch -p1` there.  A finding whose fix does not fit gets a note on stderr saying why.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kmeminit.analyzer.cli import output
from kmeminit.analyzer.cli.options import add_input_options, add_rule_options
from kmeminit.analyzer.cli.session import (
    EXIT_OK,
    check_coverage,
    index,
    invocation,
    load_selected_rules,
    now,
    open_session,
    print_notifications,
    rule_metas,
    rule_progress,
)
from kmeminit.analyzer.fsutil import write_output


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fix", help="print (or apply) mechanical fixes as a unified diff",
                       description="Run the rules and write the fixes of their findings "
                                   "(KMI003: pfn_valid() + pfn_to_page() -> "
                                   "pfn_to_online_page() and a NULL check) as a unified "
                                   "diff for `git apply` in the source root.")
    add_input_options(p)
    add_rule_options(p)
    p.add_argument("-o", "--output", metavar="FILE", type=Path,
                   help="write the diff here (atomically) instead of stdout")
    p.add_argument("--apply", action="store_true",
                   help="change the source files in place instead of printing the diff")
    p.add_argument("--baseline", metavar="OLD.sarif", type=Path,
                   help="fix only findings that are not in this earlier SARIF file")
    p.add_argument("--suppressions", metavar="FILE", type=Path,
                   help="suppressions file (default: .kmeminit-suppressions.yaml in the "
                        "source root): suppressed findings are not fixed")
    p.set_defaults(run=run, category=None)


def run(args: argparse.Namespace) -> int:
    from kmeminit.analyzer.paths import SourceTree
    from kmeminit.analyzer.results import RunResult
    from kmeminit.analyzer.rules import run_rules
    from kmeminit.sarif.patch import build_patch, unified_diff
    from kmeminit.sarif.text import format_notification

    start = now()
    session = open_session(args)
    triage = output.load_triage(args, session)
    checkers, load_notes = load_selected_rules(args, session.config)
    stats = index(session, args)
    program = session.program()
    progress = rule_progress(args, checkers)
    findings, run_notes = run_rules(checkers, program, session.config, debug=args.debug,
                                       progress=progress)
    progress.close()
    notes = session.notifications + load_notes + stats.notifications + run_notes
    result = RunResult(tuple(rule_metas(checkers)), tuple(findings), tuple(notes),
                       invocation(start, session, session.successful(stats)))
    report = output.triaged(result, args, session, triage)
    patch = build_patch(report)
    tree = SourceTree(session.source_root)
    for item in report.reported:
        if item.unfixable is not None:
            loc = item.finding.location
            print(f"{item.path}:{loc.line}:{loc.col}: note: no mechanical fix: "
                  f"{item.unfixable} [{item.finding.rule}]", file=sys.stderr)
    for note in patch.notes:
        print(format_notification(note, tree), file=sys.stderr)
    if args.apply:
        for file, (_, _, new) in sorted(patch.files.items()):
            write_output(Path(file), new)
    else:
        write_output(args.output, unified_diff(patch))
    print_notifications(list(report.notifications), session.source_root)
    verb = "applied" if args.apply else "in the diff"
    print(f"kmeminit: {len(patch.fixed)} fix(es) {verb}, {len(patch.files)} file(s)",
          file=sys.stderr)
    incomplete = check_coverage(session, stats)
    return EXIT_OK if incomplete is None else incomplete
