"""Who is asking, as kube-apiserver tells gitplane (front proxy), and what RBAC lets them do.

alice is bound to `edit` in shop, victor to `view`, mallory to nothing (tests/controlplane).
Through kube-apiserver, RBAC refuses first; sent straight to gitplane's API server with the
same client certificates (which gitplane accepts from the client CA that
extension-apiserver-authentication names), gitplane's own SubjectAccessReview refuses
with the same words, so the manifests' RBAC is enforced even by a caller that bypasses
the aggregator.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from tests.controlplane.environment import ControlPlane
from tests.controlplane.kubectl import Kubectl
from tests.controlplane.processes import HarnessError
from tests.realcluster.conftest import Watch, direct_kubeconfig, log_of, manifest

SHOP = "shop"


def refusal(kubectl: Kubectl, *args: str, input: str | None = None) -> str:
    result = kubectl(*args, input=input, check=False)
    assert result.returncode != 0, result.stdout
    return result.stderr.strip()


def test_alice_reads_writes_and_is_the_author(cluster: ControlPlane) -> None:
    alice = cluster.user("alice")
    watch = Watch(alice, "get", "manifests", "-n", SHOP, "-w", "--output-watch-events")
    try:
        alice("apply", "-f", "-", input=manifest(SHOP, "alice-settings", {"mode": "on"}))
        watch.wait_for("ADDED")
        alice("patch", "manifest", "configmap.alice-settings", "-n", SHOP, "--type=merge",
              "-p", json.dumps({"spec": {"object": {"data": {"mode": "off"}}}}))  # fmt: skip
        watch.wait_for("MODIFIED")
        got = alice.json("get", "manifest", "configmap.alice-settings", "-n", SHOP)
        assert got["spec"]["object"]["data"] == {"mode": "off"}
        listed = alice.json("get", "manifests", "-n", SHOP)
        assert "configmap.alice-settings" in [m["metadata"]["name"] for m in listed["items"]]
        alice("delete", "manifest", "configmap.alice-settings", "-n", SHOP)
        watch.wait_for("DELETED")
    finally:
        watch.stop()
    commits = log_of(cluster.repo, "-3", "--format=%an|%B%x00").split("\0")
    writes = [c.strip() for c in commits if c.strip()]
    assert [w.split("|")[0] for w in writes] == ["alice", "alice", "alice"]
    for body in writes:
        assert "Gitplane-User: alice" in body
        assert "Gitplane-Groups: shop-developers, system:authenticated" in body


def test_victor_reads_but_cannot_write(
    cluster: ControlPlane, admin: Kubectl, tmp_path: Path
) -> None:
    admin("apply", "-f", "-", input=manifest(SHOP, "for-victor", {"k": "v"}))
    victor = cluster.user("victor")
    assert victor.json("get", "manifest", "configmap.for-victor", "-n", SHOP)["kind"] == "Manifest"
    direct = direct_kubeconfig(cluster, cluster.kubeconfig_of("victor"), tmp_path / "direct")
    assert direct.json("get", "manifest", "configmap.for-victor", "-n", SHOP)["kind"] == "Manifest"
    writes = [
        ("delete", "manifest", "configmap.for-victor", "-n", SHOP),
        ("patch", "manifest", "configmap.for-victor", "-n", SHOP, "--type=merge", "-p", "{}"),
    ]
    for args in writes:
        verb = args[0]
        words = (
            f'manifests.gitplane.io "configmap.for-victor" is forbidden: User "victor" cannot'
            f' {verb} resource "manifests" in API group "gitplane.io" in the namespace "shop"'
        )
        assert words in refusal(victor, *args)  # kube-apiserver's RBAC
        assert words in refusal(direct, *args)  # gitplane's SubjectAccessReview
    created = refusal(direct, "create", "-f", "-", input=manifest(SHOP, "victors", {"a": "b"}))
    assert (
        'User "victor" cannot create resource "manifests" in API group "gitplane.io" in the'
        ' namespace "shop"' in created
    )
    assert "Forbidden" in created


def test_mallory_cannot_even_read(cluster: ControlPlane, tmp_path: Path) -> None:
    words = (
        'manifests.gitplane.io is forbidden: User "mallory" cannot list resource "manifests"'
        ' in API group "gitplane.io" in the namespace "shop"'
    )
    assert words in refusal(cluster.user("mallory"), "get", "manifests", "-n", SHOP)
    direct = direct_kubeconfig(cluster, cluster.kubeconfig_of("mallory"), tmp_path / "direct")
    assert words in refusal(direct, "get", "manifests", "-n", SHOP)


def _token_kubeconfig(cluster: ControlPlane, path: Path, token: str | None) -> Kubectl:
    ca = base64.b64encode(cluster.pki.serving_ca.read_bytes()).decode()
    user = {"token": token} if token else {}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c", "cluster": {"server": cluster.server, "certificate-authority-data": ca}}
        ],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path.write_text(yaml.safe_dump(config))
    return Kubectl(path)


def test_unauthenticated_is_401(cluster: ControlPlane, tmp_path: Path) -> None:
    bogus = _token_kubeconfig(cluster, tmp_path / "bogus", "not-a-token")
    said = refusal(bogus, "get", "manifests", "-n", SHOP)
    assert "You must be logged in to the server (Unauthorized)" in said
    # Straight to gitplane, no credentials at all: gitplane's own authentication says 401.
    nobody = direct_kubeconfig(cluster, tmp_path / "bogus", tmp_path / "direct")
    assert "You must be logged in to the server (Unauthorized)" in refusal(
        nobody, "get", "manifests", "-n", SHOP
    )


def test_a_service_account_token_is_reviewed_by_kube_apiserver(
    cluster: ControlPlane, admin: Kubectl, tmp_path: Path
) -> None:
    """A bearer token sent straight to gitplane is checked with a TokenReview: the
    installed API server's own service account (system:auth-delegator) does it."""
    admin("create", "serviceaccount", "reader", "-n", SHOP)
    admin("create", "rolebinding", "reader-view", "--clusterrole=view",
          "--serviceaccount=shop:reader", "-n", SHOP)  # fmt: skip
    token = admin("create", "token", "reader", "-n", SHOP).stdout.strip()
    via_apiserver = _token_kubeconfig(cluster, tmp_path / "sa", token)
    assert "items" in via_apiserver.json("get", "manifests", "-n", SHOP)
    direct = direct_kubeconfig(cluster, tmp_path / "sa", tmp_path / "direct")
    assert "items" in direct.json("get", "manifests", "-n", SHOP)
    with pytest.raises(
        HarnessError, match='User "system:serviceaccount:shop:reader" cannot delete'
    ):
        direct("delete", "manifest", "anything", "-n", SHOP)
