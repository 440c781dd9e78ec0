"""The command line: argument parsing and wiring only, one module per command.

`session` holds what the commands share (Session, exit codes, indexing, notifications, rule
selection, fail-on); `output` writes a result; `cc` is the kbuild CHECK driver.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    """The `kmeminit` command, returning its exit code (tests call it in-process)."""
    from kmeminit.analyzer.cli.app import main as run

    return run(argv)


def script() -> None:
    """Console script `kmeminit` and `python -m kmeminit.analyzer.cli`: main(), then an exit
    that does not free the program's objects one by one.  Everything was written and closed
    (outputs atomically, the store committed); the interpreter's own teardown of a decoded
    program cost 1.7 s of a 4.4 s `kmeminit diff` on the 6.12 slice."""
    try:
        code = main()
    except SystemExit as exc:  # argparse's --help, --version and usage errors
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # `kmeminit … | head`: what was not read is not an error
        pass
    os._exit(code)
