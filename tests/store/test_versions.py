"""resourceVersions, the change feed, outside commits and rewritten history."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.errors import Expired, Invalid
from store.keys import ObjectKey
from store.model import Put
from store.repo import GitStore
from tests.store.conftest import ALICE, GitRunner, configmap, deployment, write_files

WEB = ObjectKey("apps", "Deployment", "shop", "web")
CONFIG = ObjectKey("", "ConfigMap", "shop", "settings")


def test_object_version_changes_only_when_the_object_does(store: GitStore) -> None:
    store.create(deployment(), ALICE)
    web_rv = store.get(WEB).resource_version
    store.create(configmap("settings", a="1"), ALICE)
    assert store.get(WEB).resource_version == web_rv  # unrelated commit
    assert store.list_objects().resource_version != web_rv  # the list moved on
    store.update(deployment(replicas=4), ALICE)
    assert store.get(WEB).resource_version not in (web_rv, store.get(CONFIG).resource_version)
    assert int(store.get(WEB).resource_version) > int(store.get(CONFIG).resource_version)


def test_uid_is_stable_and_creation_time_is_the_adding_commit(
    store: GitStore, git: GitRunner
) -> None:
    store.create(deployment(), ALICE)
    created = int(git("log", "-1", "--format=%ct").strip())
    first = store.get(WEB)
    store.update(deployment(replicas=3), ALICE)
    later = store.get(WEB)
    assert later.uid == first.uid and later.created_at == created
    store.delete(WEB, ALICE)
    store.create(deployment(), ALICE)
    assert store.get(WEB).uid != first.uid  # a new object, as in Kubernetes


def test_changes_since_are_ordered_without_gaps_or_duplicates(store: GitStore) -> None:
    start = store.head.resource_version
    store.create(deployment(), ALICE)
    store.create(configmap("settings"), ALICE)
    store.update(deployment(replicas=3), ALICE)
    store.delete(CONFIG, ALICE)
    events, reached = store.watch_events(start)
    assert [(e.type, e.object.key) for e in events] == [
        ("ADDED", WEB),
        ("ADDED", CONFIG),
        ("MODIFIED", WEB),
        ("DELETED", CONFIG),
    ]
    versions = [int(e.resource_version) for e in events]
    assert versions == sorted(versions) and len(set(versions)) == 4
    assert events[-1].resource_version == reached == store.head.resource_version
    assert events[3].object.obj["kind"] == "ConfigMap"  # the deleted object's last state ...
    assert events[3].object.resource_version == events[3].resource_version  # ... at its deletion
    middle, _ = store.watch_events(events[1].resource_version)
    assert [(e.type, e.object.key) for e in middle] == [("MODIFIED", WEB), ("DELETED", CONFIG)]


def test_commits_from_outside_are_picked_up(
    store: GitStore, repo_path: Path, git: GitRunner
) -> None:
    store.create(deployment(), ALICE)
    rv = store.head.resource_version
    write_files(
        repo_path,
        {"shop/extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n"},
    )
    git("add", "-A")
    git("commit", "-qm", "a person adds a ConfigMap")
    store.refresh()
    events, _ = store.watch_events(rv)
    assert [(e.type, e.object.key.name, e.object.path) for e in events] == [
        ("ADDED", "extra", "shop/extra.yaml")
    ]
    # A gitplane write after it builds on the outside commit.
    store.update(deployment(replicas=7), ALICE)
    assert git("log", "--format=%s").splitlines()[:2] == [
        "update apps/v1 Deployment shop/web",
        "a person adds a ConfigMap",
    ]


def test_comment_only_commit_changes_no_object(
    store: GitStore, repo_path: Path, git: GitRunner
) -> None:
    store.create(deployment(), ALICE)
    rv = store.get(WEB).resource_version
    path = repo_path / "shop" / "deployment-web.yaml"
    path.write_text("# reviewed\n" + path.read_text())
    git("commit", "-qam", "comment")
    store.refresh()
    assert store.get(WEB).resource_version == rv
    assert store.watch_events(store.head.resource_version)[0] == []


def test_rewritten_history_expires_old_versions(store: GitStore, git: GitRunner) -> None:
    store.create(deployment(), ALICE)
    store.create(configmap("settings"), ALICE)
    lost = store.head.resource_version
    git("reset", "-q", "--hard", "HEAD~1")
    git("commit", "-q", "--allow-empty", "-m", "someone force-pushed")
    epoch = store.head.epoch
    store.refresh()
    assert store.head.epoch == epoch + 1
    with pytest.raises(Expired):
        store.watch_events(lost)
    assert {o.key for o in store.list_objects().items} == {WEB}


def test_unknown_and_malformed_versions(store: GitStore) -> None:
    store.create(deployment(), ALICE)
    with pytest.raises(Expired):
        store.watch_events("99000001")
    with pytest.raises(Invalid):
        store.watch_events("not-a-number")


def test_watch_window_bounds_memory_and_expires(repo_path: Path) -> None:
    store = GitStore.init(repo_path, watch_window=3)
    start = store.head.resource_version
    for replicas in range(1, 7):
        store.apply([Put(deployment(replicas=replicas))], ALICE)
    with pytest.raises(Expired):
        store.watch_events(start)
    recent = store._timeline.steps[-3].resource_version
    assert len(store.watch_events(recent)[0]) == 2
    assert store._timeline.steps[0].changes[0].after is None  # forgotten, only the record stays
