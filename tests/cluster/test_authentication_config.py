"""The authentication ConfigMap: parsed as kube-apiserver writes it, followed by a watch."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from apiserver.cluster import ClusterConfig, make_cluster_app
from apiserver.delegated.authentication_config import ConfigMapError, parse_config_map
from pki.authority import create_authority
from pki.issue import issue_client_certificate
from store.aio import AsyncStore
from store.repo import GitStore
from tests.cluster.conftest import (
    FRONT_PROXY_CN,
    GV,
    Cluster,
    Pki,
    authentication_data,
    start_cluster,
)
from tests.cluster.kube_double import KubeDouble

LIST = f"{GV}/namespaces/team-a/manifests"


def test_the_config_map_kube_apiserver_writes(pki: Pki) -> None:
    config = parse_config_map(authentication_data(pki), "42")

    assert config.client_cas == (pki.client_ca.certificate,)
    assert config.requestheader_cas == (pki.front_proxy_ca.certificate,)
    assert config.username_headers == ("X-Remote-User",)
    assert config.group_headers == ("X-Remote-Group",)
    assert config.extra_header_prefixes == ("X-Remote-Extra-",)
    assert config.allowed_names == (FRONT_PROXY_CN,)
    assert config.uid_headers == ()
    assert config.resource_version == "42"
    bundle = config.trusted_pem()
    assert pki.client_ca.cert_pem in bundle
    assert pki.front_proxy_ca.cert_pem in bundle


def test_a_cluster_without_front_proxy_settings(pki: Pki) -> None:
    config = parse_config_map({"client-ca-file": pki.client_ca.cert_pem.decode()})

    assert config.requestheader_cas == ()
    assert config.username_headers == ()
    assert config.allowed_names == ()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("requestheader-allowed-names", "front-proxy-client"),
        ("requestheader-username-headers", '{"a": 1}'),
        ("requestheader-group-headers", "[1, 2]"),
        ("client-ca-file", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"),
    ],
)
def test_malformed_values_are_refused(pki: Pki, key: str, value: str) -> None:
    with pytest.raises(ConfigMapError, match=key):
        parse_config_map({**authentication_data(pki), key: value})


async def test_a_rotated_front_proxy_ca_is_picked_up_by_the_watch(cluster: Cluster) -> None:
    new_ca = create_authority("front-proxy-ca")
    new_proxy = issue_client_certificate(new_ca, FRONT_PROXY_CN)
    old_proxy = cluster.pki.front_proxy
    headers = [("X-Remote-User", "alice")]
    assert await cluster.outcome("GET", LIST, cert=new_proxy, headers=headers) in ("refused", 401)

    cluster.kube.update_config_map(authentication_data(cluster.pki, front_proxy_ca=new_ca))
    assert await cluster.auth.source.wait_for(
        lambda c: c.requestheader_cas == (new_ca.certificate,), 5
    )

    response = await cluster.call("GET", LIST, cert=new_proxy, headers=headers)
    assert response.status == 200
    assert cluster.users_reviewed() == ["alice"]
    assert await cluster.outcome("GET", LIST, cert=old_proxy, headers=headers) in ("refused", 401)
    assert cluster.kube.calls["configmaps.list"] == 1  # one list, then the watch did it


async def test_empty_allowed_names_accept_any_proxy_name(cluster: Cluster) -> None:
    other = issue_client_certificate(cluster.pki.front_proxy_ca, "aggregator-proxy")
    headers = [("X-Remote-User", "alice")]
    assert (await cluster.call("GET", LIST, cert=other, headers=headers)).status == 401

    cluster.kube.update_config_map(authentication_data(cluster.pki, allowed_names=[]))
    assert await cluster.auth.source.wait_for(lambda c: c.allowed_names == (), 5)

    assert (await cluster.call("GET", LIST, cert=other, headers=headers)).status == 200


async def test_an_expired_watch_lists_again(cluster: Cluster) -> None:
    cluster.kube.expire_watches()
    for _ in range(100):
        if cluster.kube.calls["configmaps.list"] == 2 and cluster.kube.open_watches():
            break
        await asyncio.sleep(0.05)
    assert cluster.kube.calls["configmaps.list"] == 2

    version = cluster.kube.update_config_map(
        {**authentication_data(cluster.pki), "requestheader-group-headers": '["X-Groups"]'}
    )
    assert await cluster.auth.source.wait_for(lambda c: c.resource_version == version, 5)
    assert cluster.auth.source.current is not None
    assert cluster.auth.source.current.group_headers == ("X-Groups",)


async def test_a_broken_update_keeps_the_last_good_configuration(cluster: Cluster) -> None:
    good = cluster.kube.update_config_map(
        {**authentication_data(cluster.pki), "requestheader-extra-headers-prefix": "[]"}
    )
    assert await cluster.auth.source.wait_for(lambda c: c.resource_version == good, 5)

    cluster.kube.update_config_map(
        {**authentication_data(cluster.pki), "requestheader-username-headers": "X-Remote-User"}
    )
    fixed = cluster.kube.update_config_map(authentication_data(cluster.pki))
    assert await cluster.auth.source.wait_for(lambda c: c.resource_version == fixed, 5)

    cluster.kube.update_config_map(
        {**authentication_data(cluster.pki), "requestheader-username-headers": "not json"}
    )
    await asyncio.sleep(0.2)
    current = cluster.auth.source.current
    assert current is not None
    assert current.resource_version == fixed
    assert current.username_headers == ("X-Remote-User",)
    response = await cluster.as_proxy("GET", LIST, "alice")
    assert response.status == 200
    assert cluster.users_reviewed() == ["alice"]


async def test_start_up_fails_when_the_config_map_cannot_be_read(tmp_path: Path, pki: Pki) -> None:
    kube = KubeDouble(config_map_data=authentication_data(pki))
    kube_runner, url = await kube.serve(tmp_path)
    kubeconfig = kube.kubeconfig(url, tmp_path / "kubeconfig")
    kube.service_account_token = "not-ours"  # e.g. the RoleBinding is missing: 401/403
    store = AsyncStore(GitStore.init(tmp_path / "repo"))
    app = make_cluster_app(store, ClusterConfig(kubeconfig=str(kubeconfig), startup_timeout=0.5))
    runner = web.AppRunner(app)
    try:
        with pytest.raises(RuntimeError, match="extension-apiserver-authentication-reader"):
            await runner.setup()
    finally:
        await store.close()
        await kube_runner.cleanup()


async def test_without_the_config_map_only_tokens_authenticate(tmp_path: Path, pki: Pki) -> None:
    kube = KubeDouble(config_map_data=None)
    kube.tokens["t"] = {"username": "carol", "groups": ["system:authenticated"]}
    cluster, runners = await start_cluster(tmp_path, pki, kube)
    try:
        by_proxy = await cluster.outcome(
            "GET", LIST, cert=pki.front_proxy, headers=[("X-Remote-User", "alice")]
        )
        by_token = await cluster.call("GET", LIST, token="t")
        assert by_proxy in ("refused", 401)
        assert by_token.status == 200
        assert cluster.users_reviewed() == ["carol"]
    finally:
        kube.close_watches()
        for runner in runners:
            await runner.cleanup()
