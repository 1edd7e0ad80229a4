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
    manifest,
    push_from_outside,
)

_namespaces = itertools.count(1)


@pytest.fixture
def informer(cluster: ControlPlane, admin: Kubectl) -> Iterator[Informer]:
    namespace = f"feed-{next(_namespaces)}"
    create_namespace(admin, namespace)
    for name in ("first", "second"):
        admin("apply", "-f", "-", input=manifest(namespace, name, {"n": name}))
    started = Informer(cluster, namespace)
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
