"""`kubectl gitplane` (the kubectl-gitplane plugin) against a real server."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

from tests.apiserver.harness import Result, Server

PLUGIN = shutil.which("kubectl-gitplane") or "kubectl-gitplane"


async def _plugin(api: Server, *args: str) -> Result:
    process = await asyncio.create_subprocess_exec(
        PLUGIN, f"--kubeconfig={api.kubeconfig}", "-n", "shop", *args,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=api.env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return Result(process.returncode or 0, out.decode(), err.decode())


async def test_apply_a_directory_as_one_commit_then_log_diff_revert(api: Server) -> None:
    manifests = api.directory / "app"
    manifests.mkdir()
    (manifests / "a.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: '1'}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {k: '2'}\n"
    )
    (manifests / "c.json").write_text(
        '{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "c"}}'
    )
    applied = await _plugin(api, "apply", "-f", str(manifests), "-m", "app: first release")
    assert applied.code == 0, applied.err
    assert "changeset" in applied.out and "configmap.a" in applied.out
    assert api.git("rev-list", "--count", "HEAD").strip() == "1"
    assert api.git("log", "-1", "--format=%s").strip() == "app: first release"
    log = await _plugin(api, "log")
    assert log.code == 0 and "app: first release" in log.out
    commit = api.git("rev-parse", "HEAD").strip()
    diff = await _plugin(api, "diff", commit[:8])
    assert diff.code == 0 and "+  name: a" in diff.out
    reverted = await _plugin(api, "revert", commit[:8])
    assert reverted.code == 0, reverted.err
    assert api.git("ls-tree", "-r", "--name-only", "HEAD").strip() == ""
    missing = await _plugin(api, "apply", "-f", str(api.directory / "nope.yaml"))
    assert missing.code == 1 and missing.err.startswith("error:") and "Traceback" not in missing.err
