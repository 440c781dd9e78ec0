"""Option groups shared by several commands, so an option means the same everywhere."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from kmeminit.analyzer.cli.session import DEFAULT_MAX_FAILED, FAIL_ON, Threshold, positive

MIN_LEVELS = ("note", "warning", "error")


def add_input_options(p: argparse.ArgumentParser, context: bool = False) -> None:
    """Where the TUs come from: the compile database, paths, store, parsing.  With
    `context`, the paths choose where findings are reported, not what is analysed."""
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="report findings only in files under these paths (relative to the "
                        "source root); the rest of the database is analysed for context "
                        "(callers, entry points, origins)" if context else
                        "analyse only TUs under these paths (relative to the source root)")
    p.add_argument("-p", "--compdb", metavar="PATH", default=".",
                   help="compile_commands.json, or the build directory holding it (default: .)")
    p.add_argument("--source-root", metavar="DIR",
                   help="root that result paths are relative to (default: from the database)")
    p.add_argument("--config", metavar="FILE", type=Path,
                   help="YAML merged over config/default.yaml")
    p.add_argument("-j", "--jobs", type=positive(int), default=os.cpu_count() or 1,
                   help="parallel parser processes, and behind the prefilter rule-family "
                        "workers (default: CPU count)")
    p.add_argument("--store", metavar="PATH", type=Path,
                   help="fact store (default: <source root>/.kmeminit/facts.db)")
    p.add_argument("--tu-timeout", type=positive(float), metavar="SECONDS",
                   help="give up on a TU after this long (default 120)")
    p.add_argument("--max-failed-tus", type=Threshold.parse, metavar="N|P%",
                   help="TUs that may fail or be parsed with errors before the run counts "
                        f"as incomplete (exit 2), as a count or a share (default: "
                        f"{DEFAULT_MAX_FAILED.replace('%', '%%')})")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar on a terminal, no progress lines in a log")
    p.add_argument("--prefilter", action=argparse.BooleanOptionalAction, default=None,
                   help="parse only TUs that mention configured symbols, grown along calls "
                        "(default: on above prefilter.min_tus selected TUs)")
    p.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="where TUs are parsed: local worker processes, or a Dask cluster "
                        "(needs --scheduler and kmeminit[dask])")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler address for --executor dask (tcp://host:8786)")
    p.add_argument("--debug", action="store_true",
                   help="re-raise checker exceptions instead of reporting them")


def add_output_options(p: argparse.ArgumentParser) -> None:
    """What is written and when the exit code says "findings"."""
    p.add_argument("--format", choices=("text", "sarif", "json", "markdown", "html"),
                   default="text",
                   help="text: gcc-style lines for make, editors and CI logs (default); "
                        "sarif: SARIF 2.1.0 for GitHub code scanning; json: plain JSON; "
                        "markdown: a summary for a CI job page; html: one self-contained "
                        "page with code flows over the source")
    p.add_argument("-o", "--output", metavar="FILE", type=Path,
                   help="write results here (atomically) instead of stdout")
    for fmt in ("sarif", "json", "markdown", "html"):
        p.add_argument(f"--{fmt}-output", metavar="FILE", type=Path,
                       help=f"also write the {fmt} output to FILE, from the same run")
    p.add_argument("--no-absent", action="store_true",
                   help="SARIF: leave out the baseline's results that no longer occur "
                        "(for an upload to GitHub code scanning, which reads no "
                        "baselineState and would show them as open alerts)")
    p.add_argument("--fail-on", choices=FAIL_ON, default="warning",
                   help="exit 1 when a finding at or above this level is reported "
                        "(default: warning)")
    p.add_argument("--min-level", choices=MIN_LEVELS, default="warning",
                   help="lowest level the text output prints (default: warning; notes "
                        "are the PG_reserved inventory, counted in the summary). SARIF, "
                        "JSON and HTML always carry every finding")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour the text output: auto (default) on a terminal unless "
                        "NO_COLOR is set")
    add_rule_options(p)


def add_rule_options(p: argparse.ArgumentParser) -> None:
    """Which rules run: ids (KMI003) or names (pfn-walker-uninit-memmap)."""
    p.add_argument("--rules", metavar="IDS",
                   help="comma-separated rules to run, and only these (default: every rule "
                        "the config enables)")
    p.add_argument("--enable", metavar="IDS",
                   help="comma-separated rules to run in addition to those the config "
                        "enables")
    p.add_argument("--disable", metavar="IDS",
                   help="comma-separated rules not to run")


def add_report_options(p: argparse.ArgumentParser) -> None:
    """--baseline, --suppressions, --category: for every command that writes results."""
    p.add_argument("--baseline", metavar="OLD.sarif", type=Path,
                   help="a SARIF file from an earlier run: its findings are marked unchanged "
                        "and left out of the text output and the exit code; vanished ones are "
                        "reported as absent in SARIF")
    p.add_argument("--suppressions", metavar="FILE", type=Path,
                   help="suppressions file (default: kmeminit-suppressions.yaml, or the old "
                        ".kmeminit-suppressions.yaml, in the source root or else at the top "
                        "of its git checkout)")
    p.add_argument("--category", metavar="ID",
                   help="SARIF automationDetails.id, i.e. GitHub code scanning's upload "
                        "category (default: kmeminit/<arch>/)")
    p.add_argument("--recompute", action="store_true",
                   help="run the prefilter and the rules even when the store holds the "
                        "result of a run with the same inputs (which is otherwise reused; "
                        "--debug implies this for the rules)")
