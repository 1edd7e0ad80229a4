"""Issue 20.1 and 20.7 with the real kubectl: metadata writes take effect (the declared
object's labels and annotations as commits, bookkeeping beside the branch), and
client-side apply sees its last-applied configuration everywhere: re-applying prints
"unchanged", `diff` shows nothing, `apply --prune` deletes what left the files."""

from __future__ import annotations

import yaml

from tests.apiserver.harness import Server
from tests.apiserver.test_kubectl_manifests import CONFIGMAP

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
FILE = "shop/configmap-settings.yaml"


async def _commits(api: Server) -> int:
    return int(api.git("rev-list", "--count", "HEAD").strip())


async def test_label_and_annotate_commit_the_declared_object(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    await api.ok("label", "mf", "configmap.settings", "-n", "shop", "tier=db")
    assert yaml.safe_load(api.git("show", f"HEAD:{FILE}"))["metadata"]["labels"] == {
        "app": "web",
        "tier": "db",
    }  # was answered 200 and dropped
    await api.ok("annotate", "mf", "configmap.settings", "-n", "shop", "team=payments")
    declared = yaml.safe_load(api.git("show", f"HEAD:{FILE}"))
    assert declared["metadata"]["annotations"] == {"team": "payments"}
    shown = (await api.ok("get", "mf", "configmap.settings", "-n", "shop", "-o", "yaml")).yaml()
    assert shown["metadata"]["labels"] == {"app": "web", "tier": "db"}
    assert shown["metadata"]["annotations"]["team"] == "payments"
    await api.ok("label", "mf", "configmap.settings", "-n", "shop", "tier-")
    assert "tier" not in api.git("show", f"HEAD:{FILE}")


async def test_controller_annotations_are_bookkeeping_not_commits(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    before = await _commits(api)
    first = (await api.ok("get", "mf", "configmap.settings", "-n", "shop", "-o", "yaml")).yaml()
    await api.ok("annotate", "mf", "configmap.settings", "-n", "shop", "kopf.zalando.org/state=1")
    shown = (await api.ok("get", "mf", "configmap.settings", "-n", "shop", "-o", "yaml")).yaml()
    assert shown["metadata"]["annotations"]["kopf.zalando.org/state"] == "1"
    assert int(shown["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert await _commits(api) == before  # the branch Argo CD reads is untouched
    assert "kopf" not in api.git("show", f"HEAD:{FILE}")
    kept = api.git("show", "refs/gitplane/bookkeeping/main:shop/core/ConfigMap/settings.json")
    assert '"kopf.zalando.org/state": "1"' in kept
    patched = await api.kubectl(
        "patch", "mf", "configmap.settings", "-n", "shop", "--type", "json",
        "-p", '[{"op":"add","path":"/metadata/finalizers","value":["example.com/hold"]}]',
    )  # fmt: skip
    assert patched.code == 0, patched.err
    shown = (await api.ok("get", "mf", "configmap.settings", "-n", "shop", "-o", "yaml")).yaml()
    assert shown["metadata"]["finalizers"] == ["example.com/hold"]


async def test_a_finalizer_holds_a_deletion_until_it_goes(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    await api.ok(
        "patch", "mf", "configmap.settings", "-n", "shop", "--type", "merge",
        "-p", '{"metadata":{"finalizers":["example.com/hold"]}}',
    )  # fmt: skip
    await api.ok("delete", "mf", "configmap.settings", "-n", "shop", "--wait=false")
    held = (await api.ok("get", "mf", "configmap.settings", "-n", "shop", "-o", "yaml")).yaml()
    assert held["metadata"]["deletionTimestamp"]
    assert FILE in api.git("ls-tree", "-r", "--name-only", "HEAD")
    await api.ok(
        "patch", "mf", "configmap.settings", "-n", "shop", "--type", "merge",
        "-p", '{"metadata":{"finalizers":null}}',
    )  # fmt: skip
    assert FILE not in api.git("ls-tree", "-r", "--name-only", "HEAD")
    gone = await api.kubectl("get", "mf", "configmap.settings", "-n", "shop")
    assert gone.code == 1 and "NotFound" in gone.err


async def test_last_applied_is_in_lists_and_write_responses(api: Server) -> None:
    applied = await api.ok("apply", "-f", "-", "-o", "json", stdin=CONFIGMAP)
    assert LAST_APPLIED in applied.json()["metadata"]["annotations"]  # was only on GET
    listed = (await api.ok("get", "mf", "-n", "shop", "-o", "json")).json()
    assert all(LAST_APPLIED in item["metadata"]["annotations"] for item in listed["items"])


async def test_reapplying_an_unchanged_file_is_unchanged_and_diff_is_empty(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    before = await _commits(api)
    again = await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    assert again.out.strip() == "manifest.gitplane.io/configmap.settings unchanged"
    diff = await api.kubectl("diff", "-f", "-", stdin=CONFIGMAP)
    assert diff.code == 0 and diff.out == "", diff.out  # showed the annotation removed
    assert await _commits(api) == before


async def test_apply_prune_deletes_what_left_the_files(api: Server) -> None:
    # `-l` selects the file's Manifests, and kubectl prunes those the server lists with it.
    labelled = CONFIGMAP.replace(
        "  namespace: shop\nspec:", "  namespace: shop\n  labels: {app: web}\nspec:"
    )
    other = labelled.replace("settings", "other")
    await api.ok("apply", "-f", "-", stdin=labelled + "---\n" + other)
    result = await api.ok(
        "apply", "--prune", "-l", "app=web",
        "--prune-allowlist=gitplane.io/v1alpha1/Manifest", "-f", "-",
        stdin=labelled,
    )  # fmt: skip
    assert "manifest.gitplane.io/configmap.other pruned" in result.out, result.out
    files = api.git("ls-tree", "-r", "--name-only", "HEAD")
    assert "shop/configmap-other.yaml" not in files and FILE in files
