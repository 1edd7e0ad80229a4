"""Every request is authorized by SubjectAccessReview; denials read as kube-apiserver's."""

from __future__ import annotations

from typing import Any

from tests.cluster.conftest import GV, Cluster, manifest

LIST = f"{GV}/namespaces/team-a/manifests"


def deny_all(reason: str = "") -> Any:
    return lambda spec: (False, reason)


async def test_a_denied_list_is_kube_apiservers_403(cluster: Cluster) -> None:
    cluster.kube.policy = deny_all()

    response = await cluster.call("GET", LIST, cert=cluster.client("bob"))

    assert response.status == 403
    assert response.body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'manifests.gitplane.io is forbidden: User "bob" cannot list resource'
        ' "manifests" in API group "gitplane.io" in the namespace "team-a"',
        "reason": "Forbidden",
        "details": {"group": "gitplane.io", "kind": "manifests"},
        "code": 403,
    }


async def test_a_denied_get_names_the_object_and_the_reason(cluster: Cluster) -> None:
    cluster.kube.policy = deny_all("no RBAC policy matched")

    response = await cluster.call(
        "GET", f"{GV}/clustermanifests/namespace.team-a", cert=cluster.client("bob")
    )

    assert response.status == 403
    assert response.body["message"] == (
        'clustermanifests.gitplane.io "namespace.team-a" is forbidden: User "bob" cannot get'
        ' resource "clustermanifests" in API group "gitplane.io" at the cluster scope:'
        " no RBAC policy matched"
    )
    assert response.body["details"] == {
        "name": "namespace.team-a",
        "group": "gitplane.io",
        "kind": "clustermanifests",
    }
    assert cluster.kube.reviews[0]["resourceAttributes"] == {
        "group": "gitplane.io",
        "name": "namespace.team-a",
        "resource": "clustermanifests",
        "verb": "get",
        "version": "v1alpha1",
    }


async def test_a_denied_write_never_reaches_git(cluster: Cluster) -> None:
    head = cluster.store.head.commit_id
    cluster.kube.policy = deny_all()

    response = await cluster.call(
        "POST", LIST, cert=cluster.client("bob"), body=manifest("team-a", "settings")
    )

    assert response.status == 403
    assert 'cannot create resource "manifests"' in response.body["message"]
    assert cluster.store.head.commit_id == head


async def test_a_denied_non_resource_path(cluster: Cluster) -> None:
    cluster.kube.policy = deny_all()

    response = await cluster.call("GET", "/openapi/v3", cert=cluster.client("bob"))

    assert response.status == 403
    assert response.body["message"] == 'forbidden: User "bob" cannot get path "/openapi/v3"'
    assert cluster.kube.reviews[0]["nonResourceAttributes"] == {
        "path": "/openapi/v3",
        "verb": "get",
    }


async def test_the_aggregators_discovery_goes_through_system_discovery(cluster: Cluster) -> None:
    def system_discovery(spec: dict[str, Any]) -> tuple[bool, str]:
        allowed = "nonResourceAttributes" in spec and "system:authenticated" in spec["groups"]
        return allowed, ""

    cluster.kube.policy = system_discovery

    discovery = await cluster.as_proxy("GET", GV, "system:aggregator")
    openapi = await cluster.as_proxy("GET", "/openapi/v3", "system:aggregator")

    assert (discovery.status, openapi.status) == (200, 200)
    assert discovery.body["groupVersion"] == "gitplane.io/v1alpha1"
    assert [spec["nonResourceAttributes"] for spec in cluster.kube.reviews] == [
        {"path": GV, "verb": "get"},
        {"path": "/openapi/v3", "verb": "get"},
    ]


async def test_system_masters_are_not_reviewed(cluster: Cluster) -> None:
    cluster.kube.policy = deny_all()

    response = await cluster.as_proxy(
        "GET", GV, "system:kube-aggregator", ("system:masters", "system:authenticated")
    )

    assert response.status == 200
    assert cluster.kube.calls["subjectaccessreviews"] == 0


async def test_health_probes_need_no_credentials(cluster: Cluster) -> None:
    cluster.kube.policy = deny_all()

    for path in ("/healthz", "/livez", "/readyz"):
        assert (await cluster.call("GET", path)).status == 200, path
    assert cluster.kube.calls["subjectaccessreviews"] == 0
    assert cluster.kube.calls["tokenreviews"] == 0


async def test_allowed_and_denied_answers_are_cached_separately(cluster: Cluster) -> None:
    bob = cluster.client("bob")
    revisions = f"{GV}/namespaces/team-a/revisions"

    assert (await cluster.call("GET", LIST, cert=bob)).status == 200
    cluster.kube.policy = deny_all()
    assert (await cluster.call("GET", LIST, cert=bob)).status == 200  # allowed, cached
    assert cluster.kube.calls["subjectaccessreviews"] == 1

    assert (await cluster.call("GET", revisions, cert=bob)).status == 403
    cluster.kube.policy = lambda spec: (True, "")
    assert (await cluster.call("GET", revisions, cert=bob)).status == 403  # denied, cached
    assert cluster.kube.calls["subjectaccessreviews"] == 2

    # Another user, verb or namespace is another question.
    assert (await cluster.call("GET", LIST, cert=cluster.client("carol"))).status == 200
    assert (await cluster.call("GET", f"{GV}/namespaces/b/manifests", cert=bob)).status == 200
    assert cluster.kube.calls["subjectaccessreviews"] == 4


async def test_a_review_that_fails_is_a_500_not_an_allow(cluster: Cluster) -> None:
    cluster.kube.sar_failure = 500

    response = await cluster.call("GET", LIST, cert=cluster.client("bob"))

    assert response.status == 500
    assert response.body["reason"] == "InternalError"
    assert response.body["message"].startswith("Internal error occurred: authorization failed")

    cluster.kube.sar_failure = None
    assert (await cluster.call("GET", LIST, cert=cluster.client("bob"))).status == 200


async def test_watches_and_deletes_are_reviewed_with_their_verbs(cluster: Cluster) -> None:
    bob = cluster.client("bob")
    created = await cluster.call("POST", LIST, cert=bob, body=manifest("team-a", "settings"))
    assert created.status == 201
    name = created.body["metadata"]["name"]

    watch = await cluster.call("GET", f"{LIST}?watch=true&timeoutSeconds=1", cert=bob)
    by_name = await cluster.call("GET", f"{LIST}?fieldSelector=metadata.name%3D{name}", cert=bob)
    deleted = await cluster.call("DELETE", f"{LIST}/{name}", cert=bob)

    assert (watch.status, by_name.status, deleted.status) == (200, 200, 200)
    attributes = [spec["resourceAttributes"] for spec in cluster.kube.reviews]
    assert [(a["verb"], a.get("name")) for a in attributes] == [
        ("create", None),
        ("watch", None),
        ("list", name),
        ("delete", name),
    ]
