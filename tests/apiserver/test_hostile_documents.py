"""Documents built to freeze or confuse the server, through the real API server and kubectl:
an alias bomb, non-finite numbers, a List posing as one object, an object in the wrong
scope. Each is refused with a Status (or reported, when pushed from outside), nothing is
committed, and the rest of the namespace keeps being served."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from tests.apiserver.harness import Server
from tests.store.conftest import run_git
from tests.store.test_loader import laughs

CONFIGMAP = """\
apiVersion: gitplane.io/v1alpha1
kind: Manifest
metadata: {name: configmap.settings, namespace: shop}
spec:
  object:
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: settings, namespace: shop}
    data: {mode: "on"}
"""


def bomb_manifest() -> str:
    """A 1 KB Manifest of a kind no schema checks, whose spec is 9**9 strings expanded."""
    data = laughs(9).split("data:\n", 1)[1]
    return (
        "apiVersion: gitplane.io/v1alpha1\nkind: Manifest\n"
        "metadata: {name: widget.bomb, namespace: shop}\nspec:\n  object:\n"
        "    apiVersion: example.com/v1\n    kind: Widget\n"
        "    metadata: {name: bomb, namespace: shop}\n"
        "    spec:\n" + "".join(f"    {line}\n" for line in data.splitlines())
    )


def head(api: Server) -> str:
    return api.git("rev-parse", "HEAD").strip()


async def test_a_posted_alias_bomb_is_a_400_and_the_server_keeps_answering(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    before = head(api)
    context = api.client_context("alice", ("devs",))
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def post() -> tuple[int, dict[str, object]]:
            async with session.post(
                f"{api.url}/apis/gitplane.io/v1alpha1/namespaces/shop/manifests",
                data=bomb_manifest().encode(),
                headers={"Content-Type": "application/yaml"},
                ssl=context,
            ) as response:
                return response.status, await response.json()

        async def ready() -> str:
            async with session.get(f"{api.url}/readyz", ssl=context) as response:
                return await response.text()

        (code, body), answered = await asyncio.gather(post(), ready())
    assert answered.strip() == "ok"
    assert (code, body["reason"]) == (400, "BadRequest")
    assert "document contains excessive aliasing" in str(body["message"])
    assert head(api) == before


async def test_an_alias_bomb_pushed_from_outside_is_reported_not_expanded(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    (api.repo / "shop" / "bomb.yaml").write_text(laughs(9))
    run_git(api.repo, "add", "-A")
    run_git(api.repo, "commit", "-qm", "a bomb from outside")
    api.store.refresh()
    (problem,) = api.store.problems()
    assert (problem.path, problem.message) == (
        "shop/bomb.yaml",
        "invalid YAML: document contains excessive aliasing",
    )
    listed = await api.ok("get", "mf", "-n", "shop", "-o", "json", "--request-timeout=10s")
    assert [i["metadata"]["name"] for i in json.loads(listed.out)["items"]] == [
        "configmap.settings"
    ]


async def test_non_finite_numbers_are_refused_and_never_break_a_namespace(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    before = head(api)
    text = json.dumps(_widget_manifest()).replace('"RATIO"', "NaN")
    refused = await api.kubectl(
        "create", "--raw", "/apis/gitplane.io/v1alpha1/namespaces/shop/manifests", "-f", "-",
        stdin=text,
    )  # fmt: skip
    assert refused.code != 0
    assert "NaN is not a number JSON can carry" in refused.err, refused.err
    yaml_nan = CONFIGMAP.replace('mode: "on"', "ratio: .nan")
    refused = await api.kubectl("apply", "-f", "-", stdin=yaml_nan)
    assert refused.code != 0  # kubectl itself refuses to send it (its YAML->JSON fails)
    assert head(api) == before
    (api.repo / "shop" / "ratio.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ratio}\nbinaryData: {}\nx: .inf\n"
    )
    run_git(api.repo, "add", "-A")
    run_git(api.repo, "commit", "-qm", "an infinity from outside")
    api.store.refresh()
    for output in ("json", "yaml", "name"):
        listed = await api.ok("get", "mf", "-n", "shop", "-o", output)
        assert "configmap.settings" in listed.out
        assert "configmap.ratio" not in listed.out
    assert any("ratio.yaml" in str(p) and ".inf" in str(p) for p in api.store.problems())


def _widget_manifest() -> dict[str, object]:
    """A kind no schema checks: only the decoder stands between NaN and Git."""
    return {
        "apiVersion": "gitplane.io/v1alpha1",
        "kind": "Manifest",
        "metadata": {"name": "widget.w", "namespace": "shop"},
        "spec": {
            "object": {
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "metadata": {"name": "w", "namespace": "shop"},
                "spec": {"ratio": "RATIO"},
            }
        },
    }


async def test_a_list_is_not_one_manifest(api: Server) -> None:
    listed = CONFIGMAP.replace("configmap.settings", "list.settings").replace(
        "    apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: settings, namespace: shop}\n"
        '    data: {mode: "on"}\n',
        "    apiVersion: v1\n    kind: List\n    items:\n"
        "    - {apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: shop}}\n",
    )
    refused = await api.kubectl("apply", "-f", "-", stdin=listed)
    assert refused.code != 0
    assert "spec.object.kind" in refused.err and "a List holds several objects" in refused.err
    assert not api.git("branch", "--list").strip()  # nothing was ever committed


async def test_the_served_scope_matches_the_kinds_scope(api: Server) -> None:
    cluster_configmap = """\
apiVersion: gitplane.io/v1alpha1
kind: ClusterManifest
metadata: {name: configmap.settings}
spec:
  object: {apiVersion: v1, kind: ConfigMap, metadata: {name: settings}, data: {a: b}}
"""
    refused = await api.kubectl("apply", "-f", "-", stdin=cluster_configmap)
    assert refused.code != 0
    assert "ConfigMap is namespaced: declare it as a Manifest" in refused.err, refused.err
    namespaced_namespace = """\
apiVersion: gitplane.io/v1alpha1
kind: Manifest
metadata: {name: namespace.shop, namespace: shop}
spec:
  object: {apiVersion: v1, kind: Namespace, metadata: {name: shop}}
"""
    refused = await api.kubectl("apply", "-f", "-", stdin=namespaced_namespace)
    assert refused.code != 0
    assert "Namespace is cluster-scoped: declare it as a ClusterManifest" in refused.err
    assert not api.git("branch", "--list").strip()
