"""Identity headers are believed only from kube-apiserver's front-proxy certificate."""

from __future__ import annotations

import asyncio
import subprocess

from pki.authority import create_authority
from pki.issue import issue_client_certificate, issue_serving_certificate
from tests.cluster.conftest import FRONT_PROXY_CN, GV, Cluster, authentication_data, manifest

LIST = f"{GV}/namespaces/team-a/manifests"
ADMIN_HEADERS = [("X-Remote-User", "admin"), ("X-Remote-Group", "system:masters")]


async def test_the_front_proxy_names_the_user_groups_and_extra(cluster: Cluster) -> None:
    response = await cluster.as_proxy(
        "GET",
        LIST,
        "alice",
        ("devs", "a,b"),  # one header value with a comma: one group, never split
        extra={"Scopes%2Fread": ["v1", "v2"], "Reason": ["on call"]},
    )

    assert response.status == 200
    assert response.body["kind"] == "ManifestList"
    (spec,) = cluster.kube.reviews
    assert spec["user"] == "alice"
    assert spec["groups"] == ["devs", "a,b", "system:authenticated"]
    assert spec["extra"] == {"scopes/read": ["v1", "v2"], "reason": ["on call"]}
    assert "uid" not in spec  # X-Remote-Uid is only read when the ConfigMap names it
    assert spec["resourceAttributes"] == {
        "group": "gitplane.io",
        "namespace": "team-a",
        "resource": "manifests",
        "verb": "list",
        "version": "v1alpha1",
    }


async def test_writes_through_the_proxy_are_committed_as_the_user(cluster: Cluster) -> None:
    created = await cluster.as_proxy(
        "POST", LIST, "alice", ("devs",), body=manifest("team-a", "settings")
    )

    assert created.status == 201, created.body
    git = await asyncio.create_subprocess_exec(
        "git", "-C", cluster.store.path, "log", "-1", "--format=%B", stdout=subprocess.PIPE
    )
    log, _ = await git.communicate()
    assert "Gitplane-User: alice" in log.decode()


async def test_headers_without_a_certificate_are_ignored(cluster: Cluster) -> None:
    response = await cluster.call("GET", LIST, headers=ADMIN_HEADERS)

    assert response.status == 401
    assert response.body["reason"] == "Unauthorized"
    assert cluster.kube.reviews == []


async def test_headers_with_a_users_client_certificate_are_ignored(cluster: Cluster) -> None:
    bob = cluster.client("bob", ("team-a-editors",))

    response = await cluster.call("GET", LIST, cert=bob, headers=ADMIN_HEADERS)

    assert response.status == 200
    assert cluster.users_reviewed() == ["bob"]
    assert cluster.kube.reviews[0]["groups"] == ["team-a-editors", "system:authenticated"]


async def test_the_proxys_name_from_the_client_ca_is_just_a_user(cluster: Cluster) -> None:
    impostor = issue_client_certificate(cluster.pki.client_ca, FRONT_PROXY_CN)

    response = await cluster.call("GET", LIST, cert=impostor, headers=ADMIN_HEADERS)

    assert response.status == 200
    assert cluster.users_reviewed() == [FRONT_PROXY_CN]


async def test_a_certificate_from_another_ca_gets_nothing(cluster: Cluster) -> None:
    attacker = issue_client_certificate(create_authority("front-proxy-ca"), FRONT_PROXY_CN)

    outcome = await cluster.outcome("GET", LIST, cert=attacker, headers=ADMIN_HEADERS)

    assert outcome in ("refused", 401)  # the handshake already refuses an unknown CA
    assert cluster.kube.reviews == []


async def test_a_proxy_ca_certificate_with_another_name_gets_nothing(cluster: Cluster) -> None:
    other = issue_client_certificate(cluster.pki.front_proxy_ca, "mallory")

    response = await cluster.call("GET", LIST, cert=other, headers=ADMIN_HEADERS)

    assert response.status == 401
    assert cluster.kube.reviews == []


async def test_a_proxy_ca_certificate_without_client_auth_gets_nothing(cluster: Cluster) -> None:
    serving_only = issue_serving_certificate(
        cluster.pki.front_proxy_ca, ["front-proxy"], common_name=FRONT_PROXY_CN
    )

    outcome = await cluster.outcome("GET", LIST, cert=serving_only, headers=ADMIN_HEADERS)

    assert outcome in ("refused", 401)
    assert cluster.kube.reviews == []


async def test_the_proxy_certificate_without_a_user_header_is_not_a_user(cluster: Cluster) -> None:
    response = await cluster.call(
        "GET", LIST, cert=cluster.pki.front_proxy, headers=[("X-Remote-Group", "system:masters")]
    )

    assert response.status == 401


async def test_uid_headers_are_read_when_the_config_map_names_them(cluster: Cluster) -> None:
    data = {**authentication_data(cluster.pki), "requestheader-uid-headers": '["X-Remote-Uid"]'}
    cluster.kube.update_config_map(data)
    assert await cluster.auth.source.wait_for(lambda c: c.uid_headers == ("X-Remote-Uid",), 5)

    response = await cluster.call(
        "GET",
        LIST,
        cert=cluster.pki.front_proxy,
        headers=[("X-Remote-User", "alice"), ("X-Remote-Uid", "a1b2")],
    )

    assert response.status == 200
    assert cluster.kube.reviews[0]["uid"] == "a1b2"
