from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from kmeminit.analyzer import vcs


@pytest.mark.parametrize("url, uri", [
    ("git@github.com:torvalds/linux.git", "ssh://git@github.com/torvalds/linux.git"),
    ("https://user:s3cret@github.com/o/linux.git", "https://github.com/o/linux.git"),
    ("https://github.com/o/linux", "https://github.com/o/linux"),
    ("ssh://git@host:2222/linux.git", "ssh://git@host:2222/linux.git"),
    ("/srv/git/linux.git", "file:///srv/git/linux.git"),
])
def test_repository_uri_has_no_credentials(url: str, uri: str) -> None:
    assert vcs.repository_uri(url) == uri


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_provenance(tmp_path: Path) -> None:
    assert vcs.provenance(str(tmp_path)) is None

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c",
                               "user.email=t@t", *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    git("init", "-q", "-b", "work")
    assert vcs.provenance(str(tmp_path)) is None  # no commit yet
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.c").write_text("int x;\n")
    git("add", "-A")
    git("commit", "-q", "-m", "one")
    git("remote", "add", "origin", "https://tok:en@example.com/linux.git")
    top = vcs.provenance(str(tmp_path))
    assert top is not None
    assert (top.repository_uri, top.branch, top.root_is_toplevel) == (
        "https://example.com/linux.git", "work", True)
    assert top.revision_id == git("rev-parse", "HEAD")
    sub = vcs.provenance(str(tmp_path / "sub"))
    assert sub is not None and not sub.root_is_toplevel
    git("checkout", "-q", "--detach")
    assert vcs.provenance(str(tmp_path)).branch is None
