"""Manifests driven end to end by the real kubectl binary over real TLS."""

from __future__ import annotations

import json
import textwrap

from tests.apiserver.harness import Server

CONFIGMAP = textwrap.dedent("""\
    apiVersion: gitplane.io/v1alpha1
    kind: Manifest
    metadata:
      name: configmap.settings
      namespace: shop
    spec:
      object:
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: settings
          namespace: shop
          labels: {app: web}
        data:
          mode: production
    """)

DEPLOYMENT = textwrap.dedent("""\
    apiVersion: gitplane.io/v1alpha1
    kind: Manifest
    metadata:
      name: deployment.web
      namespace: shop
      annotations:
        gitplane.io/commit-message: "shop: web tier"
    spec:
      object:
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          namespace: shop
          labels: {app: web, tier: frontend}
        spec:
          replicas: 2
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
              - name: web
                image: nginx:1.27
    """)


async def test_apply_creates_a_commit_authored_by_the_user(api: Server) -> None:
    result = await api.ok("apply", "-f", "-", stdin=DEPLOYMENT)
    assert "manifest.gitplane.io/deployment.web created" in result.out
    log = api.git("log", "--format=%an|%s", "-1").strip()
    assert log == "gitplane-admin|shop: web tier"
    assert "kind: Deployment" in api.git("show", "HEAD:shop/deployment-web.yaml")
    assert "commit-message" not in api.git("show", "HEAD:shop/deployment-web.yaml")


async def test_repeated_apply_makes_no_commit(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=DEPLOYMENT)
    before = api.git("rev-parse", "HEAD")
    await api.ok("apply", "-f", "-", stdin=DEPLOYMENT)
    assert api.git("rev-parse", "HEAD") == before


async def test_apply_of_a_change_then_removal_of_a_field(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    changed = CONFIGMAP.replace("mode: production", "mode: staging\n      extra: value")
    await api.ok("apply", "-f", "-", stdin=changed)
    assert "extra: value" in api.git("show", "HEAD:shop/configmap-settings.yaml")
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)  # `extra` gone from the file: gone from Git
    text = api.git("show", "HEAD:shop/configmap-settings.yaml")
    assert "extra" not in text and "mode: production" in text


async def test_get_table_wide_name_json_yaml(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=DEPLOYMENT)
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    table = (await api.ok("get", "manifests", "-n", "shop")).out.splitlines()
    assert table[0].split() == ["NAME", "KIND", "API", "VERSION", "REVISION", "AGE"]
    assert [line.split()[:3] for line in table[1:]] == [
        ["configmap.settings", "ConfigMap", "v1"],
        ["deployment.web", "Deployment", "apps/v1"],
    ]
    wide = (await api.ok("get", "mf", "-n", "shop", "-o", "wide")).out.splitlines()
    assert "PATH" in wide[0] and "AUTHOR" in wide[0]
    assert "shop/deployment-web.yaml" in wide[2] and "gitplane-admin" in wide[2]
    names = (await api.ok("get", "manifests", "-A", "-o", "name")).out.split()
    assert names == [
        "manifest.gitplane.io/configmap.settings",
        "manifest.gitplane.io/deployment.web",
    ]
    obj = (await api.ok("get", "manifest", "deployment.web", "-n", "shop", "-o", "json")).json()
    assert obj["spec"]["object"]["spec"]["replicas"] == 2
    assert obj["status"]["path"] == "shop/deployment-web.yaml"
    assert obj["metadata"]["resourceVersion"].isdigit()
    as_yaml = (await api.ok("get", "manifest", "deployment.web", "-n", "shop", "-o", "yaml")).yaml()
    assert as_yaml["metadata"]["uid"] == obj["metadata"]["uid"]


async def test_label_and_field_selectors(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=DEPLOYMENT)
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    tier = (
        await api.ok("get", "mf", "-n", "shop", "-l", "tier=frontend", "-o", "name")
    ).out.split()
    assert tier == ["manifest.gitplane.io/deployment.web"]
    both = (await api.ok("get", "mf", "-n", "shop", "-l", "app in (web)", "-o", "name")).out.split()
    assert len(both) == 2
    by_name = (
        await api.ok(
            "get", "mf", "-A", "--field-selector", "metadata.name=configmap.settings", "-o", "name"
        )
    ).out.split()
    assert by_name == ["manifest.gitplane.io/configmap.settings"]


async def test_pagination_with_chunk_size(api: Server) -> None:
    for index in range(7):
        await api.ok("apply", "-f", "-", stdin=CONFIGMAP.replace("settings", f"c{index}"))
    listed = (await api.ok("get", "mf", "-A", "--chunk-size=3", "-o", "name")).out.split()
    assert listed == [f"manifest.gitplane.io/configmap.c{i}" for i in range(7)]
    raw = json.loads(
        (await api.ok("get", "--raw", "/apis/gitplane.io/v1alpha1/manifests?limit=3")).out
    )
    assert (
        len(raw["items"]) == 3
        and raw["metadata"]["continue"]
        and raw["metadata"]["remainingItemCount"] == 4
    )


async def test_errors_are_status_objects(api: Server) -> None:
    missing = await api.kubectl("get", "mf", "deployment.nope", "-n", "shop")
    assert missing.code == 1
    assert 'manifests.gitplane.io "deployment.nope" not found' in missing.err
    await api.ok("apply", "-f", "-", stdin=DEPLOYMENT)
    wrong_name = DEPLOYMENT.replace("name: deployment.web", "name: deployment.other")
    invalid = await api.kubectl("create", "-f", "-", stdin=wrong_name)
    assert invalid.code == 1 and "metadata.name" in invalid.err and "is invalid" in invalid.err
    again = await api.kubectl("create", "-f", "-", stdin=DEPLOYMENT)
    assert again.code == 1 and "already exists" in again.err
