"""Revisions, Revert, Rollback and ChangeSet through kubectl."""

from __future__ import annotations

import textwrap

from tests.apiserver.harness import Server
from tests.apiserver.test_kubectl_manifests import CONFIGMAP


async def _history(api: Server) -> list[str]:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP.replace("production", "v2"))
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP.replace("production", "v3"))
    return api.git("log", "--format=%H").split()


async def test_revisions_list_newest_first_and_get_by_prefix_with_diff(api: Server) -> None:
    commits = await _history(api)
    table = (await api.ok("get", "revisions", "-n", "shop")).out.splitlines()
    assert [line.split()[0] for line in table[1:]] == [c[:12] for c in commits]
    assert table[0].split()[:4] == ["NAME", "AUTHOR", "MESSAGE", "CHANGES"]
    one = (await api.ok("get", "rev", commits[1][:7], "-n", "shop", "-o", "json")).json()
    assert one["metadata"]["name"] == commits[1]
    assert one["spec"]["author"] == "gitplane-admin"
    assert one["spec"]["parents"] == [commits[2]]
    assert one["spec"]["changes"] == [
        {
            "type": "MODIFIED",
            "kind": "ConfigMap",
            "group": "",
            "name": "settings",
            "manifest": "configmap.settings",
        }
    ]
    assert "-  mode: production\n+  mode: v2" in one["spec"]["diff"]
    other = await api.kubectl("get", "rev", commits[1][:7], "-n", "billing")
    assert other.code == 1 and "not found" in other.err  # that commit did not touch billing


async def test_revert_and_rollback_resources(api: Server) -> None:
    commits = await _history(api)
    revert = textwrap.dedent(f"""\
        apiVersion: gitplane.io/v1alpha1
        kind: Revert
        metadata: {{name: undo-v3, namespace: shop}}
        spec: {{revision: "{commits[0][:9]}"}}
        """)
    created = await api.ok("create", "-f", "-", "-o", "json", stdin=revert)
    commit = created.json()["status"]["commit"]
    assert api.git("rev-parse", "HEAD").strip() == commit
    assert "mode: v2" in api.git("show", "HEAD:shop/configmap-settings.yaml")
    listed = (await api.ok("get", "reverts", "-n", "shop", "-o", "json")).json()["items"]
    assert [
        (r["metadata"]["name"], r["spec"]["revision"], r["status"]["commit"]) for r in listed
    ] == [("undo-v3", commits[0], commit)]
    rollback = textwrap.dedent(f"""\
        apiVersion: gitplane.io/v1alpha1
        kind: Rollback
        metadata: {{name: back-to-first, namespace: shop}}
        spec: {{revision: "{commits[2]}"}}
        """)
    await api.ok("create", "-f", "-", stdin=rollback)
    assert "mode: production" in api.git("show", "HEAD:shop/configmap-settings.yaml")
    assert api.git("log", "-1", "--format=%s").startswith("Roll back namespace shop to")
    names = (await api.ok("get", "rollbacks", "-n", "shop", "-o", "name")).out.split()
    assert names == ["rollback.gitplane.io/back-to-first"]


async def test_revert_that_conflicts_is_409_and_changes_nothing(api: Server) -> None:
    commits = await _history(api)
    revert = textwrap.dedent(f"""\
        apiVersion: gitplane.io/v1alpha1
        kind: Revert
        metadata: {{name: too-late, namespace: shop}}
        spec: {{revision: "{commits[1]}"}}
        """)
    result = await api.kubectl("create", "-f", "-", stdin=revert)
    assert result.code == 1 and "Conflict" in result.err and "ConfigMap shop/settings" in result.err
    assert api.git("rev-parse", "HEAD").strip() == commits[0]


async def test_changeset_is_one_commit(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    changeset = textwrap.dedent("""\
        apiVersion: gitplane.io/v1alpha1
        kind: ChangeSet
        metadata: {generateName: release-, namespace: shop}
        spec:
          message: "release 1.2: two config maps, settings retired"
          put:
          - {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {k: "1"}}
          - {apiVersion: v1, kind: ConfigMap, metadata: {name: b, namespace: shop}, data: {k: "2"}}
          delete: [configmap.settings]
        """)
    before = int(api.git("rev-list", "--count", "HEAD"))
    result = await api.ok("create", "-f", "-", "-o", "json", stdin=changeset)
    assert result.json()["metadata"]["name"].startswith("release-")
    assert int(api.git("rev-list", "--count", "HEAD")) == before + 1
    assert (
        api.git("log", "-1", "--format=%s").strip()
        == "release 1.2: two config maps, settings retired"
    )
    names = (await api.ok("get", "mf", "-n", "shop", "-o", "name")).out.split()
    assert names == ["manifest.gitplane.io/configmap.a", "manifest.gitplane.io/configmap.b"]
    bad = changeset.replace("delete: [configmap.settings]", "delete: [configmap.missing]")
    failed = await api.kubectl("create", "-f", "-", stdin=bad)
    assert failed.code == 1 and "spec.delete[0]" in failed.err


async def test_invalid_builtin_object_is_rejected_with_its_field_path(api: Server) -> None:
    bad = CONFIGMAP.replace("name: settings\n", "name: settings\n").replace(
        "data:\n      mode: production", "data:\n      mode: production\n    immutable: maybe"
    )
    result = await api.kubectl("apply", "-f", "-", stdin=bad)
    assert result.code == 1
    assert "spec.object.immutable" in result.err
    assert api.git("rev-list", "--all", "--count").strip() == "0"  # nothing committed
