"""Issue 20.4-6 through the real front door: lightkube, the official client and kr8s with an
ordinary kubeconfig for kube-apiserver, gitplane.io reached through the aggregator's proxy
(tests/clients proves the same against `gitplane up`)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import kr8s
import kubernetes
import pytest
import yaml
from kr8s.objects import new_class
from lightkube import ApiError, Client, KubeConfig
from lightkube.generic_resource import create_namespaced_resource

from tests.controlplane.environment import ControlPlane
from tests.controlplane.kubectl import Kubectl
from tests.realcluster.conftest import create_namespace, manifest, raw_get

GROUP, VERSION, PLURAL = "gitplane.io", "v1alpha1", "manifests"
LightkubeManifest = create_namespaced_resource(GROUP, VERSION, "Manifest", PLURAL)
Kr8sManifest = new_class(
    "Manifest", f"{GROUP}/{VERSION}", namespaced=True, plural=PLURAL, asyncio=False
)
_namespaces = itertools.count(1)


@pytest.fixture
def namespace(admin: Kubectl) -> str:
    name = f"wire-{next(_namespaces)}"
    create_namespace(admin, name)
    return name


def _body(namespace: str, name: str) -> dict[str, Any]:
    return dict(yaml.safe_load(manifest(namespace, name, {"a": "1"})))


def test_errors_through_the_aggregator_are_exactly_application_json(
    cluster: ControlPlane, namespace: str
) -> None:
    """lightkube reads a Status only from an exact `application/json` (item 5): a 404 and
    a 409 are ApiErrors, as kube-apiserver passes gitplane's answers on."""
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/configmap.missing"
    code, headers, status = raw_get(cluster, path, "application/json")
    assert (code, headers["Content-Type"]) == (404, "application/json")  # was ; charset=utf-8
    assert status["reason"] == "NotFound"

    client = Client(config=KubeConfig.from_file(str(cluster.admin_kubeconfig)))
    with pytest.raises(ApiError) as raised:  # was httpx.HTTPStatusError
        client.get(LightkubeManifest, "configmap.missing", namespace=namespace)
    assert (raised.value.status.code, raised.value.status.reason) == (404, "NotFound")
    created = client.create(LightkubeManifest(_body(namespace, "settings")))
    assert created.metadata is not None and created.metadata.name == "configmap.settings"
    with pytest.raises(ApiError) as raised:
        client.create(LightkubeManifest(_body(namespace, "settings")))
    assert (raised.value.status.code, raised.value.status.reason) == (409, "AlreadyExists")


def test_official_client_gets_api_errors_and_no_bookmark_it_did_not_ask_for(
    cluster: ControlPlane, admin: Kubectl, namespace: str
) -> None:
    """The official client's Watch hands user code every event (item 4): from "" it gets
    the object, then the change, and no BOOKMARK (an event with no spec) between."""
    admin("apply", "-f", "-", input=manifest(namespace, "settings", {"a": "1"}))
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(
        config_file=str(cluster.admin_kubeconfig), client_configuration=configuration
    )
    with kubernetes.client.ApiClient(configuration) as api:
        custom = kubernetes.client.CustomObjectsApi(api)
        with pytest.raises(kubernetes.client.ApiException) as raised:
            custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, "configmap.missing"
            )
        assert raised.value.status == 404
        assert raised.value.headers is not None
        assert raised.value.headers["Content-Type"] == "application/json"
        assert json.loads(raised.value.body)["reason"] == "NotFound"

        watch = kubernetes.watch.Watch()
        seen: list[tuple[str, Any]] = []
        # timeout_seconds bounds the watch on the server, should the change never come.
        stream = watch.stream(custom.list_namespaced_custom_object, GROUP, VERSION, namespace,
                              PLURAL, timeout_seconds=30)  # fmt: skip
        for event in stream:
            data = event["object"].get("spec", {}).get("object", {}).get("data")
            seen.append((event["type"], data))
            if event["type"] == "ADDED":
                admin("patch", "manifest", "configmap.settings", "-n", namespace, "--type=merge",
                      "-p", json.dumps({"spec": {"object": {"data": {"a": "2"}}}}))  # fmt: skip
            elif event["type"] == "MODIFIED":
                watch.stop()
    assert seen == [("ADDED", {"a": "1"}), ("MODIFIED", {"a": "2"})]


@pytest.mark.filterwarnings("ignore:Kubernetes version v1.37.2 is not supported:UserWarning")
def test_kr8s_starts_reads_and_gets_server_errors_through_the_front_door(
    cluster: ControlPlane, admin: Kubectl, namespace: str
) -> None:
    """kr8s starts with `/version/` (item 6), which kube-apiserver serves itself, as it does
    `/api/` and `/apis/`; `/apis/gitplane.io/v1alpha1/` is gitplane's, through the proxy."""
    for path in ("/version/", "/api/", "/apis/", f"/apis/{GROUP}/{VERSION}/"):
        code, headers, _ = raw_get(cluster, path, "application/json")
        assert (code, headers["Content-Type"]) == (200, "application/json"), path
    api = kr8s.api(kubeconfig=str(cluster.admin_kubeconfig))
    assert api.version()["gitVersion"] == "v1.37.2"
    Kr8sManifest(_body(namespace, "settings"), api=api).create()
    found = list(api.get(f"{PLURAL}.{GROUP}", namespace=namespace))
    assert [obj.name for obj in found] == ["configmap.settings"]
    assert found[0].raw["spec"]["object"]["data"] == {"a": "1"}
    with pytest.raises(kr8s.ServerError) as raised:
        Kr8sManifest(_body(namespace, "settings"), api=api).create()
    assert raised.value.status is not None
    assert (raised.value.status["code"], raised.value.status["reason"]) == (409, "AlreadyExists")
