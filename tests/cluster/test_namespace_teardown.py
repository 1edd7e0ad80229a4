"""Deleting a namespace in the cluster finishes, and its desired state stays in Git."""

from __future__ import annotations

from typing import Any

from apiserver.delegated.namespace_teardown import KUBE_CONTROLLER_MANAGER, NAMESPACE_CONTROLLER
from tests.cluster.conftest import GV, Cluster, manifest

CONTROLLER_GROUPS = (
    "system:serviceaccounts",
    "system:serviceaccounts:kube-system",
    "system:authenticated",
)
METADATA_LIST = (
    "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,"
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
)


async def seed(cluster: Cluster) -> list[str]:
    names = []
    for name in ("settings", "flags"):
        created = await cluster.as_proxy(
            "POST", f"{GV}/namespaces/team-a/manifests", "alice", body=manifest("team-a", name)
        )
        assert created.status == 201, created.body
        names.append(created.body["metadata"]["name"])
    return names


async def delete_all_content(cluster: Cluster, namespace: str, user: str) -> dict[str, Any]:
    """What namespaced_resources_deleter.deleteAllContent sends, resource by resource."""

    async def call(method: str, path: str, accept: str | None = None) -> Any:
        return await cluster.as_proxy(method, path, user, CONTROLLER_GROUPS, accept=accept)

    discovery = await call("GET", GV)
    assert discovery.status == 200
    remaining: dict[str, Any] = {}
    for resource in discovery.body["resources"]:
        verbs = set(resource["verbs"])
        if "/" in resource["name"] or not resource["namespaced"] or "delete" not in verbs:
            continue
        collection = f"{GV}/namespaces/{namespace}/{resource['name']}"
        if "deletecollection" in verbs:
            assert (await call("DELETE", collection)).status in (200, 404, 405)
        else:
            listed = await call("GET", collection, METADATA_LIST)
            assert listed.status == 200, listed.body
            for item in listed.body["items"]:
                deleted = await call("DELETE", f"{collection}/{item['metadata']['name']}")
                assert deleted.status in (200, 404, 405), deleted.body
        verify = await call("GET", collection, METADATA_LIST)
        assert verify.status == 200
        assert verify.body["kind"] == "PartialObjectMetadataList"
        remaining[resource["name"]] = verify.body["items"]
    return remaining


async def test_the_namespace_controller_finds_nothing_to_delete(cluster: Cluster) -> None:
    names = await seed(cluster)
    head = cluster.store.head.commit_id

    remaining = await delete_all_content(cluster, "team-a", NAMESPACE_CONTROLLER)

    assert remaining == {"manifests": []}  # the namespace can finish terminating
    assert cluster.store.head.commit_id == head  # and Git was not touched
    listed = await cluster.as_proxy("GET", f"{GV}/namespaces/team-a/manifests", "alice")
    assert sorted(item["metadata"]["name"] for item in listed.body["items"]) == sorted(names)
    # it was authorized like anyone else
    verbs = {
        spec["resourceAttributes"]["verb"]
        for spec in cluster.kube.reviews
        if spec["user"] == NAMESPACE_CONTROLLER and "resourceAttributes" in spec
    }
    assert verbs == {"list"}


async def test_the_empty_list_keeps_the_format_and_version_asked_for(cluster: Cluster) -> None:
    await seed(cluster)

    plain = await cluster.as_proxy(
        "GET", f"{GV}/namespaces/team-a/manifests", NAMESPACE_CONTROLLER, CONTROLLER_GROUPS
    )
    table = await cluster.as_proxy(
        "GET",
        f"{GV}/namespaces/team-a/manifests",
        NAMESPACE_CONTROLLER,
        CONTROLLER_GROUPS,
        accept="application/json;as=Table;v=v1;g=meta.k8s.io",
    )

    assert plain.status == 200
    assert plain.body["kind"] == "ManifestList"
    assert plain.body["items"] == []
    assert plain.body["metadata"]["resourceVersion"]
    assert table.body["kind"] == "Table"
    assert table.body["rows"] == []


async def test_deletes_by_the_controllers_never_reach_git(cluster: Cluster) -> None:
    names = await seed(cluster)
    head = cluster.store.head.commit_id

    for user in (NAMESPACE_CONTROLLER, KUBE_CONTROLLER_MANAGER):
        item = await cluster.as_proxy(
            "DELETE", f"{GV}/namespaces/team-a/manifests/{names[0]}", user, CONTROLLER_GROUPS
        )
        assert item.status == 405
        assert item.body["reason"] == "MethodNotAllowed"  # the deleter's "not supported"

    assert cluster.store.head.commit_id == head


async def test_garbage_collector_and_quota_lists_still_see_manifests(cluster: Cluster) -> None:
    names = await seed(cluster)

    listed = await cluster.as_proxy(
        "GET",
        f"{GV}/namespaces/team-a/manifests",
        KUBE_CONTROLLER_MANAGER,
        ("system:authenticated",),
        accept=METADATA_LIST,
    )

    assert listed.status == 200
    assert sorted(item["metadata"]["name"] for item in listed.body["items"]) == sorted(names)


async def test_everyone_else_still_deletes(cluster: Cluster) -> None:
    names = await seed(cluster)

    deleted = await cluster.as_proxy(
        "DELETE", f"{GV}/namespaces/team-a/manifests/{names[0]}", "alice"
    )

    assert deleted.status == 200
    listed = await cluster.as_proxy("GET", f"{GV}/namespaces/team-a/manifests", "alice")
    assert [item["metadata"]["name"] for item in listed.body["items"]] == [names[1]]
