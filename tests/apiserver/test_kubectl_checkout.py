"""`--repo` on a person's checkout, and crafted repositories, through the real kubectl."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.apiserver.harness import Server
from tests.apiserver.test_kubectl_manifests import CONFIGMAP

SETTINGS = "shop/configmap-settings.yaml"
PATCH = ("patch", "mf", "configmap.settings", "-n", "shop", "--type", "merge", "-p")


async def test_a_write_to_a_file_with_local_edits_is_a_409_naming_it(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    file = api.repo / SETTINGS
    file.write_text(file.read_text() + "# my uncommitted note\n")
    head = api.git("rev-parse", "HEAD")
    refused = await api.kubectl(*PATCH, '{"spec":{"object":{"data":{"mode":"canary"}}}}')
    assert refused.code != 0
    assert "(Conflict)" in refused.err and SETTINGS in refused.err, refused.err
    assert f"git checkout -- {SETTINGS}" in refused.err
    # Nothing committed, and the person's edit is where they left it (not `MM`).
    assert api.git("rev-parse", "HEAD") == head
    assert api.git("status", "--porcelain") == f" M {SETTINGS}\n"
    api.git("checkout", "--", SETTINGS)
    await api.ok(*PATCH, '{"spec":{"object":{"data":{"mode":"canary"}}}}')
    assert api.git("status", "--porcelain") == ""
    # The person's next ordinary commit keeps gitplane's write.
    (api.repo / "NOTES.md").write_text("notes\n")
    api.git("add", "NOTES.md")
    api.git("-c", "user.name=Person", "-c", "user.email=p@example.com", "commit", "-qm", "notes")
    assert "mode: canary" in api.git("show", f"HEAD:{SETTINGS}")


async def test_a_namespace_that_is_a_committed_symlink_is_a_422(
    api: Server, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, api.repo / "evil")
    api.git("add", "evil")
    api.git("-c", "user.name=P", "-c", "user.email=p@example.com", "commit", "-qm", "link")
    api.store.refresh()
    planted = CONFIGMAP.replace("namespace: shop", "namespace: evil")
    refused = await api.kubectl("apply", "-f", "-", stdin=planted)
    assert refused.code != 0 and "is invalid" in refused.err, refused.err
    assert "'evil' is a symbolic link" in refused.err
    assert list(outside.iterdir()) == []


async def test_a_role_named_with_a_nul_is_a_422(api: Server) -> None:
    role = {
        "apiVersion": "gitplane.io/v1alpha1",
        "kind": "Manifest",
        "metadata": {"name": "role.a\u0000b", "namespace": "shop"},
        "spec": {
            "object": {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "a\u0000b", "namespace": "shop"},
                "rules": [],
            }
        },
    }
    body = api.directory / "role.json"
    body.write_text(json.dumps(role))
    url = "/apis/gitplane.io/v1alpha1/namespaces/shop/manifests"
    refused = await api.kubectl("create", "--raw", url, "-f", str(body))
    assert refused.code != 0 and "is invalid" in refused.err, refused.err
    assert "metadata.name" in refused.err
    assert api.git("rev-list", "--all", "--count") == "0\n"
