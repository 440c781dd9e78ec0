"""The source tree as formatters see it: relative paths, file URIs and cached source lines."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from urllib.parse import quote

from kmeminit.analyzer.model import Notification
from kmeminit.analyzer.results import Finding, RunResult
from kmeminit.sarif.fingerprints import kmeminit_fingerprint, line_hashes

# Only the line ends the compiler counts: str.splitlines() would also split at the form
# feeds that some kernel files contain and shift every later line number.
_LINE_END = re.compile(r"\r\n|\r|\n")


def file_uri(path: str, directory: bool = False) -> str:
    uri = PurePosixPath(path).as_uri()
    return uri + "/" if directory and not uri.endswith("/") else uri


def relative_uri(relpath: str) -> str:
    # The bytes on disk, percent-encoded: a name that is not UTF-8 (a surrogate escape in
    # Python) becomes %E9 rather than an encoding error.
    return quote(os.fsencode(relpath), safe="/")


class SourceTree:
    """Paths below one symlink-resolved source root; reads each source file at most once."""

    def __init__(self, root: str, overlay: Mapping[str, bytes] | None = None) -> None:
        self.root = os.path.realpath(root)
        # Contents read in place of the files on disk (absolute paths): the sources of
        # another revision, so `kmeminit diff` fingerprints base findings on base lines.
        self.overlay = overlay or {}
        self._rel: dict[str, str | None] = {}
        self._text: dict[str, str | None] = {}
        self._lines: dict[str, list[str]] = {}
        self._hashes: dict[str, dict[int, str]] = {}

    @classmethod
    def of(cls, result: RunResult) -> SourceTree:
        """The tree a result was computed on."""
        return cls(result.invocation.source_root, result.sources)

    def relpath(self, file: str) -> str | None:
        """Path relative to the root with `/` separators, or None if outside the root."""
        if file not in self._rel:
            real = os.path.realpath(os.path.join(self.root, file))
            rel = os.path.relpath(real, self.root)
            outside = rel in (os.curdir, os.pardir) or rel.startswith(os.pardir + os.sep)
            self._rel[file] = None if outside else rel.replace(os.sep, "/")
        return self._rel[file]

    def display(self, file: str) -> str:
        """What a human sees: relative inside the root, the resolved absolute path outside."""
        return self.relpath(file) or os.path.realpath(file)

    def text(self, file: str) -> str | None:
        if file not in self._text:
            data = self.overlay.get(os.path.realpath(os.path.join(self.root, file)))
            if data is not None:
                self._text[file] = data.decode("utf-8", errors="replace")
                return self._text[file]
            try:
                with open(os.path.join(self.root, file), "rb") as handle:
                    self._text[file] = handle.read().decode("utf-8", errors="replace")
            except OSError:
                self._text[file] = None
        return self._text[file]

    def line(self, file: str, line: int) -> str:
        if file not in self._lines:
            text = self.text(file)
            self._lines[file] = _LINE_END.split(text) if text is not None else []
        lines = self._lines[file]
        return lines[line - 1] if 0 < line <= len(lines) else ""

    def line_hash(self, file: str, line: int) -> str | None:
        """GitHub's primaryLocationLineHash, or None when the file cannot be read."""
        if file not in self._hashes:
            text = self.text(file)
            self._hashes[file] = line_hashes(text) if text is not None else {}
        return self._hashes[file].get(line)

    def fingerprint(self, finding: Finding) -> str:
        loc = finding.location
        return kmeminit_fingerprint(finding, self.display(loc.file), self.line(loc.file, loc.line))


def sorted_findings(findings: tuple[Finding, ...] | list[Finding],
                    tree: SourceTree) -> list[Finding]:
    """Findings in (path, line, column, rule, message) order, path as the user sees it."""
    return sorted(findings, key=lambda f: (tree.display(f.location.file), f.location.line,
                                           f.location.col, f.rule, f.message))


def reported_findings(result: RunResult, tree: SourceTree | None = None) -> list[Finding]:
    """The findings text output shows and the exit code counts, sorted: not unchanged since
    the baseline and not suppressed."""
    tree = tree or SourceTree.of(result)
    triage = result.triage
    findings = sorted_findings(result.findings, tree)
    if triage.baseline is None and not triage.suppressed:
        return findings
    return [f for f in findings if triage.reported(tree.fingerprint(f))]


def sorted_notifications(notifications: tuple[Notification, ...] | list[Notification]
                         ) -> list[Notification]:
    # Workers finish in any order; sorting makes two runs over the same tree identical.
    return sorted(notifications, key=lambda n: (n.file or "", n.line or 0, n.rule or "",
                                                n.level.rank, n.message))
