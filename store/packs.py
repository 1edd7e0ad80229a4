"""Pack files: how new objects reach a path remote, and come back from it, all at once.

A push to a remote on a local or shared filesystem writes one pack and its index
there: two new files for all of a batch's objects, where copying them loose made one
per object (a new file costs from 50 us to over 1 ms on a busy disk). A replica
fetching from it hard-links the packs other replicas wrote: two links, no copies.

Git and libgit2 find a pack by its index. libgit2's pack builder puts the index in
place before the pack, so a push writes its pack in a directory of its own and links
it into the remote pack first: a reader never meets an index without its pack there.

Packs written one per push pile up. Past a threshold, a background
`git repack --geometric=2 -d` rolls the small ones into bigger ones, as git's own
incremental maintenance does; a repack never deletes an object that is in no other
pack, and git and libgit2 readers cope with packs replaced under them.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackFiles:
    """A pack and its index, which git names alike (pack-<hash>.pack, pack-<hash>.idx)."""

    pack: Path
    index: Path


def pack_directory(repo: pygit2.Repository) -> Path:
    return Path(repo.path) / "objects" / "pack"


def write_pack(
    repo: pygit2.Repository, oids: Sequence[pygit2.Oid], directory: Path, *, count: bool = True
) -> None:
    """Write the objects `oids` of `repo` as one pack in `directory` (libgit2's pack
    builder; `count`: the directory is an object store whose packs are rolled up)."""
    builder = pygit2.PackBuilder(repo)
    for oid in dict.fromkeys(oids):
        builder.add(oid)
    builder.write(directory)
    if count:
        MAINTENANCE.pack_added(directory)


# Another filesystem, a filesystem without hard links, a file of another owner.
_NO_LINKS_HERE = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP})


def link_pack(files: PackFiles, directory: Path) -> bool | None:
    """Hard-link the pack into `directory`, the index last: True when linked (or there
    already), False when links cannot be made there (another filesystem), None when the
    pack is gone (a repack replaced it)."""
    try:
        for source in (files.pack, files.index):  # the index last: it makes the pack seen
            with contextlib.suppress(FileExistsError):  # the same name is the same content
                os.link(source, directory / source.name)
    except FileNotFoundError:
        with contextlib.suppress(FileNotFoundError):
            (directory / files.pack.name).unlink()  # never a pack without its index
        return None
    except OSError as exc:
        if exc.errno in _NO_LINKS_HERE:
            return False
        raise  # the directory is unreachable: the caller says so
    MAINTENANCE.pack_added(directory)
    return True


def move_pack(files: PackFiles, directory: Path) -> None:
    """Rename the pack into `directory`, the pack first: its index makes it visible."""
    for source in (files.pack, files.index):
        os.rename(source, directory / source.name)
    MAINTENANCE.pack_added(directory)


class PackMaintenance:
    """Counts the packs added to each directory and, every `check_every` packs, rolls
    them up in the background when there are at least `threshold`."""

    def __init__(self, threshold: int = 48, check_every: int = 16) -> None:
        self.threshold = threshold
        self.check_every = check_every
        self._added: dict[Path, int] = {}
        self._running: dict[Path, threading.Thread] = {}
        self._lock = threading.Lock()
        self.enabled = shutil.which("git") is not None

    def pack_added(self, directory: Path) -> None:
        with self._lock:
            added = self._added.get(directory, 0) + 1
            self._added[directory] = added
            running = self._running.get(directory)
            if (
                not self.enabled
                or added % self.check_every
                or (running is not None and running.is_alive())
                or _count_packs(directory) < self.threshold
            ):
                return
            thread = threading.Thread(
                target=_roll_up, args=(directory,), name="gitplane-repack", daemon=True
            )
            self._running[directory] = thread
        thread.start()

    def wait(self) -> None:
        """Until every roll-up started has finished (for tests and clean shutdown)."""
        with self._lock:
            running = list(self._running.values())
        for thread in running:
            thread.join()


def pack_names(directory: Path) -> set[str]:
    """The packs in `directory` by name without suffix (`pack-<hash>`): those with an index."""
    return {entry.name[:-4] for entry in os.scandir(directory) if entry.name.endswith(".idx")}


def _count_packs(directory: Path) -> int:
    try:
        return len(pack_names(directory))
    except OSError:
        return 0


# Roll-ups run at the lowest CPU priority, in the time writes leave idle: in a burst of
# 200 writes on two cores, repacks at normal priority took a fifth of all CPU time.
_LOW_PRIORITY = ["nice", "-n", "19"] if shutil.which("nice") else []


def _roll_up(directory: Path) -> None:
    git_dir = directory.parent.parent  # <git dir>/objects/pack
    try:
        result = subprocess.run(
            [*_LOW_PRIORITY, "git", "-C", str(git_dir), "repack", "-d", "-q", "--geometric=2"],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("could not repack %s: %s", git_dir, exc)
        return
    if result.returncode != 0:  # another replica's repack may have taken the same packs
        log.info("repack of %s did not finish: %s", git_dir, result.stderr.strip()[-300:])


MAINTENANCE = PackMaintenance()
