"""kube-apiserver's aggregation layer serves gitplane.io from the installed API server."""

from __future__ import annotations

from tests.controlplane.environment import ControlPlane
from tests.controlplane.kubectl import Kubectl
from tests.realcluster.conftest import eventually, raw_get

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def test_apiservice_is_available(cluster: ControlPlane, admin: Kubectl) -> None:
    apiservice = admin.json("get", "apiservice", "v1alpha1.gitplane.io")
    assert apiservice["spec"]["service"] == {
        "name": "gitplane-apiserver",
        "namespace": "gitplane-system",
        "port": cluster.gitplane_ports["gitplane-apiserver"],
    }
    assert apiservice["spec"]["caBundle"]  # verified TLS, never insecureSkipTLSVerify
    assert "insecureSkipTLSVerify" not in apiservice["spec"]
    (available,) = [c for c in apiservice["status"]["conditions"] if c["type"] == "Available"]
    assert (available["status"], available["reason"]) == ("True", "Passed")
    # It is reached through the Service, an ExternalName: no aggregator routing to endpoints.
    service = admin.json("get", "service", "gitplane-apiserver", "-n", "gitplane-system")
    assert (service["spec"]["type"], service["spec"]["externalName"]) == (
        "ExternalName",
        "localhost",
    )


def test_api_resources_lists_gitplane(admin: Kubectl) -> None:
    listed = admin("api-resources", "--api-group=gitplane.io", "-o", "wide").stdout
    rows = {line.split()[0]: line for line in listed.splitlines()[1:]}
    assert set(rows) == {
        "changesets", "clustermanifests", "manifests", "reverts", "revisions", "rollbacks",
        "sources",
    }  # fmt: skip
    assert "mf" in rows["manifests"].split()
    assert "watch" in rows["manifests"]
    names = admin("api-resources", "-o", "name").stdout.split()
    assert "manifests.gitplane.io" in names


def test_aggregated_discovery_has_the_group(cluster: ControlPlane) -> None:
    code, headers, body = raw_get(cluster, "/apis", AGGREGATED)
    assert code == 200
    assert headers["Content-Type"].startswith("application/json;g=apidiscovery.k8s.io;v=v2")
    (group,) = [g for g in body["items"] if g["metadata"]["name"] == "gitplane.io"]
    (version,) = group["versions"]
    assert version["version"] == "v1alpha1"
    assert version.get("freshness", "Current") == "Current"
    resources = {r["resource"]: r for r in version["resources"]}
    assert resources["manifests"]["scope"] == "Namespaced"
    assert resources["manifests"]["responseKind"] == {
        "group": "gitplane.io", "version": "v1alpha1", "kind": "Manifest"
    }  # fmt: skip
    assert resources["clustermanifests"]["scope"] == "Cluster"
    assert "watch" in resources["revisions"]["verbs"]


def _group_in_openapi_v3(cluster: ControlPlane) -> bool:
    code, _, paths = raw_get(cluster, "/openapi/v3", "application/json")
    return code == 200 and "apis/gitplane.io/v1alpha1" in paths["paths"]


def test_kubectl_explain_through_the_aggregator(cluster: ControlPlane, admin: Kubectl) -> None:
    # The aggregator's OpenAPI controller first tried while the pods were starting, and
    # retries with a backoff: on any cluster, explain works a little after Available.
    eventually(lambda: _group_in_openapi_v3(cluster), 90, "gitplane.io in /openapi/v3")
    explained = admin("explain", "manifests.spec").stdout
    assert "KIND:       Manifest" in explained
    assert "GROUP:      gitplane.io" in explained
    assert "Desired state declared in Git." in explained
    assert "object" in explained
    field = admin("explain", "manifests.spec.object").stdout
    assert "FIELD: object" in field


def test_openapi_v3_of_the_group_is_aggregated(cluster: ControlPlane) -> None:
    eventually(lambda: _group_in_openapi_v3(cluster), 90, "gitplane.io in /openapi/v3")
    code, _, document = raw_get(
        cluster, "/openapi/v3/apis/gitplane.io/v1alpha1", "application/json"
    )
    assert code == 200
    schemas = document["components"]["schemas"]
    manifest = next(
        s
        for s in schemas.values()
        if {"group": "gitplane.io", "version": "v1alpha1", "kind": "Manifest"}
        in s.get("x-kubernetes-group-version-kind", [])
    )
    assert "spec" in manifest["properties"]
