"""How a push reaches a path remote (one pack per push, under the branch's ref lock),
how other replicas' packs come back (hard links), how packs are rolled up in the
background, and how a replica that is behind the remote rebuilds on its tip. The git
CLI checks every repository."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest

import store.remote
from store.errors import Conflict, Unavailable
from store.keys import ObjectKey
from store.model import Requester
from store.packformat import PackFiles
from store.packs import MAINTENANCE, link_pack
from store.remote import Push, RemoteMirror
from store.repo import GitStore
from tests.store.conftest import ALICE, configmap, deployment, pack_objects, run_git

WEB = ObjectKey("apps", "Deployment", "shop", "web")


def object_counts(repo: Path) -> dict[str, int]:
    lines = run_git(repo, "count-objects", "-v").splitlines()
    return {key: int(value) for key, value in (line.split(": ") for line in lines)}


def packs_in(repo: Path) -> list[Path]:
    return sorted((repo / "objects" / "pack").glob("pack-*.idx"))


def replica(tmp_path: Path, remote: Path, name: str) -> GitStore:
    return GitStore(tmp_path / name, remote=RemoteMirror(str(remote), "main"))


def test_each_push_is_one_pack_in_the_remote(tmp_path: Path, remote: Path) -> None:
    store = replica(tmp_path, remote, "a")
    store.create(deployment(), ALICE)
    store.create(configmap("settings"), ALICE)
    rv = store.update(deployment(replicas=5), ALICE).resource_version
    with pytest.raises(Conflict):  # refused: nothing reaches the remote
        store.update(deployment(replicas=4), ALICE, expect_rv=str(int(rv) - 1))
    counts = object_counts(remote)
    assert counts["count"] == 0 and counts["packs"] == 3 and counts["garbage"] == 0
    for index in packs_in(remote):
        run_git(remote, "verify-pack", str(index))
    run_git(remote, "fsck", "--strict", "--no-dangling")
    assert "replicas: 5" in run_git(remote, "show", "main:shop/deployment-web.yaml")


def test_dry_runs_send_nothing_to_the_remote(tmp_path: Path, remote: Path) -> None:
    store = replica(tmp_path, remote, "a")
    store.create(deployment(), ALICE)
    before = object_counts(remote), run_git(remote, "rev-parse", "main")
    store.create(configmap("maybe"), ALICE, dry_run=True)
    store.update(deployment(replicas=9), ALICE, dry_run=True)
    assert (object_counts(remote), run_git(remote, "rev-parse", "main")) == before


def test_other_replicas_packs_are_linked_on_fetch(tmp_path: Path, remote: Path) -> None:
    a, b = replica(tmp_path, remote, "a"), replica(tmp_path, remote, "b")
    a.create(deployment(), ALICE)
    b.sync()
    [pack] = packs_in(remote)
    assert os.stat(tmp_path / "b" / "objects" / "pack" / pack.name).st_ino == os.stat(pack).st_ino
    assert b.get(WEB).obj["spec"]["replicas"] == 2
    run_git(tmp_path / "b", "fsck", "--strict")


def test_a_write_keeps_the_pack_it_pushed_and_makes_no_loose_objects(
    tmp_path: Path, remote: Path
) -> None:
    store = replica(tmp_path, remote, "a")
    store.create(deployment(), ALICE)
    store.update(deployment(replicas=7), ALICE)
    clone = tmp_path / "a"
    counts = object_counts(clone)
    assert counts["count"] == 0 and counts["packs"] == 2
    # One pack on disk, two names: the clone's and the remote's are the same file.
    for pack in packs_in(remote):
        assert os.stat(clone / "objects" / "pack" / pack.name).st_ino == os.stat(pack).st_ino
    assert not any((clone / "gitplane" / "outgoing").iterdir())
    run_git(clone, "fsck", "--strict", "--no-dangling")
    assert store.get(WEB).obj["spec"]["replicas"] == 7


def test_a_pushed_pack_that_cannot_be_kept_is_written_in_the_clone_again(
    tmp_path: Path, remote: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename into the clone's packs fails after the remote took the push: the
    write's objects, still staged in memory, reach the clone's disk another way."""
    store = replica(tmp_path, remote, "a")
    store.create(deployment(), ALICE)

    def cannot_move(*_: Any) -> None:
        raise OSError("rename failed")

    monkeypatch.setattr("store.remote.move_pack", cannot_move)
    result = store.update(deployment(replicas=3), ALICE)
    clone = tmp_path / "a"
    run_git(clone, "rev-list", "--objects", result.commit_id or "")  # every object on disk
    assert not any((clone / "gitplane" / "outgoing").iterdir())
    assert store.get(WEB).obj["spec"]["replicas"] == 3


def test_a_failed_push_leaves_nothing_in_the_clone(tmp_path: Path, remote: Path) -> None:
    store = replica(tmp_path, remote, "a")
    store.create(deployment(), ALICE)
    clone = tmp_path / "a"
    before = object_counts(clone), packs_in(clone)
    remote.rename(tmp_path / "away.git")
    with pytest.raises(Unavailable):
        store.update(deployment(replicas=3), ALICE)
    assert (object_counts(clone), packs_in(clone)) == before
    assert not any((clone / "gitplane" / "outgoing").iterdir())
    (tmp_path / "away.git").rename(remote)
    store.update(deployment(replicas=4), ALICE)
    assert "replicas: 4" in run_git(remote, "show", "main:shop/deployment-web.yaml")
    run_git(clone, "fsck", "--strict")


def test_the_clone_branch_is_written_on_fetch_and_a_new_process_starts_at_the_tip(
    tmp_path: Path, remote: Path
) -> None:
    store = replica(tmp_path, remote, "a")
    store.create(deployment(), ALICE)
    tip = store.update(deployment(replicas=6), ALICE).commit_id
    assert store.head.commit_id == tip == run_git(remote, "rev-parse", "main").strip()
    store.sync()
    assert run_git(tmp_path / "a", "rev-parse", "main").strip() == tip
    store.update(deployment(replicas=8), ALICE)
    again = replica(tmp_path, remote, "a")  # what a restart opens
    assert again.get(WEB).obj["spec"]["replicas"] == 8
    assert again.head.commit_id == run_git(tmp_path / "a", "rev-parse", "main").strip()


def test_a_pack_is_never_left_without_its_index(tmp_path: Path) -> None:
    source = tmp_path / "source"
    target = tmp_path / "target"
    source.mkdir()
    target.mkdir()
    pack = PackFiles.named(source, "pack-1")
    (source / "pack-1.pack").write_bytes(b"PACK")  # its index was just removed by a repack
    assert link_pack(pack, target) is None
    assert list(target.iterdir()) == []
    (source / "pack-1.idx").write_bytes(b"index")
    assert link_pack(pack, target) is True
    assert sorted(p.name for p in target.iterdir()) == ["pack-1.idx", "pack-1.pack"]


class RecordingMirror(RemoteMirror):
    """The real mirror, noting what each push came to."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outcomes: list[Push] = []

    def push(self, *args: Any, **kwargs: Any) -> Push:
        outcome = super().push(*args, **kwargs)
        self.outcomes.append(outcome)
        return outcome


def a_and_a_recorded_b(tmp_path: Path, remote: Path) -> tuple[GitStore, GitStore, RecordingMirror]:
    """Replica a with a Deployment and a ConfigMap, replica b (its pushes recorded) at them."""
    a = replica(tmp_path, remote, "a")
    mirror = RecordingMirror(str(remote), "main")
    b = GitStore(tmp_path / "b", remote=mirror)
    a.create(deployment(), ALICE)
    a.create(configmap("settings"), ALICE)
    b.sync()
    return a, b, mirror


def test_disjoint_writes_rebuild_on_the_new_tip_without_parsing_first(
    tmp_path: Path, remote: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, mirror = a_and_a_recorded_b(tmp_path, remote)
    a.update(configmap("settings", mode="fast"), ALICE)

    def catch_up() -> None:
        raise AssertionError("b caught up before pushing; its file was not touched")

    monkeypatch.setattr(b, "_catch_up", catch_up)
    bob = Requester("bob")
    result = b.update(deployment(replicas=7), bob, message="web to 7")  # one commit behind
    # Found moved on, the commit was made on the new tip and pushed in the same push.
    assert mirror.outcomes == [Push.ACCEPTED]
    parents = run_git(remote, "log", "--format=%P", "-1", "main").split()
    assert parents == [run_git(remote, "rev-parse", "main~1").strip()]
    assert result.commit_id == run_git(remote, "rev-parse", "main").strip()
    assert run_git(remote, "log", "-1", "--format=%an|%s", "main").strip() == "bob|web to 7"
    assert b.get(ObjectKey("", "ConfigMap", "shop", "settings")).obj["data"] == {"mode": "fast"}
    assert b.get(WEB).obj["spec"]["replicas"] == 7
    assert run_git(remote, "rev-list", "--count", "main").strip() == "4"


class LockWatchingMirror(RemoteMirror):
    """The real mirror, noting for each making of a push's commits whether the remote
    branch was locked then; `before_lock` runs as the push is about to take the lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.made_while_locked: list[bool] = []
        self.before_lock: list[Any] = []

    def _made_on(self, remote: Any, *args: Any) -> Any:
        assert self.local_path is not None
        self.made_while_locked.append((self.local_path / "refs/heads/main.lock").exists())
        return super()._made_on(remote, *args)

    @contextlib.contextmanager
    def _branch_locked(self, remote: Any) -> Iterator[Any]:
        while self.before_lock:
            self.before_lock.pop()()
        with super()._branch_locked(remote) as locked:
            yield locked


def test_a_push_holds_the_lock_only_to_link_its_pack_and_move_the_branch(
    tmp_path: Path, remote: Path
) -> None:
    mirror = LockWatchingMirror(str(remote), "main")
    store = GitStore(tmp_path / "a", remote=mirror)
    store.create(deployment(), ALICE)
    store.update(deployment(replicas=3), ALICE)
    assert mirror.made_while_locked == [False, False]
    assert len(packs_in(remote)) == 2
    run_git(remote, "fsck", "--strict", "--no-dangling")


def test_a_write_made_before_the_lock_is_made_again_when_another_replica_pushed_first(
    tmp_path: Path, remote: Path
) -> None:
    """b makes its commit on the tip it sees; a pushes before b takes the lock: under
    the lock b makes it again on a's commit and pushes it in the same turn. The pack
    made for the old tip never reaches the remote."""
    a = replica(tmp_path, remote, "a")
    a.create(deployment(), ALICE)
    a.create(configmap("settings"), ALICE)
    mirror = LockWatchingMirror(str(remote), "main")
    b = GitStore(tmp_path / "b", remote=mirror)
    mirror.before_lock.append(lambda: a.update(configmap("settings", mode="fast"), ALICE))
    result = b.update(deployment(replicas=7), ALICE)
    assert mirror.made_while_locked == [False, True]
    tip = run_git(remote, "rev-parse", "main").strip()
    assert result.commit_id == tip
    subjects = run_git(remote, "log", "-2", "--format=%s", "main").splitlines()
    assert subjects == ["update apps/v1 Deployment shop/web", "update v1 ConfigMap shop/settings"]
    assert len(packs_in(remote)) == 4  # one per acknowledged write, none for the old tip
    for index in packs_in(remote):
        run_git(remote, "verify-pack", str(index))
    run_git(remote, "fsck", "--strict", "--no-dangling")
    assert not any((tmp_path / "b" / "gitplane" / "outgoing").iterdir())
    assert b.get(ObjectKey("", "ConfigMap", "shop", "settings")).obj["data"] == {"mode": "fast"}
    assert b.get(WEB).obj["spec"]["replicas"] == 7


def test_a_file_changed_meanwhile_is_parsed_before_building_on_it(
    tmp_path: Path, remote: Path
) -> None:
    a, b = replica(tmp_path, remote, "a"), replica(tmp_path, remote, "b")
    rv = a.create(deployment(), ALICE).resource_version
    b.sync()
    a.update(deployment(replicas=3), ALICE)
    with pytest.raises(Conflict):  # b's version is stale: the new tip says so
        b.update(deployment(replicas=4), ALICE, expect_rv=rv)
    b.update(deployment(replicas=4, minReadySeconds=5), ALICE)  # no precondition: on the tip
    shown = run_git(remote, "show", "main:shop/deployment-web.yaml")
    assert "replicas: 4" in shown and "minReadySeconds: 5" in shown


def test_small_packs_are_rolled_up_and_nothing_is_lost(
    tmp_path: Path, remote: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not MAINTENANCE.enabled:
        pytest.skip("git is not installed")
    monkeypatch.setattr(MAINTENANCE, "threshold", 6)
    monkeypatch.setattr(MAINTENANCE, "check_every", 1)
    store = replica(tmp_path, remote, "a")
    for n in range(12):
        store.create(configmap(f"c{n}"), ALICE)
        MAINTENANCE.wait()  # each roll-up finishes before the next write, for a stable count
    assert len(packs_in(remote)) < 6
    run_git(remote, "fsck", "--strict", "--no-dangling")
    fresh = replica(tmp_path, remote, "b")
    assert len(fresh.list_objects("shop").items) == 12


def lock_branch(remote: Path) -> Path:
    """Take the remote branch's lock as a git process does while it moves the branch."""
    lock = remote / "refs" / "heads" / "main.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(run_git(remote, "rev-parse", "main"))
    return lock


def test_a_push_waits_while_the_branch_is_locked(tmp_path: Path, remote: Path) -> None:
    store = replica(tmp_path, remote, "a")
    store.create(deployment(), ALICE)
    before = run_git(remote, "rev-parse", "main")
    lock = lock_branch(remote)
    outcome: list[object] = []
    writer = threading.Thread(
        target=lambda: outcome.append(store.update(deployment(replicas=5), ALICE))
    )
    writer.start()
    time.sleep(0.3)
    assert writer.is_alive() and run_git(remote, "rev-parse", "main") == before
    lock.unlink()  # the other pusher is done
    writer.join(timeout=10)
    assert outcome and "replicas: 5" in run_git(remote, "show", "main:shop/deployment-web.yaml")
    assert len(packs_in(remote)) == 2  # one per write: no pack was sent while it waited
    run_git(remote, "fsck", "--strict", "--no-dangling")


def test_a_push_that_finds_the_lock_taken_makes_its_commits_under_it(
    tmp_path: Path, remote: Path
) -> None:
    """Another push holds the lock, so the tip is about to move: nothing is made before
    the lock is let go and taken."""
    mirror = LockWatchingMirror(str(remote), "main")
    store = GitStore(tmp_path / "a", remote=mirror)
    store.create(deployment(), ALICE)
    lock = lock_branch(remote)
    threading.Timer(0.2, lock.unlink).start()
    store.update(deployment(replicas=5), ALICE)
    assert mirror.made_while_locked == [False, True]
    assert "replicas: 5" in run_git(remote, "show", "main:shop/deployment-web.yaml")
    run_git(remote, "fsck", "--strict", "--no-dangling")


def test_a_lock_left_behind_fails_writes_with_unavailable_and_nothing_half_done(
    tmp_path: Path, remote: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("store.remote.BRANCH_LOCK_WAIT", 0.2)
    writer = replica(tmp_path, remote, "a")
    writer.create(deployment(), ALICE)
    clone = tmp_path / "a"
    before = run_git(remote, "rev-parse", "main"), object_counts(remote), packs_in(clone)
    lock = lock_branch(remote)  # a crashed pusher's
    with pytest.raises(Unavailable, match=r"refs/heads/main\.lock"):
        writer.update(deployment(replicas=5), ALICE)
    assert lock.exists()  # another process's lock is never taken away
    assert (run_git(remote, "rev-parse", "main"), object_counts(remote), packs_in(clone)) == before
    assert not any((clone / "gitplane" / "outgoing").iterdir())
    lock.unlink()  # what the message asks a person to do
    writer.update(deployment(replicas=6), ALICE)
    assert "replicas: 6" in run_git(remote, "show", "main:shop/deployment-web.yaml")


def push_as_a_person(tmp_path: Path, remote: Path, name: str) -> None:
    """A commit pushed with git: small pushes stay loose objects in the remote."""
    work = tmp_path / "person"
    if not work.exists():
        run_git(tmp_path, "clone", "-q", str(remote), str(work))
    run_git(work, "pull", "-q", "origin", "main")
    (work / "shop" / f"{name}.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
    )
    run_git(work, "add", "-A")
    run_git(work, "commit", "-qm", f"add {name}")
    run_git(work, "push", "-q", "origin", "main")


@pytest.mark.parametrize("fresh", [False, True], ids=["behind", "new-clone"])
def test_a_linked_pack_does_not_hide_the_loose_commits_beneath_it(
    tmp_path: Path, remote: Path, fresh: bool
) -> None:
    a = replica(tmp_path, remote, "a")
    a.create(deployment(), ALICE)
    b = None if fresh else replica(tmp_path, remote, "b")
    push_as_a_person(tmp_path, remote, "by-hand")  # loose in the remote
    a.sync()
    a.update(deployment(replicas=4), ALICE)  # a pack in the remote, on top of the loose commit
    assert object_counts(remote)["count"] > 0
    b = replica(tmp_path, remote, "b") if b is None else b
    b.sync()  # links a's pack: its commit is there, the person's beneath it must be too
    assert b.get(ObjectKey("", "ConfigMap", "shop", "by-hand")).obj["metadata"]["name"] == "by-hand"
    assert b.get(WEB).obj["spec"]["replicas"] == 4
    run_git(tmp_path / "b", "fsck", "--strict")
    run_git(tmp_path / "b", "rev-list", "--objects", b.head.commit_id or "")  # every object there


def test_a_push_on_a_linked_pack_brings_the_loose_commits_beneath_it(
    tmp_path: Path, remote: Path
) -> None:
    """Under the lock only the other replicas' packs are linked; reading the person's
    commit beneath them finds it missing, and the write still lands in the same turn."""
    a, b, mirror = a_and_a_recorded_b(tmp_path, remote)
    push_as_a_person(tmp_path, remote, "by-hand")  # loose in the remote
    a.sync()
    a.update(configmap("settings", mode="fast"), ALICE)  # a pack on top of the loose commit
    result = b.update(deployment(replicas=7), ALICE)  # b is two commits behind
    assert mirror.outcomes == [Push.ACCEPTED]
    assert result.commit_id == run_git(remote, "rev-parse", "main").strip()
    assert b.get(ObjectKey("", "ConfigMap", "shop", "by-hand")).obj["metadata"]["name"] == "by-hand"
    assert b.get(ObjectKey("", "ConfigMap", "shop", "settings")).obj["data"] == {"mode": "fast"}
    run_git(tmp_path / "b", "fsck", "--strict")
    run_git(tmp_path / "b", "rev-list", "--objects", result.commit_id or "")


def test_other_replicas_writes_on_the_tip_are_held_from_their_linked_packs_without_a_walk(
    tmp_path: Path, remote: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The usual case: the tip a few commits past what the clone holds, each one in a
    pack just linked. They are checked in the clone; the remote's history is not walked."""
    a, b, mirror = a_and_a_recorded_b(tmp_path, remote)
    a.update(configmap("settings", mode="fast"), ALICE)
    a.create(configmap("more"), ALICE)
    walks: list[str] = []
    walk = store.remote._copy_new_commits

    def recorded_walk(*args: Any, **kwargs: Any) -> bool:
        walks.append(args[2])
        return walk(*args, **kwargs)

    monkeypatch.setattr("store.remote._copy_new_commits", recorded_walk)
    result = b.update(deployment(replicas=7), ALICE)
    assert mirror.outcomes == [Push.ACCEPTED]
    assert walks == []
    assert b.get(ObjectKey("", "ConfigMap", "shop", "settings")).obj["data"] == {"mode": "fast"}
    assert b.get(ObjectKey("", "ConfigMap", "shop", "more")).obj["metadata"]["name"] == "more"
    run_git(tmp_path / "b", "fsck", "--strict")
    run_git(tmp_path / "b", "rev-list", "--objects", result.commit_id or "")


def test_commits_on_the_held_tip_are_held_only_with_every_object_each_adds(
    tmp_path: Path, remote: Path
) -> None:
    work = tmp_path / "person"
    run_git(tmp_path, "clone", "-q", str(remote), str(work))

    def commit_file(path: str, text: str) -> tuple[str, list[str], str]:
        """The commit, its new trees and its new blob."""
        (work / path).parent.mkdir(exist_ok=True)
        (work / path).write_text(text)
        run_git(work, "add", "-A")
        run_git(work, "commit", "-qm", f"add {path}")
        trees = [run_git(work, "rev-parse", "HEAD^{tree}").strip()]
        if "/" in path:
            trees.append(run_git(work, "rev-parse", f"HEAD:{path.split('/')[0]}").strip())
        blob = run_git(work, "rev-parse", f"HEAD:{path}").strip()
        return run_git(work, "rev-parse", "HEAD").strip(), trees, blob

    first, _, _ = commit_file("a.yaml", "a: 1\n")
    clone = tmp_path / "clone.git"
    run_git(tmp_path, "clone", "-q", "--bare", str(work), str(clone))
    second, second_trees, second_blob = commit_file("dir/b.yaml", "b: 2\n")
    third, third_trees, third_blob = commit_file("c.yaml", "c: 3\n")

    def pack_into_clone(*ids: str) -> None:
        assert pack_objects(work, list(ids), clone)

    repo = pygit2.Repository(str(clone))
    assert not store.remote._held_on(repo, third, first)  # not in the clone at all
    pack_into_clone(third, *third_trees, third_blob, second, *second_trees)  # not b.yaml
    assert not store.remote._held_on(repo, third, first)  # the commit beneath lacks its blob
    assert not store.remote._held_on(repo, third, None)  # nothing known held
    pack_into_clone(second_blob)
    assert store.remote._held_on(repo, third, first)
    assert store.remote._held_on(repo, second, first)
    assert not store.remote._held_on(repo, first, third)  # not beneath it


def merge_a_branch_pushed_before(tmp_path: Path, remote: Path) -> None:
    """A person's merge pushed as a pack (git keeps it when told to), its side branch
    loose in the remote from an earlier push: the merge's trees are in the pack, the side
    branch's blob is not."""
    work = tmp_path / "person"
    run_git(tmp_path, "clone", "-q", str(remote), str(work))
    run_git(work, "checkout", "-q", "-b", "feature")
    (work / "ops" / "feature.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: feature\n  namespace: ops\n"
    )
    run_git(work, "add", "-A")
    run_git(work, "commit", "-qm", "feature")
    run_git(work, "push", "-q", "origin", "feature")  # loose in the remote
    run_git(work, "checkout", "-q", "main")
    (work / "ops" / "y.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n  namespace: ops\n"
    )
    run_git(work, "add", "-A")
    run_git(work, "commit", "-qm", "y")
    run_git(work, "merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    run_git(remote, "config", "receive.unpackLimit", "1")  # this push stays a pack
    run_git(work, "push", "-q", "origin", "main")


def two_replicas_one_behind_a_merge(
    tmp_path: Path, remote: Path, b_mirror: RemoteMirror
) -> GitStore:
    a = replica(tmp_path, remote, "a")
    b = GitStore(tmp_path / "b", remote=b_mirror)
    a.create(deployment(), ALICE)
    a.create(configmap("x", namespace="ops"), ALICE)
    b.sync()
    merge_a_branch_pushed_before(tmp_path, remote)
    return b


def test_a_push_on_a_merge_brings_the_side_branch_the_write_did_not_read(
    tmp_path: Path, remote: Path
) -> None:
    """The write reads the merge's trees, all in the linked pack, not the side branch's
    blob: that is brought once the branch is let go, before the write is acknowledged."""
    b = two_replicas_one_behind_a_merge(tmp_path, remote, RemoteMirror(str(remote), "main"))
    result = b.update(deployment(replicas=3), ALICE)  # on the merge, one push
    # git walks every object the acknowledged commit reaches, not only those the write read.
    run_git(tmp_path / "b", "rev-list", "--objects", result.commit_id or "")
    names = {o.key.name for o in b.list_objects("ops").items}
    assert names == {"x", "y", "feature"}


class VanishingMirror(RemoteMirror):
    """The real mirror, whose remote is moved away the moment a push lets go of the branch."""

    @contextlib.contextmanager
    def _branch_locked(self, remote: Any) -> Iterator[Any]:
        with super()._branch_locked(remote) as locked:
            yield locked
        assert self.local_path is not None
        self.local_path.rename(self.local_path.with_name("away.git"))


def test_a_pushed_write_whose_tip_cannot_be_brought_says_it_was_pushed(
    tmp_path: Path, remote: Path
) -> None:
    b = two_replicas_one_behind_a_merge(tmp_path, remote, VanishingMirror(str(remote), "main"))
    with pytest.raises(Unavailable) as failed:
        b.update(deployment(replicas=3), ALICE)
    (tmp_path / "away.git").rename(remote)
    pushed = run_git(remote, "rev-parse", "main").strip()
    assert f"the write was pushed as {pushed}" in str(failed.value)
    assert "replicas: 3" in run_git(remote, "show", "main:shop/deployment-web.yaml")
    assert not any((tmp_path / "b" / "gitplane" / "outgoing").iterdir())
    assert b.sync().commit_id == pushed  # a fetch takes no lock: the remote stays
    assert b.get(WEB).obj["spec"]["replicas"] == 3
    assert {o.key.name for o in b.list_objects("ops").items} == {"x", "y", "feature"}
    run_git(tmp_path / "b", "rev-list", "--objects", pushed)


def test_a_merged_branch_forked_long_ago_is_brought_in_whole(tmp_path: Path, remote: Path) -> None:
    a, b = replica(tmp_path, remote, "a"), replica(tmp_path, remote, "b")
    a.create(configmap("first"), ALICE)
    push_as_a_person(tmp_path, remote, "on-main")
    work = tmp_path / "person"
    run_git(work, "checkout", "-q", "-b", "feature", "HEAD~1")  # forked before on-main
    (work / "shop" / "feature.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: feature\n"
    )
    run_git(work, "add", "-A")
    run_git(work, "commit", "-qm", "feature")
    run_git(work, "checkout", "-q", "main")
    run_git(work, "merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    run_git(work, "push", "-q", "origin", "main")
    a.sync()
    a.create(configmap("after"), ALICE)  # a pack on top of the merge
    b.sync()
    names = {o.key.name for o in b.list_objects("shop").items}
    assert names == {"first", "on-main", "feature", "after"}
    run_git(tmp_path / "b", "fsck", "--strict")


def test_a_new_clone_far_behind_gets_the_loose_commits_beneath_linked_packs(
    tmp_path: Path, remote: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No roll-up: one that packs the loose commit before b starts hides what is tested.
    monkeypatch.setattr(MAINTENANCE, "enabled", False)
    a = replica(tmp_path, remote, "a")
    a.create(configmap("first"), ALICE)
    push_as_a_person(tmp_path, remote, "by-hand")  # loose in the remote
    a.sync()
    for n in range(70):  # more commits than are copied one by one: a pack fetch then
        a.create(configmap(f"c{n}"), ALICE)
    b = replica(tmp_path, remote, "b")  # every pack linked: the tip is there, not beneath
    assert len(b.list_objects("shop").items) == 72
    run_git(tmp_path / "b", "fsck", "--strict")
