"""Issue 20.8: `kubectl patch --type strategic` on a Manifest of a built-in kind merges
lists inside spec.object by the Kubernetes patch merge keys; a merge patch stays RFC 7386
(a list is replaced)."""

from __future__ import annotations

import yaml

from kube import strategic
from tests.apiserver.harness import Server

DEPLOYMENT = """\
apiVersion: gitplane.io/v1alpha1
kind: Manifest
metadata: {name: deployment.web, namespace: shop}
spec:
  object:
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, namespace: shop}
    spec:
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
          - name: web
            image: nginx:1.27
            ports: [{containerPort: 80}]
          - name: sidecar
            image: busybox:1.36
"""
FILE = "shop/deployment-web.yaml"


def _containers(api: Server) -> list[dict[str, object]]:
    declared = yaml.safe_load(api.git("show", f"HEAD:{FILE}"))
    return declared["spec"]["template"]["spec"]["containers"]  # type: ignore[no-any-return]


async def test_strategic_patch_merges_containers_by_name(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=DEPLOYMENT)
    patch = '{"spec":{"object":{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.28"}]}}}}}}'
    result = await api.kubectl(
        "patch", "mf", "deployment.web", "-n", "shop", "--type", "strategic", "-p", patch
    )
    assert result.code == 0, result.err  # was 415
    assert _containers(api) == [
        {"name": "web", "image": "nginx:1.28", "ports": [{"containerPort": 80}]},
        {"name": "sidecar", "image": "busybox:1.36"},
    ]
    delete = '{"spec":{"object":{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}}}'
    await api.ok("patch", "mf", "deployment.web", "-n", "shop", "--type", "strategic", "-p", delete)
    assert [c["name"] for c in _containers(api)] == ["web"]


async def test_merge_patch_still_replaces_a_list(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=DEPLOYMENT)
    patch = '{"spec":{"object":{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.28"}]}}}}}}'
    await api.ok("patch", "mf", "deployment.web", "-n", "shop", "--type", "merge", "-p", patch)
    assert _containers(api) == [{"name": "web", "image": "nginx:1.28"}]


def test_directives_kubectl_sends() -> None:
    schema = strategic.kind_schema("apps/v1", "Deployment")
    original = {
        "metadata": {"finalizers": ["a"]},
        "spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}},
    }
    patch = {
        "metadata": {"finalizers": ["b"]},
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}, {"name": "c"}],
                    "containers": [{"name": "c", "image": "x"}],
                }
            }
        },
    }
    patched = strategic.apply(original, patch, schema)
    assert patched["metadata"]["finalizers"] == ["a", "b"]  # a set of primitives
    assert [c["name"] for c in patched["spec"]["template"]["spec"]["containers"]] == ["b", "a", "c"]
    dropped = strategic.apply(
        patched, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, schema
    )
    assert dropped["metadata"]["finalizers"] == ["b"]
    replaced = strategic.apply(original, {"spec": {"$patch": "replace", "replicas": 1}}, schema)
    assert replaced["spec"] == {"replicas": 1}
    assert strategic.apply({"x": [1, 2]}, {"x": [3]}, None) == {"x": [3]}  # no schema: replaced
