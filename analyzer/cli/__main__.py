"""`python -m kmeminit.analyzer.cli`: the `kmeminit` command."""

import sys

from kmeminit.analyzer.cli import main

sys.exit(main())
