"""docs/precision.md's triage table, read as data for the opt-in real-kernel tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PRECISION = Path(__file__).resolve().parent.parent / "docs" / "precision.md"
VERDICTS = ("true", "benign", "false")


@dataclass(frozen=True)
class Row:
    rule: str
    location: str  # relative/path.c:line
    function: str
    verdict: str
    reason: str

    @property
    def key(self) -> tuple[str, str, str]:
        return self.rule, self.location, self.function


def triage_table(path: Path = PRECISION) -> list[Row]:
    """The rows of the results table: `| KMI00N | file:line | function | verdict | reason |`."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and cells[0].startswith("KMI") and ":" in cells[1]:
            rows.append(Row(cells[0], cells[1], cells[2], cells[3], "|".join(cells[4:])))
    return rows
