"""What the cluster sees when gitplane's API server goes away and comes back, and namespace
deletion by kube-controller-manager's namespace controller while gitplane is up."""

from __future__ import annotations

from tests.controlplane.environment import ControlPlane
from tests.controlplane.kubectl import Kubectl
from tests.realcluster.conftest import create_namespace, eventually, log_of, manifest


def test_stopped_api_server_makes_the_apiservice_unavailable_and_a_restart_recovers(
    cluster: ControlPlane, admin: Kubectl
) -> None:
    apiserver = cluster.pod("gitplane-apiserver")
    apiserver.stop()
    try:
        down = cluster.wait_available(90, available=False)
        assert down["reason"] in ("FailedDiscoveryCheck", "MissingEndpoints", "ServiceNotFound")
        assert "connection refused" in down["message"]
        listed = admin("get", "apiservice", "v1alpha1.gitplane.io").stdout
        assert "False (FailedDiscoveryCheck)" in listed
        # Aggregated discovery leaves the group out, so kubectl no longer knows the
        # resource; the path itself is kube-apiserver's 503.
        refused = admin("get", "manifests", "-n", "shop", check=False)
        assert refused.returncode != 0
        assert 'the server doesn\'t have a resource type "manifests"' in refused.stderr
        raw = admin(
            "get", "--raw", "/apis/gitplane.io/v1alpha1/namespaces/shop/manifests", check=False
        )
        assert "the server is currently unable to handle the request" in raw.stderr
    finally:
        apiserver.start()
    up = cluster.wait_available(90)
    assert up["reason"] == "Passed"
    # The proxy follows the APIService's status a moment later.
    eventually(lambda: admin("get", "manifests", "-n", "shop", check=False).returncode == 0, 30,
               "kubectl get manifests working again")  # fmt: skip


def test_namespace_deletion_completes_and_leaves_git_alone(
    cluster: ControlPlane, admin: Kubectl
) -> None:
    """The namespace controller discovers gitplane.io, lists and would delete Manifests;
    gitplane answers its identity with an empty list, so the namespace finishes
    terminating and the desired state in Git survives it."""
    create_namespace(admin, "doomed")
    admin("apply", "-f", "-", input=manifest("doomed", "keep-me", {"declared": "in git"}))
    admin("create", "configmap", "live-only", "-n", "doomed")
    admin("delete", "namespace", "doomed", "--wait=true", "--timeout=120s", timeout=150)
    eventually(lambda: admin.get("namespace", "doomed") is None, 30, "namespace doomed gone")
    still = admin.json("get", "manifest", "configmap.keep-me", "-n", "doomed")
    assert still["spec"]["object"]["data"] == {"declared": "in git"}
    assert "delete" not in log_of(cluster.repo, "-1", "--format=%s")
    logged = (cluster.directory / "logs" / "kube-controller-manager.log").read_text()
    assert "NamespaceDeletionDiscoveryFailure" not in logged
