"""The API server over a clone of a Git remote: push events, outages, staleness."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import subprocess
import time
from pathlib import Path

import aiohttp

from pki.issue import issue_client_certificate
from store.remote import RemoteMirror
from store.repo import GitStore
from tests.apiserver.harness import start_server
from tests.apiserver.test_kubectl_manifests import CONFIGMAP

SECRET = b"hook-secret-for-tests"


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


async def test_push_event_hook_remote_outage_and_staleness(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    _run("git", "init", "-q", "--bare", "-b", "main", str(remote))
    store = GitStore(tmp_path / "clone.git", remote=RemoteMirror(str(remote), "main"))
    api, runner = await start_server(tmp_path / "server", store, hook_secret=SECRET)
    try:
        await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
        assert "kind: ConfigMap" in _git(remote, "show", "main:shop/configmap-settings.yaml")

        person = tmp_path / "person"
        _run("git", "clone", "-q", str(remote), str(person))
        (person / "shop" / "configmap-pr.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pr\n  namespace: shop\n"
        )
        _git(person, "add", "-A")
        _git(
            person,
            "-c",
            "user.name=P",
            "-c",
            "user.email=p@example.com",
            "commit",
            "-qm",
            "merged PR",
        )
        _git(person, "push", "-q", "origin", "main")

        context = ssl.create_default_context(cafile=str(api.pki.ca_file))
        issued = issue_client_certificate(api.pki.ca, "alice")
        issued.save(tmp_path / "a.crt", tmp_path / "a.key")
        context.load_cert_chain(str(tmp_path / "a.crt"), str(tmp_path / "a.key"))
        base = f"https://127.0.0.1:{api.port}"
        event = json.dumps({"ref": "refs/heads/main"}).encode()
        signature = "sha256=" + hmac.new(SECRET, event, hashlib.sha256).hexdigest()
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{base}/hooks/git",
                data=event,
                ssl=context,
                headers={"X-Hub-Signature-256": "sha256=" + "0" * 64},
            ) as response:
                assert response.status == 401
            started = time.monotonic()
            async with session.post(
                f"{base}/hooks/git",
                data=event,
                ssl=context,
                headers={"X-Hub-Signature-256": signature},
            ) as response:
                assert response.status == 200, await response.text()
            names = (await api.ok("get", "mf", "-n", "shop", "-o", "name")).out.split()
            assert "manifest.gitplane.io/configmap.pr" in names
            assert time.monotonic() - started < 5

            remote.rename(tmp_path / "away.git")
            failed = await api.kubectl(
                "apply", "-f", "-", stdin=CONFIGMAP.replace("production", "x")
            )
            assert failed.code == 1 and "unreachable" in failed.err  # a 503 (kubectl retried it)
            async with session.get(f"{base}/readyz?verbose", ssl=context) as response:
                text = await response.text()  # the state, never the reason (see the log)
                assert response.status == 200 and "[!]remote stale: reason withheld" in text
                assert "away" not in text and "remote.git" not in text
            async with session.get(f"{base}/metrics", ssl=context) as response:
                assert "gitplane_remote_stale 1.0" in await response.text()
            listed = await api.ok("get", "mf", "-n", "shop", "-o", "name")  # reads go on
            assert "configmap.settings" in listed.out
            (tmp_path / "away.git").rename(remote)
            await api.ok("apply", "-f", "-", stdin=CONFIGMAP.replace("production", "after-outage"))
            assert "after-outage" in _git(remote, "show", "main:shop/configmap-settings.yaml")
    finally:
        await runner.cleanup()
