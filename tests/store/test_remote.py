"""A bare repository on disk as the remote: pushes, fetches, outside pushes, outages,
force-pushes, and replicas writing at once."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from store.errors import Conflict, Expired, Unavailable
from store.keys import ObjectKey
from store.model import Requester
from store.remote import Credentials, RemoteMirror, redact
from store.repo import GitStore
from tests.store.conftest import ALICE, configmap, deployment, run_git

WEB = ObjectKey("apps", "Deployment", "shop", "web")


@pytest.fixture(params=["direct", "git-cli"])
def transport(request: pytest.FixtureRequest) -> str:
    """Local remotes are written directly; network remotes go through the git CLI. Both run."""
    return str(request.param)


Replica = Callable[[Path, str], GitStore]


@pytest.fixture
def replica(tmp_path: Path, transport: str) -> Replica:
    def make(remote: Path, name: str) -> GitStore:
        mirror = RemoteMirror(str(remote), "main", direct_local=transport == "direct")
        return GitStore(tmp_path / name, remote=mirror)

    return make


def person_clone(tmp_path: Path, remote: Path) -> Path:
    work = tmp_path / "person"
    subprocess.run(["git", "clone", "-q", str(remote), str(work)], check=True)
    return work


def test_writes_are_pushed_and_acknowledged_after_the_push(
    tmp_path: Path, remote: Path, replica: Replica
) -> None:
    store = replica(remote, "a")
    result = store.create(deployment(), ALICE)
    assert run_git(remote, "rev-parse", "main").strip() == result.commit_id
    assert (
        run_git(remote, "log", "--format=%an %s").strip()
        == "alice create apps/v1 Deployment shop/web"
    )
    run_git(remote, "fsck", "--strict")


def test_outside_pushes_are_fetched(tmp_path: Path, remote: Path, replica: Replica) -> None:
    store = replica(remote, "a")
    store.create(deployment(), ALICE)
    rv = store.head.resource_version
    work = person_clone(tmp_path, remote)
    (work / "shop" / "extra.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n"
    )
    run_git(work, "add", "-A")
    run_git(work, "commit", "-qm", "a merged pull request")
    run_git(work, "push", "-q", "origin", "main")
    store.sync()
    events, _ = store.watch_events(rv)
    assert [(e.type, e.object.key.name) for e in events] == [("ADDED", "extra")]
    # A write after it lands on top of it.
    store.update(deployment(replicas=5), ALICE)
    assert run_git(remote, "log", "--format=%s", "-2").split("\n")[:2] == [
        "update apps/v1 Deployment shop/web",
        "a merged pull request",
    ]


def test_a_replica_behind_the_remote_retries_on_the_new_tip(
    tmp_path: Path, remote: Path, replica: Replica
) -> None:
    a, b = replica(remote, "a"), replica(remote, "b")
    a.create(configmap("from-a"), ALICE)
    b.create(configmap("from-b"), ALICE)  # b had not fetched a's commit: rejected, fetched, retried
    assert {o.key.name for o in b.list_objects("shop").items} == {"from-a", "from-b"}
    assert run_git(remote, "rev-list", "--count", "main").strip() == "2"


def test_same_version_from_two_replicas_exactly_one_wins(
    tmp_path: Path, remote: Path, replica: Replica
) -> None:
    a, b = replica(remote, "a"), replica(remote, "b")
    rv = a.create(deployment(), ALICE).resource_version
    b.sync()
    a.update(deployment(replicas=3), ALICE, expect_rv=rv)
    with pytest.raises(Conflict):
        b.update(deployment(replicas=4), ALICE, expect_rv=rv)
    assert "replicas: 3" in run_git(remote, "show", "main:shop/deployment-web.yaml")


def test_replicas_writing_different_objects_all_land(
    tmp_path: Path, remote: Path, replica: Replica
) -> None:
    stores = [replica(remote, f"r{i}") for i in range(3)]
    acknowledged: list[str] = []
    lock = threading.Lock()

    def writer(index: int) -> None:
        for n in range(8):
            result = stores[index].create(configmap(f"r{index}-{n}"), Requester(f"replica-{index}"))
            with lock:
                acknowledged.append(str(result.commit_id))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = set(run_git(remote, "rev-list", "main").split())
    assert len(acknowledged) == 24 and set(acknowledged) <= history  # no acknowledged write lost
    stores[0].sync()
    assert len(stores[0].list_objects("shop").items) == 24
    run_git(remote, "fsck", "--strict")


def test_unreachable_remote_fails_writes_and_keeps_serving_reads(
    tmp_path: Path, remote: Path, replica: Replica
) -> None:
    store = replica(remote, "a")
    store.create(deployment(), ALICE)
    tip = store.head.commit_id
    remote.rename(tmp_path / "elsewhere.git")
    with pytest.raises(Unavailable):
        store.update(deployment(replicas=9), ALICE)
    assert store.head.commit_id == tip  # nothing half-done locally
    assert store.get(WEB).obj["spec"]["replicas"] == 2  # reads still served
    assert store.remote is not None and store.remote.stale_since is not None
    with pytest.raises(Unavailable):
        store.sync()
    (tmp_path / "elsewhere.git").rename(remote)
    store.update(deployment(replicas=9), ALICE)
    assert store.remote.stale_since is None
    assert "replicas: 9" in run_git(remote, "show", "main:shop/deployment-web.yaml")


def test_force_push_is_detected_and_expires_old_versions(
    tmp_path: Path, remote: Path, replica: Replica
) -> None:
    store = replica(remote, "a")
    store.create(deployment(), ALICE)
    store.create(configmap("doomed"), ALICE)
    lost = store.head.resource_version
    work = person_clone(tmp_path, remote)
    run_git(work, "reset", "-q", "--hard", "HEAD~1")
    run_git(work, "commit", "-q", "--allow-empty", "-m", "rewritten")
    run_git(work, "push", "-q", "--force", "origin", "main")
    epoch = store.head.epoch
    store.sync()
    assert store.head.epoch == epoch + 1
    with pytest.raises(Expired):
        store.watch_events(lost)
    assert [o.key.name for o in store.list_objects("shop").items] == ["web"]


def test_credentials_stay_out_of_messages(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    assert (
        redact("https://user:s3cret-token@git.example.com/x.git") == "https://git.example.com/x.git"
    )
    mirror = RemoteMirror(
        "https://user:s3cret-token@127.0.0.1:9/none.git",
        "main",
        Credentials(username="bot", token_file=token),
    )
    store = GitStore(tmp_path / "clone", remote=mirror)  # unreachable: starts empty, stale
    with pytest.raises(Unavailable) as failure:
        store.sync()
    assert "s3cret" not in failure.value.message and "s3cret" not in mirror.last_error
