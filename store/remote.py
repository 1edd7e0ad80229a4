"""The remote is the truth: fetch moves the local branch to it, and a write counts only
once the remote took it.

Pushes and fetches run the `git` CLI, as Argo CD does: its receive-pack updates the remote
ref under a lock after checking the old value, which libgit2's local-path transport does
not (two replicas pushing at once to a path both "won", and one write was lost).
`--force-with-lease=<branch>:<base>` makes the push a compare-and-swap from the commit
the write was built on; the pushed commit is always a child of it, so history only grows.

A remote on a local or shared filesystem (a path or file:// URL) is written directly:
the new objects are copied into its object database and its branch ref is moved by
libgit2's compare-and-swap under the ref lock, the same guarantee at a fraction of the
cost (no process, no pack). Fetching from it copies the few new commits the same way
(libgit2's fetch negotiates and packs, 5 ms for one commit); a clone far behind, or a
first fetch, still goes through libgit2.

Credentials come from files: an SSH key with a known_hosts file (strict host checking),
or an HTTPS token sent as a header through git's environment (never on a command line,
never in a message).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import pygit2

from store.errors import Unavailable
from store.gitobjects import commit

log = logging.getLogger(__name__)
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")
GIT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Credentials:
    """Where secrets for the remote live: files only, never values in flags or logs."""

    username: str = "git"
    ssh_private_key: Path | None = None
    known_hosts: Path | None = None
    token_file: Path | None = None  # HTTPS: the token is the password

    def environment(self) -> dict[str, str]:
        env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
        if self.ssh_private_key is not None:
            hosts = f"-o UserKnownHostsFile={self.known_hosts}" if self.known_hosts else ""
            env["GIT_SSH_COMMAND"] = (
                f"ssh -i {self.ssh_private_key} -o IdentitiesOnly=yes {hosts}"
                " -o StrictHostKeyChecking=yes -o BatchMode=yes"
            )
        if self.token_file is not None:
            token = self.token_file.read_text().strip()
            basic = base64.b64encode(f"{self.username}:{token}".encode()).decode()
            env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0="http.extraHeader",
                GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
            )
        return env


class Push(Enum):
    ACCEPTED = "accepted"
    REMOTE_MOVED = "remote-moved"


def redact(text: str) -> str:
    """A URL or message without the user:password@ part."""
    return _USERINFO.sub("", text)


class RemoteMirror:
    def __init__(
        self,
        url: str,
        branch: str,
        credentials: Credentials | None = None,
        *,
        direct_local: bool = True,
    ) -> None:
        self.url = url
        self.local_path = _local_path(url) if direct_local else None
        self.branch_ref = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
        self.tracking_ref = "refs/remotes/origin/" + self.branch_ref.removeprefix("refs/heads/")
        self.credentials = credentials or Credentials()
        self.last_success: float | None = None  # time of the last fetch or push that worked
        self.stale_since: float | None = None  # first failure since the last success
        self.last_error = ""
        self._lock = threading.Lock()

    def prepare(self, path: Path) -> None:
        """A bare local clone at `path` with `origin` pointing at the remote (created if absent)."""
        repo = (
            pygit2.Repository(str(path))
            if (path / "HEAD").exists()
            else pygit2.init_repository(str(path), bare=True, initial_head=self.branch_ref)
        )
        if "origin" in [r.name for r in repo.remotes]:
            repo.remotes.set_url("origin", self.url)
        else:
            repo.remotes.create("origin", self.url)

    def fetch(self, repo: pygit2.Repository) -> str | None:
        """The remote branch's tip after a fetch (None: the remote has no such branch yet)."""
        refspec = f"+{self.branch_ref}:{self.tracking_ref}"
        if self.local_path is not None:
            return self._fetch_local(repo, refspec)
        with self._lock:
            result = self._git(repo, "fetch", "--quiet", "--no-tags", "origin", refspec)
            if result.returncode != 0:
                if "couldn't find remote ref" in result.stderr:  # an empty remote
                    self._succeeded()
                    return None
                self._failed(result.stderr)
                raise Unavailable(f"the Git remote is unreachable: {self.last_error}")
            self._succeeded()
        ref = repo.references.get(self.tracking_ref)
        return str(ref.target) if ref is not None else None

    def push(self, repo: pygit2.Repository, commit_id: str, base: str | None) -> Push:
        """Offer `commit_id` (a child of `base`) as the remote branch's tip, if it is at `base`."""
        if self.local_path is not None:
            return self._push_local(repo, commit_id, base)
        lease = f"--force-with-lease={self.branch_ref}:{base or ''}"
        with self._lock:
            result = self._git(repo, "push", "--quiet", "--porcelain", lease, "origin",
                               f"{commit_id}:{self.branch_ref}")  # fmt: skip
        if result.returncode == 0:
            self._succeeded()
            return Push.ACCEPTED
        # Refused or failed: a fetch tells whether the remote moved or cannot be reached.
        tip = self.fetch(repo)
        if tip != base:
            return Push.REMOTE_MOVED
        raise Unavailable(f"the Git remote refused the push: {_last_line(result)}")

    def _fetch_local(self, repo: pygit2.Repository, refspec: str) -> str | None:
        if not (self.local_path is not None and self.local_path.is_dir()):
            self._failed(f"no repository at {self.local_path}")
            raise Unavailable(f"the Git remote is unreachable: {self.last_error}")
        try:
            tip = _copy_new_commits(pygit2.Repository(str(self.local_path)), repo, self.branch_ref)
            if tip is not None:
                repo.references.create(self.tracking_ref, tip, force=True)
            else:  # far behind, or nothing to start from: libgit2 fetches a pack
                repo.remotes["origin"].fetch([refspec])
        except pygit2.GitError as exc:
            self._failed(str(exc))
            raise Unavailable(f"the Git remote is unreachable: {self.last_error}") from None
        self._succeeded()
        ref = repo.references.get(self.tracking_ref)
        return str(ref.target) if ref is not None else None

    def _push_local(self, repo: pygit2.Repository, commit_id: str, base: str | None) -> Push:
        try:
            remote = pygit2.Repository(str(self.local_path))
            for new, parent in _chain(repo, commit_id, base):
                _copy_objects(repo, remote, new, parent)
            moved = not _compare_and_swap(remote, self.branch_ref, base, commit_id)
        except (pygit2.GitError, OSError) as exc:
            self._failed(str(exc))
            raise Unavailable(f"the Git remote is unreachable: {self.last_error}") from None
        self._succeeded()
        if moved:
            self.fetch(repo)
            return Push.REMOTE_MOVED
        repo.references.create(self.tracking_ref, commit_id, force=True)
        return Push.ACCEPTED

    def _git(self, repo: pygit2.Repository, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.credentials.environment()}
        try:
            return subprocess.run(
                ["git", "-C", repo.path, *args], env=env, capture_output=True, text=True,
                timeout=GIT_TIMEOUT, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            return subprocess.CompletedProcess(args, 255, "", f"git {args[0]}: {exc}")

    def _succeeded(self) -> None:
        self.last_success, self.stale_since, self.last_error = time.time(), None, ""

    def _failed(self, stderr: str) -> None:
        self.last_error = redact(
            stderr.strip().splitlines()[-1] if stderr.strip() else "git failed"
        )
        if self.stale_since is None:
            self.stale_since = time.time()
        log.warning("Git remote %s: %s", redact(self.url), self.last_error)


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stdout + "\n" + result.stderr).strip()
    return redact(text.splitlines()[-1]) if text else f"git exited with {result.returncode}"


def _local_path(url: str) -> Path | None:
    """The directory of a path or file:// remote, else None (network remotes use git)."""
    if url.startswith("file://"):
        return Path(url.removeprefix("file://"))
    if "://" in url or re.match(r"^[\w.-]+@[\w.-]+:", url):  # ssh, https, scp-like
        return None
    return Path(url)


def _new_objects(repo: pygit2.Repository, commit_id: str, base: str | None) -> list[pygit2.Oid]:
    """The commit and the trees and blobs it does not share with `base`."""
    commit = repo[commit_id]
    found = [commit.id]
    old_tree = repo[base].peel(pygit2.Tree) if base else None
    _new_in_tree(repo, commit.peel(pygit2.Tree), old_tree, found)
    return found


def _new_in_tree(repo: pygit2.Repository, tree: Any, old: Any, found: list[pygit2.Oid]) -> None:
    if old is not None and tree.id == old.id:
        return
    found.append(tree.id)
    before = {e.name: e for e in old} if old is not None else {}
    for entry in tree:
        previous = before.get(entry.name)
        if previous is not None and previous.id == entry.id:
            continue
        if entry.type_str == "tree":
            old_sub = (
                repo[previous.id] if previous is not None and previous.type_str == "tree" else None
            )
            _new_in_tree(repo, repo[entry.id], old_sub, found)
        elif entry.type_str == "blob":
            found.append(entry.id)


def _compare_and_swap(remote: pygit2.Repository, ref_name: str, base: str | None, new: str) -> bool:
    """Move `ref_name` from `base` to `new` in `remote`; False when it held something else."""
    try:
        if base is None:
            remote.references.create(ref_name, new, force=False)
            return True
        ref = remote.references.get(ref_name)
        if ref is None or str(ref.target) != base:
            return False
        ref.set_target(new, "gitplane push")  # libgit2 checks the old value under the lock
    except (pygit2.AlreadyExistsError, ValueError):
        return False
    except pygit2.GitError as exc:
        if "does not match" in str(exc) or "lock" in str(exc):
            return False
        raise
    except OSError as exc:
        if "lock" in str(exc):
            return False
        raise
    return True


# Beyond this many new commits a pack from libgit2's fetch is the cheaper way.
_MAX_COPIED_COMMITS = 64


def _copy_new_commits(
    remote: pygit2.Repository, repo: pygit2.Repository, branch_ref: str
) -> str | None:
    """Copy the commits of the remote branch that `repo` lacks, each object after the
    objects it names, so that an object present locally always has all it refers to
    (the walk stops at the first one): the remote tip, or None when the remote has no
    such branch or more than _MAX_COPIED_COMMITS commits are missing."""
    ref = remote.references.get(branch_ref)
    if ref is None:
        return None
    tip = str(ref.target)
    missing: list[str] = []
    pending = [tip]
    while pending:
        commit_id = pending.pop()
        if commit_id in missing or commit_id in repo.odb:
            continue
        if len(missing) == _MAX_COPIED_COMMITS:
            return None
        missing.append(commit_id)
        pending.extend(str(parent) for parent in commit(remote, commit_id).parent_ids)
    for commit_id in reversed(missing):  # oldest first: each one's parent is here by then
        parents = commit(remote, commit_id).parent_ids
        _copy_objects(remote, repo, commit_id, str(parents[0]) if parents else None)
    return tip


def _chain(repo: pygit2.Repository, tip: str, base: str | None) -> list[tuple[str, str | None]]:
    """(commit, first parent) from `base` (excluded) to `tip`, oldest first: the commits
    of one batch of writes, each built on the one before."""
    chain: list[tuple[str, str | None]] = []
    cursor: str | None = tip
    while cursor is not None and cursor != base:
        parents = commit(repo, cursor).parent_ids
        parent = str(parents[0]) if parents else None
        chain.append((cursor, parent))
        cursor = parent
    return chain[::-1]


def _copy_objects(
    source: pygit2.Repository, target: pygit2.Repository, commit_id: str, base: str | None
) -> None:
    """Copy `commit_id` and what it does not share with `base` into `target`, each object
    after everything it names (an interrupted copy leaves no commit or tree incomplete)."""
    for oid in reversed(_new_objects(source, commit_id, base)):
        if oid not in target.odb:
            kind, data = source.odb.read(oid)
            target.odb.write(kind, data)
