"""Pack files: how new objects reach a path remote, and come back from it, all at once.

A push to a remote on a local or shared filesystem writes one pack and its index
there: two new files for all of a batch's objects, where copying them loose made one
per object (a new file costs from 50 us to over 1 ms on a busy disk). A replica
fetching from it hard-links the packs other replicas wrote: two links, no copies.

Git and libgit2 find a pack by its index, so a pack is always put in place before its
index (store.packformat writes them): a reader never meets an index without its pack.

Packs written one per push pile up, and libgit2 reads the pack directory again for
each object it does not find: every pack makes every write slower. Every 16 packs, a
background thread joins the small ones (whole objects, as gitplane writes them) into
one; every 16th roll-up, or past 48 packs, `git repack --geometric=2 -d` rolls them up
instead, with deltas, as git's own incremental maintenance does. Neither deletes an
object that is in no other pack, and git and libgit2 readers cope with packs replaced
under them.
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
from pathlib import Path

import pygit2

from store.packformat import (
    PackFiles,
    Record,
    whole_object_records,
    write_pack_files,
    write_records,
)
from store.staging import StagingRepository

log = logging.getLogger(__name__)


def pack_directory(repo: pygit2.Repository) -> Path:
    return Path(repo.path) / "objects" / "pack"


def write_pack(
    repo: pygit2.Repository, oids: Sequence[pygit2.Oid], directory: Path, *, count: bool = True
) -> PackFiles:
    """Write the objects `oids` of `repo` as one pack in `directory` (`count`: the
    directory is an object store whose packs are rolled up)."""
    objects = [(oid, *_read(repo, oid)) for oid in dict.fromkeys(oids)]
    files = write_pack_files(objects, directory)
    if count:
        MAINTENANCE.pack_added(directory)
    return files


def _read(repo: pygit2.Repository, oid: pygit2.Oid) -> tuple[int, bytes]:
    """An object's kind and content; a staged one without looking through the packs."""
    if isinstance(repo, StagingRepository) and oid in repo.staged.objects:
        return repo.staged.objects[oid]
    kind, data = repo.odb.read(oid)
    return int(kind), data


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
    them up in the background when there are at least `threshold`: small packs of whole
    objects are joined in this process; every `repack_every`-th roll-up, or when there
    are `repack_at` packs (git's, with deltas, or big ones), `git repack` does it."""

    def __init__(
        self,
        threshold: int = 16,
        check_every: int = 16,
        repack_at: int = 48,
        repack_every: int = 16,
    ) -> None:
        self.threshold = threshold
        self.check_every = check_every
        self.repack_at = repack_at
        self.repack_every = repack_every
        self._added: dict[Path, int] = {}
        self._rolled: dict[Path, int] = {}
        self._running: dict[Path, threading.Thread] = {}
        self._lock = threading.Lock()
        self.enabled = True

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
                target=self._roll_up, args=(directory,), name="gitplane-repack", daemon=True
            )
            self._running[directory] = thread
        thread.start()

    def _roll_up(self, directory: Path) -> None:
        with self._lock:
            rolled = self._rolled[directory] = self._rolled.get(directory, 0) + 1
        # Joined packs keep every object whole; now and then git rolls the packs up
        # instead, storing similar objects as deltas (a tenth of the space, or less).
        due = rolled % self.repack_every == 0 or _count_packs(directory) >= self.repack_at
        if due and shutil.which("git"):
            _repack(directory)
            return
        try:
            join_small_packs(directory)
        except OSError as exc:  # the directory went away, or another process was there first
            log.info("could not join the small packs in %s: %s", directory, exc)

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


# Packs are joined up to this size; bigger ones are left to git repack.
SMALL_PACK = 1 << 20
# Packs this small (a push's is a few kB) are always joined.
_ALWAYS_JOINED = 64 << 10


def join_small_packs(directory: Path) -> PackFiles | None:
    """The small packs of whole objects in `directory` (those gitplane writes) joined
    into one: their entries copied as they are, each object once, nothing compressed
    again, then the joined packs removed. A few milliseconds for a burst of pushes,
    where `git repack` took 50 ms of CPU and, niced, starved behind the writes.

    Packs are taken smallest first: all those of a few pushes, then each next one only
    while it is no bigger than twice those taken so far (as git repack --geometric=2
    does): a byte is copied again only when what joins it has grown as big. Every
    object of a removed pack is in the new one before it goes. None when there are not
    two packs to join."""
    chosen: list[PackFiles] = []
    records: dict[bytes, Record] = {}
    for _, files in packs_to_join(directory):
        try:
            entries = whole_object_records(files)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile (another replica joined it), or not a pack we read
        if entries is None:
            continue  # git's pack, with deltas: left to git repack
        chosen.append(files)
        for record in entries:
            records.setdefault(record[0], record)
    if len(chosen) < 2:
        return None
    joined = write_records(list(records.values()), directory)
    for files in chosen:
        if files != joined:
            for path in (files.index, files.pack):  # the index first: never one without its pack
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
    return joined


def packs_to_join(directory: Path) -> list[tuple[int, PackFiles]]:
    """The packs join_small_packs takes, with their sizes (see there), together at most
    SMALL_PACK bytes."""
    chosen: list[tuple[int, PackFiles]] = []
    taken = 0
    for size, files in _small_packs(directory):
        if size > max(2 * taken, _ALWAYS_JOINED) or taken + size > SMALL_PACK:
            break
        chosen.append((size, files))
        taken += size
    return chosen


def _small_packs(directory: Path) -> list[tuple[int, PackFiles]]:
    """The packs in `directory` of at most SMALL_PACK bytes, smallest first."""
    found = []
    for name in pack_names(directory):
        files = PackFiles.named(directory, name)
        with contextlib.suppress(FileNotFoundError):
            size = files.pack.stat().st_size
            if size <= SMALL_PACK:
                found.append((size, files))
    return sorted(found, key=lambda found_pack: found_pack[0])


# git repack runs at the lowest CPU priority, in the time writes leave idle: in a burst
# of 200 writes on two cores, repacks at normal priority took a fifth of all CPU time.
_LOW_PRIORITY = ["nice", "-n", "19"] if shutil.which("nice") else []


def _repack(directory: Path) -> None:
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
