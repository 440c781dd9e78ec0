"""git, read-only: provenance for SARIF and the other revision's files for `kmeminit diff`.

git runs with a list argv (never a shell) and `-C <dir>`; a tree that is not a git checkout,
or a machine without git, simply has no provenance.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from urllib.parse import urlsplit, urlunsplit

from kmeminit.analyzer.results import Provenance


class GitError(Exception):
    """A git command failed; str() is one line."""


_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")


def _git(root: str, *args: str, binary: bool = False) -> str | bytes:
    git = shutil.which("git")
    if git is None:
        raise GitError("git is not installed")
    proc = subprocess.run([git, "-C", root, *args], capture_output=True, check=False,
                          env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"})
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {' '.join(args)}: {detail[-1] if detail else 'failed'}")
    return proc.stdout if binary else proc.stdout.decode("utf-8", "replace")


def toplevel(root: str) -> str | None:
    """The top directory of the git checkout holding `root`, or None."""
    try:
        return os.path.realpath(str(_git(root, "rev-parse", "--show-toplevel")).strip())
    except GitError:
        return None


def repository_uri(url: str) -> str:
    """A remote URL as a URI without credentials: `git@host:o/r.git` → `ssh://git@host/o/r.git`,
    `https://user:token@host/o/r` → `https://host/o/r`."""
    if "://" not in url:
        scp = _SCP_LIKE.match(url)
        if scp and not os.path.isabs(url):
            user = f"{scp['user']}@" if scp["user"] else ""
            return f"ssh://{user}{scp['host']}/{scp['path']}"
        return "file://" + os.path.abspath(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    if parts.scheme == "ssh" and parts.username:
        host = f"{parts.username}@{host}"  # the ssh login name is not a secret
    return urlunsplit((parts.scheme, host, parts.path, parts.query, ""))


def provenance(root: str) -> Provenance | None:
    """Repository, commit and branch of the checkout holding `root`; None if there is none."""
    top = toplevel(root)
    if top is None:
        return None
    try:
        revision = str(_git(root, "rev-parse", "--verify", "-q", "HEAD")).strip()
    except GitError:
        return None  # no commit yet
    try:
        remote = str(_git(root, "config", "--get", "remote.origin.url")).strip()
    except GitError:
        remote = ""
    try:
        branch: str | None = str(_git(root, "symbolic-ref", "-q", "--short", "HEAD")).strip()
    except GitError:
        branch = None  # detached HEAD
    uri = repository_uri(remote) if remote else "file://" + top
    inside = os.path.relpath(os.path.realpath(root), top)
    return Provenance(uri, revision, branch or None, top == os.path.realpath(root),
                      "" if inside == "." else inside.replace(os.sep, "/"))


def resolve(root: str, rev: str) -> str:
    """The commit id `rev` names; GitError (one line) when it names none."""
    if rev.startswith("-"):
        raise GitError(f"'{rev}' is not a revision")
    try:
        return str(_git(root, "rev-parse", "--verify", "-q", f"{rev}^{{commit}}")).strip()
    except GitError:
        raise GitError(f"'{rev}' is not a commit in {root}") from None


def changed_files(top: str, rev: str) -> list[str]:
    """Absolute paths of the tracked files whose content differs between commit `rev` and
    the working tree (staged or not), including files added or deleted since."""
    out = _git(top, "diff", "--no-renames", "--name-only", "-z", rev, "--", binary=True)
    names = [n.decode("utf-8", "surrogateescape") for n in bytes(out).split(b"\0") if n]
    return sorted(os.path.join(top, n) for n in names)


def file_at(top: str, rev: str, path: str) -> bytes | None:
    """The content of `path` (absolute, inside `top`) at commit `rev`; None if absent."""
    rel = os.path.relpath(path, top)
    try:
        return bytes(_git(top, "cat-file", "blob", f"{rev}:{rel}", binary=True))
    except GitError:
        return None


__all__ = ["GitError", "changed_files", "file_at", "provenance", "repository_uri", "resolve",
           "toplevel"]
