"""Issue 20, items 3-6 and 9, each with the client that found it: lightkube reads errors only
from an exact `application/json`; kr8s starts with `/version/`; the official client and
kubernetes-asyncio hand user code every event a watch sends, and follow kube-apiserver's
selector and future-version semantics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import kr8s.asyncio
import kubernetes
import kubernetes_asyncio
import pytest
from kubernetes_asyncio.watch import Watch as AsyncWatch
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.generic_resource import create_namespaced_resource

from tests.apiserver.harness import Server
from tests.clients.wire import GROUP, PLURAL, VERSION, as_stdin, configmap_manifest

Manifest = create_namespaced_resource(GROUP, VERSION, "Manifest", PLURAL)


async def test_lightkube_gets_a_404_as_an_api_error(api: Server) -> None:
    client = AsyncClient(config=KubeConfig.from_file(str(api.kubeconfig)))
    try:
        with pytest.raises(ApiError) as raised:  # was httpx.HTTPStatusError: a charset
            await client.get(Manifest, "configmap.missing", namespace="shop")
        assert raised.value.status.code == 404
        assert raised.value.status.reason == "NotFound"
    finally:
        await client.close()


async def test_lightkube_creates_and_reads_a_manifest(api: Server) -> None:
    client = AsyncClient(config=KubeConfig.from_file(str(api.kubeconfig)))
    try:
        created = await client.create(Manifest(configmap_manifest("settings", {"mode": "on"})))
        assert created.metadata.name == "configmap.settings"
        with pytest.raises(ApiError) as raised:
            await client.create(Manifest(configmap_manifest("settings", {"mode": "on"})))
        assert raised.value.status.code == 409
    finally:
        await client.close()


async def test_kr8s_starts_and_reads_the_version(api: Server) -> None:
    client = await kr8s.asyncio.api(kubeconfig=str(api.kubeconfig))
    version = await client.version()  # GET /version/ (was 404)
    assert version["major"] and version["gitVersion"]
    assert await client.whoami()


def _official_client(api: Server) -> kubernetes.client.ApiClient:
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(
        config_file=str(api.kubeconfig), client_configuration=configuration
    )
    return kubernetes.client.ApiClient(configuration)


def _events(api: Server, seconds: int, **kwargs: Any) -> list[dict[str, Any]]:
    """Every event the official client's Watch hands user code for `seconds`."""
    with _official_client(api) as client:
        custom = kubernetes.client.CustomObjectsApi(client)
        watch = kubernetes.watch.Watch()
        return list(
            watch.stream(
                custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                "shop",
                PLURAL,
                timeout_seconds=seconds,
                **kwargs,
            )
        )


async def test_official_client_watch_gets_no_bookmark_it_did_not_ask_for(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=as_stdin(configmap_manifest("settings", {"a": "1"})))
    events = await asyncio.to_thread(_events, api, 1)
    assert [e["type"] for e in events] == ["ADDED"]  # was ADDED, then a BOOKMARK with no spec
    assert events[0]["object"]["spec"]["object"]["data"] == {"a": "1"}


async def test_kubectl_get_name_watch_prints_no_unknown_row(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=as_stdin(configmap_manifest("settings", {"a": "1"})))
    result = await api.kubectl(
        "get", "mf", "configmap.settings", "-n", "shop", "-w", "--request-timeout=2s"
    )
    rows = [line.split() for line in result.out.splitlines()[1:]]
    assert [row[0] for row in rows] == ["configmap.settings"], result.out  # no `<unknown>`


def _relabel(api: Server, name: str, tier: str | None) -> None:
    with _official_client(api) as client:
        labels = {"tier": tier} if tier else {"tier": None}
        kubernetes.client.CustomObjectsApi(client).patch_namespaced_custom_object(
            GROUP,
            VERSION,
            "shop",
            PLURAL,
            f"configmap.{name}",
            {"spec": {"object": {"metadata": {"labels": labels}}}},
        )


async def test_official_client_selector_watch_sees_objects_leave_and_enter(api: Server) -> None:
    manifest = configmap_manifest("settings", {"a": "1"}, labels={"tier": "web"})
    await api.ok("apply", "-f", "-", stdin=as_stdin(manifest))
    listed = (
        await api.ok("get", "--raw", f"/apis/{GROUP}/{VERSION}/namespaces/shop/{PLURAL}")
    ).json()
    rv = listed["metadata"]["resourceVersion"]
    watching = asyncio.create_task(
        asyncio.to_thread(_events, api, 4, label_selector="tier=web", resource_version=rv)
    )
    await asyncio.sleep(0.5)
    await asyncio.to_thread(_relabel, api, "settings", "db")  # leaves the selection
    await asyncio.to_thread(_relabel, api, "settings", "web")  # enters it again
    events = await watching
    seen = [(e["type"], e["object"]["metadata"].get("labels")) for e in events]
    assert seen == [("DELETED", {"tier": "web"}), ("ADDED", {"tier": "web"})], seen


async def test_kubernetes_asyncio_future_version_waits_then_times_out(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=as_stdin(configmap_manifest("settings", {"a": "1"})))
    listed = (
        await api.ok("get", "--raw", f"/apis/{GROUP}/{VERSION}/namespaces/shop/{PLURAL}")
    ).json()
    future = str(int(listed["metadata"]["resourceVersion"]) * 10)
    configuration = kubernetes_asyncio.client.Configuration()
    await kubernetes_asyncio.config.load_kube_config(
        config_file=str(api.kubeconfig), client_configuration=configuration
    )
    async with kubernetes_asyncio.client.ApiClient(configuration) as client:
        custom = kubernetes_asyncio.client.CustomObjectsApi(client)
        started = time.monotonic()
        with pytest.raises(kubernetes_asyncio.client.ApiException) as raised:
            async with AsyncWatch().stream(
                custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                "shop",
                PLURAL,
                resource_version=future,
                timeout_seconds=10,
            ) as stream:
                async for _ in stream:
                    pass
        waited = time.monotonic() - started
    assert raised.value.status == 504, raised.value  # was 410 Expired, at once
    assert "Too large resource version" in str(raised.value.reason)
    assert 2.5 < waited < 9
