"""The checkout of a non-bare repository, kept in step with the branch gitplane writes.

A person may work in the checkout gitplane serves (`--repo` on a working copy). Nothing
gitplane acknowledges may then be undone by their ordinary use of git, so a write keeps
git's own rules there:

- The index is locked for the whole write as git locks it (`index.lock`, created
  exclusively), from before the write is worked out until the index and the files show
  the new commit. A person's `git commit` cannot start in between, and one that is
  running makes gitplane wait (its write is then worked out again on their commit).
  Before, the branch moved first and the checkout followed after: a commit made in
  between, or after a crash in between, had the old files staged and undid the write.
- Every file a write changes must be, in the index and in the working tree, as the
  commit the write is built on has it. A local change there (modified, staged, an
  untracked file in the way, a symbolic link) is a Conflict naming the file: gitplane
  neither overwrites an edit nor commits past one (which left `MM`, and the person's
  next `git commit -a` undid gitplane's commit).
- A journal (`<git dir>/gitplane/worktree-journal`) names the commit a write was built
  on, the one it made and its files, from before the branch moves until the index is
  written. A gitplane killed in between leaves it; the next one (on start, or before its
  next write) brings those files to the branch tip wherever they still hold what
  gitplane left there, and removes it.
- The lock file names the gitplane holding it (host, process and its start time). One
  left by a gitplane that is gone is removed by the next; any other lock is waited for
  a while, then the write fails with a message naming it, as git fails.
- Files are read and written without following symbolic links: each directory is
  opened relative to its parent with O_NOFOLLOW, so a link in the working tree is a
  local change, never a way out of the checkout.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
import socket
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pygit2

from store import locks
from store.branch import LocalBranch
from store.errors import Conflict, Unavailable
from store.gitobjects import blob_data
from store.rawobjects import BLOB_MODE

log = logging.getLogger(__name__)

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_TEMPORARY = re.compile(r"^\.gitplane-\d+\.tmp$")  # a file being written (_write_file)
_EXECUTABLE = pygit2.GIT_FILEMODE_BLOB_EXECUTABLE


@dataclass(frozen=True)
class _State:
    """What a path holds in the index or the working tree."""

    blob: str | None = None  # the content's blob id; None: nothing there
    odd: str = ""  # what stands there instead of a regular file, if anything

    def is_one_of(self, blobs: set[str | None]) -> bool:
        return not self.odd and self.blob in blobs


class _Odd(OSError):
    """A directory on a path that is not one (a symbolic link, a file)."""


class Checkout:
    """The working tree and index of a non-bare repository, for one branch."""

    def __init__(self, git_dir: Path, workdir: Path, branch: LocalBranch) -> None:
        self.git_dir = git_dir
        self.workdir = workdir
        self.branch = branch
        self.lock_file = git_dir / "index.lock"
        self.index_file = git_dir / "index"
        self.journal = git_dir / "gitplane" / "worktree-journal"

    @classmethod
    def of(cls, repo: pygit2.Repository, branch: LocalBranch) -> Checkout | None:
        """The checkout of `repo` (None when it is bare)."""
        if repo.is_bare or not repo.workdir:
            return None
        return cls(Path(repo.path), Path(repo.workdir), branch)

    def checked_out(self, repo: pygit2.Repository) -> bool:
        head = repo.references.get("HEAD")
        return head is not None and head.target == self.branch.ref

    @contextlib.contextmanager
    def locked(self, repo: pygit2.Repository) -> Iterator[LockedIndex | None]:
        """The index locked for one write; None when another branch is checked out (the
        write then leaves the checkout alone). A journal left by a gitplane that was
        killed is finished first."""
        if not self.checked_out(repo):
            yield None
            return
        if self.journal.exists():
            self.recover(repo)
        with self._index_locked(repo, wait=True) as index:
            yield index

    def recover(self, repo: pygit2.Repository, *, wait: bool = True) -> None:
        """Finish the write a killed gitplane left in the journal: each of its files whose
        index entry or working copy still holds what that write found or made is
        brought to the branch tip. Anything else there is the person's, and stays. A
        lock a killed gitplane left goes first."""
        if self.lock_file.exists():
            _left_by_a_gitplane_gone(self.lock_file)
        if not self.journal.exists() or not self.checked_out(repo):
            return
        with self._index_locked(repo, wait=wait) as index:
            try:
                entry = json.loads(self.journal.read_text())
                base, new, paths = entry["base"], entry["new"], list(entry["paths"])
            except (OSError, ValueError, KeyError, TypeError):
                return  # gone meanwhile (another gitplane finished it) or not ours
            self._remove_branch_lock_left()
            log.warning("bringing the checkout's files of the write of %s to the tip", new)
            index.remove_temporaries(paths)
            index.bring_all(paths, [base, new], self.branch.tip())

    def _remove_branch_lock_left(self) -> None:
        """Remove the branch's lock if the killed write left it: taken after the journal
        was written (by that write, or by a push made meanwhile that crashed as well)
        and still there after the wait git's own writers would get. A live lock is held
        for milliseconds; a write that died holding it would stop every later one."""
        lock = self.branch.lock_file()
        try:
            if lock.stat().st_mtime_ns < self.journal.stat().st_mtime_ns:
                return  # older than the write: not its own (the write waited for it)
        except OSError:
            return
        if not locks.gone_before(lock, time.monotonic() + locks.LOCK_WAIT):
            lock.unlink(missing_ok=True)
            log.warning("removed %s, left by a gitplane write that was killed", lock)

    @contextlib.contextmanager
    def _index_locked(self, repo: pygit2.Repository, *, wait: bool) -> Iterator[LockedIndex]:
        identity = self._take_lock(wait)
        try:
            index = LockedIndex(self, repo, identity)
        except (OSError, pygit2.GitError) as exc:
            _remove_lock(self.lock_file, identity)
            raise Unavailable(
                f"cannot read the index of the checkout {self.workdir}: {exc}"
            ) from exc
        try:
            yield index
        finally:
            index.release()

    def _take_lock(self, wait: bool) -> int:
        """Take `index.lock` as git does (created only if absent), holding from the start
        the line that says who holds it; its inode, to let go of this lock only."""
        deadline = time.monotonic() + (locks.LOCK_WAIT if wait else 0.0)
        owner = self.git_dir / "gitplane" / f"index.lock.{os.getpid()}.{threading.get_ident()}"
        owner.parent.mkdir(parents=True, exist_ok=True)
        owner.write_text(_owner())
        try:
            while True:
                try:
                    os.link(owner, self.lock_file)  # fails if it exists, like O_EXCL
                    return os.stat(owner)[stat.ST_INO]
                except FileExistsError:
                    pass
                except OSError:  # no hard links here: created, then written
                    with contextlib.suppress(FileExistsError):
                        return _create_lock(self.lock_file)
                if _left_by_a_gitplane_gone(self.lock_file):
                    continue
                if wait and locks.gone_before(self.lock_file, deadline):
                    continue
                raise Unavailable(
                    locks.stale_lock_message("the index of the checkout", self.lock_file)
                )
        finally:
            owner.unlink(missing_ok=True)


class LockedIndex:
    """The checkout's index while gitplane holds its lock: a copy read once, changed,
    and renamed over the index before the lock goes."""

    def __init__(self, checkout: Checkout, repo: pygit2.Repository, lock: int) -> None:
        self.checkout = checkout
        self.repo = repo
        self._lock: int | None = lock  # the lock file's inode while held
        scratch = checkout.git_dir / "gitplane" / "index"
        # Only the holder of the checkout's lock writes the copy: a lock on it is a dead
        # holder's (libgit2 writes it through `index.lock` beside it).
        scratch.with_name("index.lock").unlink(missing_ok=True)
        if checkout.index_file.exists():
            shutil.copyfile(checkout.index_file, scratch)
        else:
            scratch.unlink(missing_ok=True)
        self._scratch = scratch
        self.index = pygit2.Index(str(scratch))
        self._changed = False
        self._begun = False

    # ---- before the branch moves ---------------------------------------------------

    def refuse_local_changes(self, base: pygit2.Tree | None, paths: Iterable[str]) -> None:
        """Raise Conflict for the first of `paths` the person changed since `base`."""
        for path in paths:
            expected = _blob_at(base, path)
            staged, on_disk = self._staged(path), self._on_disk(path)
            if staged.is_one_of({expected}) and on_disk.is_one_of({expected}):
                continue
            where = f"the checkout at {self.checkout.workdir}"
            if expected is None and staged.blob is None and not staged.odd and not on_disk.odd:
                raise Conflict(
                    f"{path} exists in {where} but is not in Git; gitplane does not"
                    " overwrite it. Commit it, or move it away, then try again"
                )
            if not staged.is_one_of({expected}):
                what, advice = staged.odd or "staged", f"git checkout HEAD -- {path}"
            else:
                what = on_disk.odd or ("deleted" if on_disk.blob is None else "modified")
                advice = f"git checkout -- {path}"
            raise Conflict(
                f"{path} has local changes in {where} ({what}); gitplane does not overwrite"
                " them, nor commit past them (the next `git commit -a` would undo the"
                f" write). Commit or stash them, or discard them with `{advice}`, then try"
                " again"
            )

    def begin(self, base: str | None, new: str, paths: list[str]) -> None:
        """Journal the write about to move the branch from `base` to `new`, for whoever
        comes next if this process dies before `finish`."""
        journal = self.checkout.journal
        tmp = journal.with_name(f".{journal.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"base": base, "new": new, "paths": paths}))
        tmp.replace(journal)
        self._begun = True

    def abandon(self) -> None:
        """The branch did not move: nothing to bring the checkout to."""
        if self._begun:
            self.checkout.journal.unlink(missing_ok=True)
            self._begun = False

    # ---- once it moved --------------------------------------------------------------

    def finish(self, base: str | None, new: str, paths: list[str]) -> None:
        """Bring the files of the write that moved the branch from `base` to `new` to
        `new`, in the index and the working tree, and let go of the lock."""
        self.bring_all(paths, [base], new)

    def bring_all(self, paths: list[str], left_by: list[str | None], to: str | None) -> None:
        """Each of `paths` as commit `to` has it, wherever it holds what one of the commits
        `left_by` has there; then the index is written, the lock let go and the journal
        removed. A failure is logged: the journal stays for the next write or start."""
        trees = [_tree(self.repo, commit_id) for commit_id in left_by]
        target = _tree(self.repo, to)
        try:
            for path in paths:
                try:
                    if not self.bring(path, {_blob_at(tree, path) for tree in trees}, target):
                        log.warning("%s was changed in the checkout meanwhile: left so", path)
                except OSError as exc:  # the index is brought to it all the same
                    log.warning("%s not written in the checkout: %s", path, exc)
            self.commit()
        except (OSError, pygit2.GitError) as exc:
            log.warning(
                "the checkout was not brought to commit %s (it will be on the next write or"
                " start): %s", to, exc,
            )  # fmt: skip
            return
        self.checkout.journal.unlink(missing_ok=True)
        self._begun = False

    def remove_temporaries(self, paths: list[str]) -> None:
        """Remove the files a killed write was writing in the directories of `paths` (only
        the holder of the lock writes there: any left are a dead writer's)."""
        for directory in sorted({path.rpartition("/")[0] for path in paths}):
            try:
                opened = self._directories(f"{directory}/-" if directory else "-", create=False)
            except OSError:
                continue
            if opened is None:
                continue
            try:
                for name in os.listdir(opened[-1]):
                    if _TEMPORARY.match(name):
                        os.unlink(name, dir_fd=opened[-1])
            finally:
                _close(opened)

    def bring(self, path: str, left: set[str | None], tree: pygit2.Tree | None) -> bool:
        """`path` as `tree` has it, in the index and the working tree, wherever it holds one
        of the blobs `left` (what gitplane found or made there); whether both did."""
        target = _blob_at(tree, path)
        mode = tree[path].filemode if target is not None and tree is not None else BLOB_MODE
        staged, on_disk = self._staged(path), self._on_disk(path)
        if staged.is_one_of(left) and staged.blob != target:
            if target is None:
                self.index.remove(path)
            else:
                entry = pygit2.IndexEntry(path, pygit2.Oid(hex=target), pygit2.enums.FileMode(mode))
                self.index.add(entry)
            self._changed = True
        if on_disk.is_one_of(left) and on_disk.blob != target:
            if target is None:
                self._remove_file(path)
            else:
                self._write_file(path, blob_data(self.repo, target), mode)
        return staged.is_one_of(left) and on_disk.is_one_of(left)

    def commit(self) -> None:
        """Write the index (when it changed) and let go of the lock."""
        if self._lock is None:
            return
        try:
            if self._changed:
                self.index.write()
                os.replace(self._scratch, self.checkout.index_file)
        finally:
            self.release()

    def release(self) -> None:
        """Let go of the lock (the index as it was, unless `commit` wrote it)."""
        if self._lock is not None:
            _remove_lock(self.checkout.lock_file, self._lock)
            self._lock = None

    # ---- the index and the working tree --------------------------------------------

    def _staged(self, path: str) -> _State:
        conflicts = self.index.conflicts
        if conflicts is not None and path in conflicts:
            return _State(odd="an unresolved merge conflict")
        return _State(str(self.index[path].id)) if path in self.index else _State()

    def _on_disk(self, path: str) -> _State:
        try:
            directories = self._directories(path, create=False)
        except _Odd as odd:
            return _State(odd=str(odd))
        if directories is None:
            return _State()
        name = path.rsplit("/", 1)[-1]
        try:
            try:
                info = os.lstat(name, dir_fd=directories[-1])
            except FileNotFoundError:
                return _State()
            if stat.S_ISLNK(info.st_mode):
                return _State(odd="a symbolic link")
            if not stat.S_ISREG(info.st_mode):
                return _State(odd="not a regular file")
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=directories[-1])
            with os.fdopen(fd, "rb") as file:
                return _State(str(pygit2.hash(file.read())))
        finally:
            _close(directories)

    def _write_file(self, path: str, data: bytes, mode: int) -> None:
        directories = self._directories(path, create=True)
        assert directories is not None
        name = path.rsplit("/", 1)[-1]
        tmp = f".gitplane-{os.getpid()}.tmp"  # short: a name that fits must fit here too
        parent = directories[-1]
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=parent)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            fd = os.open(tmp, flags, 0o777 if mode == _EXECUTABLE else 0o666, dir_fd=parent)
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
        finally:
            _close(directories)

    def _remove_file(self, path: str) -> None:
        directories = self._directories(path, create=False)
        if directories is None:
            return
        parts = path.split("/")
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(parts[-1], dir_fd=directories[-1])
            # Directories left empty go, as git removes them.
            for depth in range(len(parts) - 1, 0, -1):
                try:
                    os.rmdir(parts[depth - 1], dir_fd=directories[depth - 1])
                except OSError:
                    break
        finally:
            _close(directories)

    def _directories(self, path: str, *, create: bool) -> list[int] | None:
        """Open descriptors of the working tree and of each directory above `path`, each
        opened from its parent without following a link (None: one is missing)."""
        parts = path.split("/")[:-1]
        opened = [os.open(self.checkout.workdir, os.O_RDONLY | os.O_DIRECTORY)]
        try:
            for depth, part in enumerate(parts):
                try:
                    opened.append(os.open(part, _DIRECTORY, dir_fd=opened[-1]))
                    continue
                except FileNotFoundError:
                    if not create:
                        _close(opened)
                        return None
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    is_link = stat.S_ISLNK(os.lstat(part, dir_fd=opened[-1]).st_mode)
                    what = "a symbolic link" if is_link else "not a directory"
                    raise _Odd(f"{'/'.join(parts[: depth + 1])} is {what}") from None
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=opened[-1])
                opened.append(os.open(part, _DIRECTORY, dir_fd=opened[-1]))
        except BaseException:
            _close(opened)
            raise
        return opened


def _create_lock(lock_file: Path) -> int:
    """`lock_file` created only if absent, holding the owner line; its inode."""
    fd = os.open(lock_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        os.write(fd, _owner().encode())
        return os.fstat(fd)[stat.ST_INO]
    finally:
        os.close(fd)


def _remove_lock(lock_file: Path, identity: int) -> bool:
    """Remove `lock_file` if it is still the lock of that inode (never another's)."""
    with contextlib.suppress(OSError):
        if os.stat(lock_file)[stat.ST_INO] == identity:
            os.unlink(lock_file)
            return True
    return False


def _close(descriptors: list[int]) -> None:
    for fd in descriptors:
        os.close(fd)


def _tree(repo: pygit2.Repository, commit_id: str | None) -> pygit2.Tree | None:
    if commit_id is None:
        return None
    try:
        return repo[commit_id].peel(pygit2.Tree)
    except (KeyError, ValueError):
        return None  # a commit a killed write never finished writing


def _blob_at(tree: pygit2.Tree | None, path: str) -> str | None:
    if tree is None:
        return None
    try:
        entry = tree[path]
    except KeyError:
        return None
    return str(entry.id) if entry.type_str == "blob" else None


def _start_time(pid: int) -> str:
    """When process `pid` started (clock ticks since boot, from /proc), or "" unknown:
    with the pid it tells a process from a later one given the same pid (a container's
    gitplane is pid 1 after every restart)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            return file.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""


_OWNERS: dict[int, str] = {}


def _owner() -> str:
    """What a lock file gitplane holds says of its holder (see _left_by_a_gitplane_gone)."""
    pid = os.getpid()
    if pid not in _OWNERS:
        _OWNERS[pid] = f"gitplane {socket.gethostname()} {pid} {_start_time(pid)}\n"
    return _OWNERS[pid]


def _left_by_a_gitplane_gone(lock_file: Path) -> bool:
    """Whether `lock_file` was left by a gitplane process of this host that is gone, and
    is now removed (git's own locks, and other hosts', are left to people)."""
    try:
        with open(lock_file, "rb") as file:
            identity = os.fstat(file.fileno())[stat.ST_INO]
            words = file.read(256).decode("utf-8", errors="replace").split()
    except OSError:
        return False
    if len(words) < 3 or words[0] != "gitplane" or words[1] != socket.gethostname():
        return False
    pid, started = int(words[2]) if words[2].isdigit() else 0, words[3] if len(words) > 3 else ""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
        now = _start_time(pid)  # a later process given the same pid: the holder is gone
        alive = not started or not now or started == now
    except ProcessLookupError:
        alive = False
    except PermissionError:
        alive = True
    if alive:
        return False
    with contextlib.suppress(OSError):
        if os.stat(lock_file)[stat.ST_INO] == identity:
            os.unlink(lock_file)
            log.warning("removed %s, left by gitplane process %d, which is gone", lock_file, pid)
    return True
