"""A real client-go consumer (tests/go/informer, client-go v0.37.2): a dynamic shared
informer on manifests.gitplane.io through kube-apiserver, as a controller would run one."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pytest
import yaml

from tests.controlplane.environment import ControlPlane
from tests.controlplane.kubectl import Kubectl
from tests.realcluster.conftest import (
    Informer,
    create_namespace,
    eventually,
    file_at,
    manifest,
    push_from_outside,
    ref_of,
)

_namespaces = itertools.count(1)
WEB = {"tier": "web"}
BOOKKEEPING = "refs/gitplane/bookkeeping/main"


@pytest.fixture
def feed(admin: Kubectl) -> str:
    """A namespace of its own with two Manifests: configmap.first (labelled tier=web) and
    configmap.second."""
    namespace = f"feed-{next(_namespaces)}"
    create_namespace(admin, namespace)
    admin("apply", "-f", "-", input=manifest(namespace, "first", {"n": "1"}, labels=WEB))
    admin("apply", "-f", "-", input=manifest(namespace, "second", {"n": "2"}))
    return namespace


@pytest.fixture
def informer(cluster: ControlPlane, feed: str) -> Iterator[Informer]:
    started = Informer(cluster, feed)
    yield started
    started.stop()


def _configmap(name: str, value: str) -> str:
    return yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": value}}
    )


def test_informer_lists_with_watchlist_then_follows_every_change(
    cluster: ControlPlane, admin: Kubectl, informer: Informer
) -> None:
    feed = informer.namespace
    initial = {informer.expect("ADDED")["name"], informer.expect("ADDED")["name"]}
    assert initial == {"configmap.first", "configmap.second"}
    assert all(line.get("initialList") for line in informer.seen if line["type"] == "ADDED")
    informer.expect("SYNCED")
    # The initial list came from a WatchList: a watch with sendInitialEvents, no LIST.
    first = informer.requests()[0]
    assert first.startswith(f"/apis/gitplane.io/v1alpha1/namespaces/{feed}/manifests?")
    assert "watch=true" in first and "sendInitialEvents=true" in first
    # It asked for bookmarks, and got the one that ends the initial events (SYNCED waits
    # for it after a WatchList).
    assert "allowWatchBookmarks=true" in first
    assert all("watch=true" in url for url in informer.requests())

    # Writes made with kubectl.
    admin("apply", "-f", "-", input=manifest(feed, "third", {"n": "3"}))
    added = informer.expect("ADDED", "configmap.third")
    assert not added.get("initialList")
    admin("patch", "manifest", "configmap.third", "-n", feed, "--type=merge",
          "-p", json.dumps({"spec": {"object": {"data": {"n": "three"}}}}))  # fmt: skip
    modified = informer.expect("MODIFIED", "configmap.third")
    assert modified["resourceVersion"] != added["resourceVersion"]
    admin("delete", "manifest", "configmap.third", "-n", feed)
    informer.expect("DELETED", "configmap.third")

    # A commit pushed to the team's repository by someone else.
    path = f"{feed}/outside.yaml"
    push_from_outside(cluster.repo, {path: _configmap("outside", "1")}, "feed: outside")
    informer.expect("ADDED", "configmap.outside")
    push_from_outside(cluster.repo, {path: _configmap("outside", "2")}, "feed: outside v2")
    informer.expect("MODIFIED", "configmap.outside")
    push_from_outside(cluster.repo, {path: None}, "feed: no more outside")
    informer.expect("DELETED", "configmap.outside")


def test_informer_recovers_after_gitplane_restarts(
    cluster: ControlPlane, admin: Kubectl, informer: Informer
) -> None:
    informer.expect("SYNCED")
    before = len(informer.requests())
    cluster.stop_pod("gitplane-apiserver")
    try:
        admin("get", "apiservice")  # kube-apiserver itself is unaffected
    finally:
        cluster.start_pod("gitplane-apiserver")
    eventually(
        lambda: (
            admin(
                "apply",
                "-f",
                "-",
                input=manifest(informer.namespace, "after-restart", {"n": "4"}),
                check=False,
            ).returncode
            == 0
        ),
        30,
        "a write through the aggregator again",
    )
    informer.expect("ADDED", "configmap.after-restart", timeout=90)
    assert len(informer.requests()) > before  # it watched again


def _patch(admin: Kubectl, namespace: str, name: str, kind: str, patch: object) -> None:
    admin("patch", "manifest", f"configmap.{name}", "-n", namespace, f"--type={kind}",
          "-p", json.dumps(patch))  # fmt: skip


def _listed_version(admin: Kubectl, namespace: str) -> str:
    path = f"/apis/gitplane.io/v1alpha1/namespaces/{namespace}/manifests"
    return str(json.loads(admin("get", "--raw", path).stdout)["metadata"]["resourceVersion"])


def test_bookkeeping_is_one_event_off_the_branch_and_the_reflector_resumes_from_it(
    cluster: ControlPlane, admin: Kubectl, informer: Informer
) -> None:
    """Issue 20.1: a finalizer and kopf's annotations persist beside the branch, each one
    MODIFIED event with a larger resourceVersion; a label is a commit. The reflector
    watches again from a bookkeeping version without a 410 or a new list."""
    feed = informer.namespace
    informer.expect("SYNCED")
    first = next(line for line in informer.events() if line.get("name") == "configmap.first")
    clone = cluster.clone_of("gitplane-apiserver")
    branch, kept = ref_of(cluster.repo, "main"), ref_of(clone, BOOKKEEPING)
    declared = f"{feed}/configmap-first.yaml"

    # kopf's finalizer: a JSON patch testing the resourceVersion, then adding it.
    _patch(admin, feed, "first", "json", [
        {"op": "test", "path": "/metadata/resourceVersion", "value": first["resourceVersion"]},
        {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/hold"]},
    ])  # fmt: skip
    held = informer.next("MODIFIED", "configmap.first")
    assert held["finalizers"] == ["example.com/hold"]
    assert int(held["resourceVersion"]) > int(first["resourceVersion"])
    assert ref_of(cluster.repo, "main") == branch  # what Argo CD reads did not move
    assert ref_of(clone, BOOKKEEPING) not in (None, kept)  # the bookkeeping ref did
    kept = ref_of(clone, BOOKKEEPING)

    # kopf's own annotations: a merge patch.
    last_handled = json.dumps({"spec": {"object": {"data": {"n": "1"}}}})
    annotation = {"kopf.zalando.org/last-handled-configuration": last_handled}
    _patch(admin, feed, "first", "merge", {"metadata": {"annotations": annotation}})
    handled = informer.next("MODIFIED", "configmap.first")  # the finalizer made one event
    assert handled["annotations"]["kopf.zalando.org/last-handled-configuration"] == last_handled
    assert handled["finalizers"] == ["example.com/hold"]
    assert int(handled["resourceVersion"]) > int(held["resourceVersion"])
    assert ref_of(cluster.repo, "main") == branch
    assert ref_of(clone, BOOKKEEPING) not in (None, kept)
    in_git = file_at(cluster.repo, "main", declared)
    assert in_git is not None and "kopf" not in in_git and "finalizers" not in in_git
    assert ref_of(cluster.repo, BOOKKEEPING) is None  # kept in gitplane's clone, not pushed

    # The watch ends, as at its timeout: the reflector watches again from its last
    # version, a bookkeeping one; a label set meanwhile is a commit and one event.
    before = len(informer.requests())
    informer.command("rewatch")
    admin("label", "manifest", "configmap.first", "-n", feed, "tier=db", "--overwrite")
    relabelled = informer.expect(
        "MODIFIED", "configmap.first", where=lambda line: line.get("labels") == {"tier": "db"}
    )
    resumed = informer.request_lines(before)
    assert [line["status"] for line in resumed] == [200], resumed  # no 410, no new list
    assert f"resourceVersion={handled['resourceVersion']}&" in resumed[0]["url"]
    assert "sendInitialEvents" not in resumed[0]["url"]
    assert informer.events()[-2:] == [handled, relabelled]  # the annotation made one event
    assert relabelled["finalizers"] == ["example.com/hold"]  # bookkeeping outlives the commit
    assert int(relabelled["resourceVersion"]) > int(handled["resourceVersion"])
    assert ref_of(cluster.repo, "main") != branch  # the label is declared: a commit
    committed = yaml.safe_load(file_at(cluster.repo, "main", declared) or "{}")
    assert committed["metadata"]["labels"] == {"tier": "db"}


def test_a_watch_resumed_from_a_version_not_reached_is_too_large_and_lists_again(
    cluster: ControlPlane, admin: Kubectl, informer: Informer
) -> None:
    """Issue 20.9: a watch from a resourceVersion gitplane has not reached (as from a
    client that saw a newer replica) waits, then ends with "Too large resource version";
    client-go's reflector logs it and lists again (a WatchList from its own version)."""
    feed = informer.namespace
    informer.expect("SYNCED")
    # One event on the watch about to end, or client-go would call it a very short watch.
    _patch(admin, feed, "second", "merge", {"spec": {"object": {"data": {"n": "two"}}}})
    last = informer.next("MODIFIED", "configmap.second")["resourceVersion"]
    before = len(informer.requests())
    informer.command("future")
    listed = {informer.next("MODIFIED")["name"], informer.next("MODIFIED")["name"]}
    assert listed == {"configmap.first", "configmap.second"}  # the cache listed again
    future, relist = informer.requests(before)[:2]
    assert f"resourceVersion={last}0&" in future and "sendInitialEvents" not in future
    assert "sendInitialEvents=true" in relist and f"resourceVersion={last}&" in relist
    ended = informer.find("LOG", lambda line: "watch ended with error" in line["message"])
    assert f"Too large resource version: {last}0" in ended["message"]  # was a 410, relisting too
    admin("apply", "-f", "-", input=manifest(feed, "third", {"n": "3"}))
    assert not informer.next("ADDED", "configmap.third").get("initialList")  # it follows again


def test_a_selector_watch_sees_objects_leave_and_enter(
    cluster: ControlPlane, admin: Kubectl, feed: str
) -> None:
    """Issue 20.3: with a label selector, an object that stops matching is DELETED (its
    last matching state) and one that starts matching is ADDED, for the informer and on
    the wire."""
    version = _listed_version(admin, feed)
    selecting = Informer(cluster, feed, "--label-selector=tier=web")
    wire = Informer(cluster, feed, "--watch", "--label-selector=tier=web",
                    f"--resource-version={version}")  # fmt: skip
    try:
        assert selecting.next("ADDED", "configmap.first")["initialList"]  # not second
        selecting.expect("SYNCED")
        wire.expect("REQUEST")
        admin("label", "manifest", "configmap.first", "-n", feed, "tier=db", "--overwrite")
        selecting.next("DELETED", "configmap.first")  # was nothing: it stayed in the cache
        assert wire.next("DELETED", "configmap.first")["labels"] == WEB
        admin("label", "manifest", "configmap.first", "-n", feed, "tier=web", "--overwrite")
        assert not selecting.next("ADDED", "configmap.first").get("initialList")
        assert wire.next("ADDED", "configmap.first")["labels"] == WEB  # was MODIFIED
        admin("label", "manifest", "configmap.second", "-n", feed, "tier=web")
        selecting.next("ADDED", "configmap.second")  # and nothing came for it before
        wire.next("ADDED", "configmap.second")
    finally:
        selecting.stop()
        wire.stop()


def test_a_watch_gets_bookmarks_only_when_it_asks(
    cluster: ControlPlane, admin: Kubectl, feed: str
) -> None:
    """Issue 20.4: a plain watch from "" or "0" gets the current objects, then changes, and
    no BOOKMARK; one that asks (as client-go's reflector does) gets the bookmark that ends
    the initial events."""
    plain = [Informer(cluster, feed, "--watch", f"--resource-version={rv}") for rv in ("", "0")]
    asking = Informer(cluster, feed, "--watch", "--allow-bookmarks", "--send-initial-events")
    objects = {"configmap.first", "configmap.second"}
    try:
        for watch in [*plain, asking]:
            assert {watch.next("ADDED")["name"], watch.next("ADDED")["name"]} == objects
        end = asking.next("BOOKMARK")
        assert end["initialEventsEnd"] and int(end["resourceVersion"]) > 0
        _patch(admin, feed, "second", "merge", {"spec": {"object": {"data": {"n": "two"}}}})
        for watch in [*plain, asking]:
            watch.next("MODIFIED", "configmap.second")  # no BOOKMARK came before it
        assert all("allowWatchBookmarks" not in w.requests()[0] for w in plain)
    finally:
        for watch in [*plain, asking]:
            watch.stop()
