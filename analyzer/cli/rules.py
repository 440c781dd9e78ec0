"""`kmeminit rules`: the installed rules, one line each."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from kmeminit.analyzer.cli.session import EXIT_OK, load_rules, print_notifications, rule_metas
from kmeminit.analyzer.config import load_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rules", help="list the rules")
    p.add_argument("--config", metavar="FILE", type=Path,
                   help="YAML merged over config/default.yaml (rule levels, plugins)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    checkers, notes = load_rules(None, load_config(args.config))
    print_notifications(notes, os.getcwd())
    metas = rule_metas(checkers)
    if not metas:
        print("kmeminit: no rules are registered")
    for meta in metas:
        print(f"{meta.id}  {meta.name:32} {meta.level.value:8} {meta.short}")
    return EXIT_OK
