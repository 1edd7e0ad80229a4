"""A real client-go consumer (tests/go/informer, client-go v0.37.2): a dynamic shared
informer on manifests.gitplane.io through kube-apiserver, as a controller would run one."""

from __future__ import annotations

import itertools
import json
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.controlplane.environment import ControlPlane
from tests.controlplane.kubectl import Kubectl
from tests.realcluster.conftest import create_namespace, eventually, manifest, push_from_outside

_namespaces = itertools.count(1)


class Informer:
    def __init__(self, cluster: ControlPlane, namespace: str) -> None:
        assert cluster.built is not None
        self.namespace = namespace
        self.process = subprocess.Popen(
            [
                str(cluster.built.informer),
                f"--kubeconfig={cluster.admin_kubeconfig}",
                f"--namespace={namespace}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def expect(self, kind: str, name: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if line["type"] == kind and (name is None or line.get("name") == name):
                return line
        events = [line for line in self.seen if line["type"] != "REQUEST"]
        pytest.fail(f"informer: no {kind} {name or ''} within {timeout:g}s; events {events}")

    def requests(self) -> list[str]:
        return [line["url"] for line in self.seen if line["type"] == "REQUEST"]

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


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
