"""What the cluster sees when gitplane's API server goes away and comes back, and namespace
deletion by kube-controller-manager's namespace controller while gitplane is up."""

from __future__ import annotations

from tests.controlplane.environment import ControlPlane
from tests.controlplane.kubectl import Kubectl
from tests.realcluster.conftest import create_namespace, eventually, log_of, manifest


def test_stopped_api_server_makes_the_apiservice_unavailable_and_a_restart_recovers(
    cluster: ControlPlane, admin: Kubectl
) -> None:
    cluster.stop_pod("gitplane-apiserver")
    try:
        down = cluster.wait_available(90, available=False)
        assert down["reason"] in ("FailedDiscoveryCheck", "MissingEndpoints", "ServiceNotFound")
        assert "connection refused" in down["message"]
        listed = admin("get", "apiservice", "v1alpha1.gitplane.io").stdout
        assert "False (FailedDiscoveryCheck)" in listed
        # Either kubectl still has the resource from its discovery cache and gets the
        # aggregator's 503, or fresh discovery leaves the group out.
        refused = admin("get", "manifests", "-n", "shop", check=False)
        assert refused.returncode != 0
        assert (
            "the server is currently unable to handle the request" in refused.stderr
            or 'the server doesn\'t have a resource type "manifests"' in refused.stderr
        ), refused.stderr
        raw = admin(
            "get", "--raw", "/apis/gitplane.io/v1alpha1/namespaces/shop/manifests", check=False
        )
        assert "the server is currently unable to handle the request" in raw.stderr
    finally:
        cluster.start_pod("gitplane-apiserver")
    up = cluster.apiservice_condition()
    assert up is not None and up["reason"] == "Passed"
    assert "items" in admin.json("get", "manifests", "-n", "shop")


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
