"""Issue 20.1 with controllers through the aggregator: finalizers hold a `kubectl delete`
until they go, and a kopf operator (tests/clients/kopf_operator.py, as against `gitplane
up`) runs its create, update and delete handlers end to end. Their bookkeeping stays in
gitplane's clone, on refs/gitplane/bookkeeping/main; the branch gets only what people
declared, authored by them."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.controlplane.environment import ControlPlane
from tests.controlplane.kubectl import Kubectl
from tests.realcluster.conftest import (
    Informer,
    create_namespace,
    eventually,
    file_at,
    log_of,
    manifest,
    ref_of,
)

OPERATOR = Path(__file__).resolve().parents[1] / "clients" / "kopf_operator.py"
KOPF = str(Path(sys.executable).parent / "kopf")
BOOKKEEPING = "refs/gitplane/bookkeeping/main"
_namespaces = itertools.count(1)


@pytest.fixture
def namespace(admin: Kubectl) -> str:
    """A namespace of its own where alice may edit."""
    name = f"operated-{next(_namespaces)}"
    create_namespace(admin, name, bindings={"alice": "edit"})
    return name


def _commits(cluster: ControlPlane, namespace: str) -> list[str]:
    """Author and subject of each commit that changed the namespace's directory, newest first."""
    return log_of(cluster.repo, "--format=%an|%s", "main", "--", f"{namespace}/").splitlines()


def test_kubectl_delete_waits_for_the_finalizer_then_commits_as_the_deleter(
    cluster: ControlPlane, admin: Kubectl, namespace: str
) -> None:
    alice = cluster.user("alice")
    declared = f"{namespace}/configmap-held.yaml"
    alice("apply", "-f", "-", input=manifest(namespace, "held", {"a": "1"}))
    admin("patch", "manifest", "configmap.held", "-n", namespace, "--type=merge",
          "-p", json.dumps({"metadata": {"finalizers": ["example.com/hold"]}}))  # fmt: skip
    informer = Informer(cluster, namespace)
    try:
        informer.expect("SYNCED")
        branch = ref_of(cluster.repo, "main")
        alice("delete", "manifest", "configmap.held", "-n", namespace, "--wait=false")
        marked = informer.next("MODIFIED", "configmap.held")
        assert marked["deleting"] and marked["finalizers"] == ["example.com/hold"]
        held = alice.json("get", "manifest", "configmap.held", "-n", namespace)
        assert held["metadata"]["deletionTimestamp"]  # was deleted at once
        assert ref_of(cluster.repo, "main") == branch  # nothing committed yet
        assert file_at(cluster.repo, "main", declared) is not None

        # The controller lets go: the deletion alice asked for is committed, as hers.
        admin("patch", "manifest", "configmap.held", "-n", namespace, "--type=json",
              "-p", '[{"op": "remove", "path": "/metadata/finalizers"}]')  # fmt: skip
        informer.next("DELETED", "configmap.held")
    finally:
        informer.stop()
    assert admin.get("manifest", "configmap.held", "-n", namespace) is None
    assert file_at(cluster.repo, "main", declared) is None
    assert _commits(cluster, namespace)[0] == f"alice|delete v1 ConfigMap {namespace}/held"


def _handled(log: Path, handler: str) -> dict[str, Any]:
    def ran() -> dict[str, Any] | None:
        lines = log.read_text().splitlines() if log.exists() else []
        entries = [json.loads(line) for line in lines]
        return next((entry for entry in entries if entry["handler"] == handler), None)

    found: dict[str, Any] = eventually(ran, 60, f"kopf's {handler} handler")
    return found


def test_kopf_runs_its_handlers_through_the_aggregator(
    cluster: ControlPlane, admin: Kubectl, namespace: str, tmp_path: Path
) -> None:
    alice = cluster.user("alice")
    log = tmp_path / "operator.log"
    declared = f"{namespace}/configmap-settings.yaml"
    operator = subprocess.Popen(
        [KOPF, "run", "--standalone", "--namespace", namespace, str(OPERATOR)],
        env={**os.environ, "KUBECONFIG": str(cluster.admin_kubeconfig), "OPERATOR_LOG": str(log)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        alice("apply", "-f", "-", input=manifest(namespace, "settings", {"mode": "on"}))
        created = _handled(log, "create")
        assert created == {
            "handler": "create",
            "name": "configmap.settings",
            "data": {"mode": "on"},
        }

        def handled_status() -> dict[str, Any] | None:
            served = admin.json("get", "manifest", "configmap.settings", "-n", namespace)
            return served if "created" in served.get("status", {}) else None

        served = eventually(handled_status, 30, "kopf's handler result in status")
        assert served["status"]["created"] == {"seen": True}
        assert served["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]
        assert "kopf.zalando.org/last-handled-configuration" in served["metadata"]["annotations"]
        in_git = file_at(cluster.repo, "main", declared)
        assert in_git is not None  # what Argo CD reads: no kopf, no finalizer, no status
        assert "kopf" not in in_git and "finalizers" not in in_git and "status" not in in_git
        kept = file_at(
            cluster.clone_of("gitplane-apiserver"),
            BOOKKEEPING,
            f"{namespace}/core/ConfigMap/settings.json",
        )
        assert kept is not None and "KopfFinalizerMarker" in kept

        alice("patch", "manifest", "configmap.settings", "-n", namespace, "--type=merge",
              "-p", json.dumps({"spec": {"object": {"data": {"mode": "off"}}}}))  # fmt: skip
        assert ["spec", "object", "data", "mode"] in _handled(log, "update")["diff"]

        # kubectl waits while kopf's delete handler runs and lets go of its finalizer.
        alice("delete", "manifest", "configmap.settings", "-n", namespace, "--timeout=60s")
        assert _handled(log, "delete")["name"] == "configmap.settings"
    finally:
        operator.send_signal(signal.SIGINT)
        try:
            out, _ = operator.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            operator.kill()
            out, _ = operator.communicate()
        print(out[-5000:])  # shown when the test fails
    assert file_at(cluster.repo, "main", declared) is None
    assert _commits(cluster, namespace) == [
        f"alice|delete v1 ConfigMap {namespace}/settings",
        f"alice|update v1 ConfigMap {namespace}/settings",
        f"alice|create v1 ConfigMap {namespace}/settings",
    ]  # kopf's writes made no commit


@pytest.mark.xfail(
    strict=True,
    reason="bookkeeping is kept in the pod's clone (an emptyDir, manifests/apiserver.yaml) and"
    " not pushed (docs/api.md): a new pod forgets finalizers and deletions they hold, and"
    " resourceVersions go back",
)
def test_bookkeeping_outlives_a_restart_of_gitplanes_pod(
    cluster: ControlPlane, admin: Kubectl, namespace: str
) -> None:
    admin("apply", "-f", "-", input=manifest(namespace, "kept", {"a": "1"}))
    admin("patch", "manifest", "configmap.kept", "-n", namespace, "--type=merge",
          "-p", json.dumps({"metadata": {"finalizers": ["example.com/hold"]}}))  # fmt: skip
    admin("delete", "manifest", "configmap.kept", "-n", namespace, "--wait=false")
    before = admin.json("get", "manifest", "configmap.kept", "-n", namespace)["metadata"]
    cluster.stop_pod("gitplane-apiserver")
    cluster.start_pod("gitplane-apiserver")
    after = admin.json("get", "manifest", "configmap.kept", "-n", namespace)["metadata"]
    assert int(after["resourceVersion"]) >= int(before["resourceVersion"])
    assert after.get("finalizers") == ["example.com/hold"] and after.get("deletionTimestamp")
