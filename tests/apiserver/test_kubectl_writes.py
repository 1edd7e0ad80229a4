"""edit, patch, replace, delete, diff, dry-run, server-side apply, conflicts, media types."""

from __future__ import annotations

import json
import stat

from tests.apiserver.harness import Server
from tests.apiserver.test_kubectl_manifests import CONFIGMAP, DEPLOYMENT


async def _commits(api: Server) -> int:
    return int(api.git("rev-list", "--count", "HEAD").strip())


async def test_edit_with_an_editor_script(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=DEPLOYMENT)
    editor = api.directory / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/replicas: 2/replicas: 4/' \"$1\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    result = await api.kubectl(
        "edit", "manifest", "deployment.web", "-n", "shop", env={"KUBE_EDITOR": str(editor)}
    )
    assert result.code == 0, result.err
    assert "replicas: 4" in api.git("show", "HEAD:shop/deployment-web.yaml")
    diff = api.git("diff", "HEAD~1", "HEAD", "--unified=0")
    assert [line for line in diff.splitlines() if line.startswith(("+ ", "- ", "+  ", "-  "))] == [
        "-      replicas: 2",
        "+      replicas: 4",
    ] or "replicas: 4" in diff


async def test_patch_merge_and_json(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    await api.ok(
        "patch",
        "mf",
        "configmap.settings",
        "-n",
        "shop",
        "--type",
        "merge",
        "-p",
        '{"spec":{"object":{"data":{"mode":"canary"}}}}',
    )
    assert "mode: canary" in api.git("show", "HEAD:shop/configmap-settings.yaml")
    await api.ok(
        "patch",
        "mf",
        "configmap.settings",
        "-n",
        "shop",
        "--type",
        "json",
        "-p",
        '[{"op":"add","path":"/spec/object/data/new","value":"x"}]',
    )
    assert "new: x" in api.git("show", "HEAD:shop/configmap-settings.yaml")
    bad = await api.kubectl(
        "patch",
        "mf",
        "configmap.settings",
        "-n",
        "shop",
        "--type",
        "json",
        "-p",
        '[{"op":"remove","path":"/spec/object/nope"}]',
    )
    assert bad.code == 1


async def test_replace_and_stale_resource_version_conflict(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    current = (await api.ok("get", "mf", "configmap.settings", "-n", "shop", "-o", "json")).json()
    current["spec"]["object"]["data"]["mode"] = "replaced"
    await api.ok("replace", "-f", "-", stdin=json.dumps(current))
    assert "mode: replaced" in api.git("show", "HEAD:shop/configmap-settings.yaml")
    stale = await api.kubectl(
        "replace", "-f", "-", stdin=json.dumps(current)
    )  # old resourceVersion
    assert stale.code == 1
    assert "the object has been modified" in stale.err


async def test_delete_and_wait(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    result = await api.ok(
        "delete", "mf", "configmap.settings", "-n", "shop", "--wait=true", "--timeout=20s"
    )
    assert 'manifest.gitplane.io "configmap.settings" deleted' in result.out
    assert "shop/configmap-settings.yaml" not in api.git("ls-tree", "-r", "--name-only", "HEAD")


async def test_diff_and_dry_run_never_commit(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    before = await _commits(api)
    changed = CONFIGMAP.replace("mode: production", "mode: preview")
    diff = await api.kubectl("diff", "-f", "-", stdin=changed)
    assert diff.code == 1, diff.err  # kubectl diff exits 1 when there are differences
    assert "-      mode: production" in diff.out and "+      mode: preview" in diff.out
    await api.ok("apply", "--dry-run=server", "-f", "-", stdin=changed)
    await api.ok("delete", "mf", "configmap.settings", "-n", "shop", "--dry-run=server")
    await api.ok("create", "--dry-run=server", "-f", "-", stdin=DEPLOYMENT)
    assert await _commits(api) == before


async def test_server_side_apply(api: Server) -> None:
    result = await api.ok("apply", "--server-side", "-f", "-", stdin=CONFIGMAP)
    assert "serverside-applied" in result.out
    changed = CONFIGMAP.replace("mode: production", "mode: ssa")
    await api.ok("apply", "--server-side", "-f", "-", stdin=changed)
    assert "mode: ssa" in api.git("show", "HEAD:shop/configmap-settings.yaml")


async def test_cbor_gets_415_and_unauthenticated_gets_401(api: Server) -> None:
    import ssl

    import aiohttp

    from pki.issue import issue_client_certificate

    client = issue_client_certificate(api.pki.ca, "alice", ("devs",))
    cert, key = api.directory / "alice.crt", api.directory / "alice.key"
    client.save(cert, key)
    context = ssl.create_default_context(cafile=str(api.pki.ca_file))
    context.load_cert_chain(str(cert), str(key))
    url = f"https://127.0.0.1:{api.port}/apis/gitplane.io/v1alpha1/namespaces/shop/manifests"
    async with aiohttp.ClientSession() as session:
        async with session.post(
            url, data=b"\xa0", headers={"Content-Type": "application/cbor"}, ssl=context
        ) as response:
            body = await response.json()
            assert (
                response.status == 415
                and body["kind"] == "Status"
                and body["reason"] == "UnsupportedMediaType"
            )
        anonymous = ssl.create_default_context(cafile=str(api.pki.ca_file))
        async with session.get(url, ssl=anonymous) as response:
            assert response.status == 401 and (await response.json())["reason"] == "Unauthorized"
        async with session.get(f"https://127.0.0.1:{api.port}/healthz", ssl=anonymous) as response:
            assert response.status == 200
        async with session.post(
            url, data=b"{not json", headers={"Content-Type": "application/json"}, ssl=context
        ) as response:
            body = await response.json()
            assert response.status == 400 and body["reason"] == "BadRequest"


async def test_writes_are_authored_by_the_certificate_user(api: Server) -> None:
    kubeconfig = api.kubeconfig_for("alice", ("devs",))
    result = await api.kubectl("apply", "-f", "-", stdin=CONFIGMAP, kubeconfig=kubeconfig)
    assert result.code == 0, result.err
    assert (
        api.git("log", "-1", "--format=%an <%ae>").strip() == "alice <alice@users.gitplane.invalid>"
    )
    assert "Gitplane-Groups: devs, system:authenticated" in api.git("log", "-1", "--format=%b")
