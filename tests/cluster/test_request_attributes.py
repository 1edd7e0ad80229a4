"""What a request does, as kube-apiserver's RequestInfoFactory reads it; decision caching."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apiserver.cluster import kube_api_client
from apiserver.context import UserInfo
from apiserver.delegated.authenticate import bearer_token, extra_from_headers, unescape_extra_key
from apiserver.delegated.authorize import RequestAttributes, SubjectAccessReviewer
from apiserver.delegated.authorize import request_attributes as attributes
from apiserver.delegated.cache import ExpiringCache
from kube import status
from tests.cluster.kube_double import KubeDouble

GV = "/apis/gitplane.io/v1alpha1"


Summary = tuple[str, bool, str, str, str, str, str, str]


def resource(
    verb: str, resource: str, namespace: str = "", name: str = "", sub: str = ""
) -> Summary:
    return (verb, True, "gitplane.io", "v1alpha1", namespace, resource, sub, name)


def summary(a: RequestAttributes) -> Summary:
    return (
        a.verb,
        a.resource_request,
        a.api_group,
        a.api_version,
        a.namespace,
        a.resource,
        a.subresource,
        a.name,
    )


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", f"{GV}/namespaces/a/manifests", {}, resource("list", "manifests", "a")),
        ("GET", f"{GV}/manifests", {}, resource("list", "manifests")),
        ("GET", f"{GV}/manifests", {"watch": "true"}, resource("watch", "manifests")),
        ("GET", f"{GV}/manifests", {"watch": "1"}, resource("watch", "manifests")),
        ("GET", f"{GV}/manifests", {"watch": "false"}, resource("list", "manifests")),
        ("GET", f"{GV}/manifests", {"watch": ""}, resource("watch", "manifests")),
        (
            "GET",
            f"{GV}/namespaces/a/manifests",
            {"fieldSelector": "metadata.name=configmap.x"},
            resource("list", "manifests", "a", "configmap.x"),
        ),
        (
            "GET",
            f"{GV}/namespaces/a/manifests",
            {"watch": "true", "fieldSelector": "metadata.name=configmap.x,metadata.namespace=a"},
            resource("watch", "manifests", "a", "configmap.x"),
        ),
        (
            "GET",
            f"{GV}/namespaces/a/manifests",
            {"fieldSelector": "metadata.name!=configmap.x"},
            resource("list", "manifests", "a"),
        ),
        (
            "GET",
            f"{GV}/manifests",
            {"fieldSelector": "metadata.name=a%2Fb"},  # not a valid path segment
            resource("list", "manifests"),
        ),
        (
            "GET",
            f"{GV}/manifests",
            {"fieldSelector": "=broken=", "watch": "true"},
            resource("watch", "manifests"),
        ),
        ("HEAD", f"{GV}/namespaces/a/manifests/m", {}, resource("get", "manifests", "a", "m")),
        ("POST", f"{GV}/namespaces/a/reverts", {}, resource("create", "reverts", "a")),
        ("PUT", f"{GV}/namespaces/a/manifests/m", {}, resource("update", "manifests", "a", "m")),
        ("PATCH", f"{GV}/clustermanifests/m", {}, resource("patch", "clustermanifests", "", "m")),
        ("DELETE", f"{GV}/namespaces/a/manifests/m", {}, resource("delete", "manifests", "a", "m")),
        (
            "DELETE",
            f"{GV}/namespaces/a/manifests",
            {},
            resource("deletecollection", "manifests", "a"),
        ),
        (
            "PATCH",
            f"{GV}/namespaces/a/manifests/m/status",
            {},
            resource("patch", "manifests", "a", "m", "status"),
        ),
        ("GET", f"{GV}/watch/manifests", {}, resource("watch", "manifests")),
        ("GET", f"{GV}/namespaces/a", {}, resource("get", "namespaces", "a", "a")),
        ("GET", f"{GV}/namespaces", {}, resource("list", "namespaces")),
        ("GET", "/api/v1/namespaces/a/pods", {}, ("list", True, "", "v1", "a", "pods", "", "")),
    ],
)
def test_resource_requests(
    method: str, path: str, query: dict[str, Any], expected: Summary
) -> None:
    assert summary(attributes(method, path, query)) == expected


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/apis"),
        ("GET", "/apis/gitplane.io"),
        ("GET", GV),
        ("GET", "/api"),
        ("GET", "/api/v1"),
        ("GET", "/openapi/v3/apis/gitplane.io/v1alpha1"),
        ("GET", "/version"),
        ("POST", "/metrics"),
        ("GET", "/"),
    ],
)
def test_non_resource_requests(method: str, path: str) -> None:
    result = attributes(method, path, {})
    assert not result.resource_request
    assert (result.verb, result.path) == (method.lower(), path)


def test_a_special_verb_without_a_resource_is_a_bad_request() -> None:
    with pytest.raises(status.BadRequest):
        attributes("GET", f"{GV}/watch", {})


def test_extra_headers_as_upstream_decodes_them() -> None:
    from multidict import CIMultiDict

    headers = CIMultiDict(
        [
            ("X-Remote-Extra-Acme.com%2Fproject", "p1"),
            ("x-remote-extra-acme.com%2fproject", "p2"),
            ("X-Remote-Extra-Bad%zzKey", "v"),
            ("X-Remote-Extra-Empty", ""),
            ("X-Remote-User", "ignored"),
        ]
    )
    assert extra_from_headers(headers, ["X-Remote-Extra-"]) == {
        "acme.com/project": ("p1", "p2"),
        "bad%zzkey": ("v",),
        "empty": ("",),
    }
    assert unescape_extra_key("a%20b") == "a b"


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("Bearer abc extra", "abc"),
        ("Basic abc", ""),
        ("Bearer", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_bearer_tokens(header: str | None, token: str) -> None:
    assert bearer_token(header) == token


def test_expiring_cache_evicts_the_least_recently_used() -> None:
    now = [0.0]
    cache: ExpiringCache[str, int] = ExpiringCache(2, clock=lambda: now[0])
    cache.put("a", 1, 10)
    cache.put("b", 2, 10)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3, 10)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    now[0] = 10.0
    assert cache.get("a") is None
    assert len(cache) == 1
    cache.put("d", 4, 0)  # no time to live: not stored
    assert cache.get("d") is None


async def test_decisions_expire_after_their_own_time_to_live(tmp_path: Path) -> None:
    kube = KubeDouble()
    runner, url = await kube.serve(tmp_path)
    client = await kube_api_client(str(kube.kubeconfig(url, tmp_path / "kubeconfig")))
    now = [0.0]
    reviewer = SubjectAccessReviewer(lambda: client, allow_ttl=10, deny_ttl=2, clock=lambda: now[0])
    bob = UserInfo("bob", ("system:authenticated",), extra={"scopes": ("a",)})
    read = attributes("GET", f"{GV}/namespaces/a/manifests", {})
    write = attributes("POST", f"{GV}/namespaces/a/manifests", {})
    kube.policy = lambda spec: (spec["resourceAttributes"]["verb"] == "list", "")
    try:
        assert (await reviewer.authorize(bob, read)).allowed
        assert not (await reviewer.authorize(bob, write)).allowed
        assert kube.calls["subjectaccessreviews"] == 2

        now[0] = 3.0  # the denial expired, the allow did not
        await reviewer.authorize(bob, read)
        await reviewer.authorize(bob, write)
        assert kube.calls["subjectaccessreviews"] == 3

        now[0] = 11.0
        await reviewer.authorize(bob, read)
        assert kube.calls["subjectaccessreviews"] == 4
        assert kube.reviews[0]["extra"] == {"scopes": ["a"]}
    finally:
        await client.close()
        await runner.cleanup()
