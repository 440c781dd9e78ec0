"""Option groups shared by several commands, so an option means the same everywhere."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from kmeminit.analyzer.cli.session import DEFAULT_MAX_FAILED, FAIL_ON, Threshold, positive


def add_input_options(p: argparse.ArgumentParser) -> None:
    """Where the TUs come from: the compile database, paths, store, parsing."""
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="analyse only TUs under these paths (relative to the source root)")
    p.add_argument("-p", "--compdb", metavar="PATH", default=".",
                   help="compile_commands.json, or the build directory holding it (default: .)")
    p.add_argument("--source-root", metavar="DIR",
                   help="root that result paths are relative to (default: from the database)")
    p.add_argument("--config", metavar="FILE", type=Path,
                   help="YAML merged over config/default.yaml")
    p.add_argument("-j", "--jobs", type=positive(int), default=os.cpu_count() or 1,
                   help="parallel parser processes (default: CPU count)")
    p.add_argument("--store", metavar="PATH", type=Path,
                   help="fact store (default: <source root>/.kmeminit/facts.db)")
    p.add_argument("--tu-timeout", type=positive(float), metavar="SECONDS",
                   help="give up on a TU after this long (default 120)")
    p.add_argument("--max-failed-tus", type=Threshold.parse, metavar="N|P%",
                   help="TUs that may fail or be parsed with errors before the run counts "
                        f"as incomplete (exit 2), as a count or a share (default: "
                        f"{DEFAULT_MAX_FAILED}%)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
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
    p.add_argument("--format", choices=("text", "sarif", "json"), default="text")
    p.add_argument("-o", "--output", metavar="FILE", type=Path,
                   help="write results here (atomically) instead of stdout")
    p.add_argument("--fail-on", choices=FAIL_ON, default="warning",
                   help="exit 1 when a finding at or above this level is reported "
                        "(default: warning)")
    p.add_argument("--rules", metavar="IDS",
                   help="comma-separated rule ids to run (default: all enabled)")


def add_report_options(p: argparse.ArgumentParser) -> None:
    """--baseline, --suppressions, --category: for every command that writes results."""
    p.add_argument("--baseline", metavar="OLD.sarif", type=Path,
                   help="a SARIF file from an earlier run: its findings are marked unchanged "
                        "and left out of the text output and the exit code; vanished ones are "
                        "reported as absent in SARIF")
    p.add_argument("--suppressions", metavar="FILE", type=Path,
                   help="suppressions file (default: .kmeminit-suppressions.yaml in the "
                        "source root, if there is one)")
    p.add_argument("--category", metavar="ID",
                   help="SARIF automationDetails.id, i.e. GitHub code scanning's upload "
                        "category (default: kmeminit/<arch>/)")
