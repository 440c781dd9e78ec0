"""`kmeminit explain ID`: one rule's documentation (its module docstring)."""

from __future__ import annotations

import argparse
from pathlib import Path

from kmeminit.analyzer.cli.session import EXIT_OK, UsageError, load_rules, rule_metas
from kmeminit.analyzer.config import load_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="print a rule's documentation")
    p.add_argument("rule", metavar="RULE",
                   help="a rule id (KMI003) or name (pfn-walker-uninit-memmap)")
    p.add_argument("--config", metavar="FILE", type=Path,
                   help="YAML merged over config/default.yaml (rule levels, plugins)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    checkers, _ = load_rules(None, load_config(args.config))
    for meta in rule_metas(checkers):
        if args.rule.upper() in (meta.id, meta.name.upper()):
            print(f"{meta.id} {meta.name} ({meta.level.value}, precision {meta.precision})\n")
            print(meta.doc.strip())
            return EXIT_OK
    raise UsageError(f"unknown rule '{args.rule}' (see: kmeminit rules)")
