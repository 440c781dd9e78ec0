"""`python -m kmeminit.analyzer.cli`: the `kmeminit` command."""

from kmeminit.analyzer.cli import script

script()
