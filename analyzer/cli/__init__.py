"""The command line: argument parsing and wiring only, one module per command.

`session` holds what the commands share (Session, exit codes, indexing, notifications, rule
selection, fail-on); `output` writes a result; `cc` is the kbuild CHECK driver.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Console script `kmeminit`."""
    from kmeminit.analyzer.cli.app import main as run

    return run(argv)
