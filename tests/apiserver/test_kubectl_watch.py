"""get -w: list then watch, one object, resume, bookmarks, initial events, 410 Expired."""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

from tests.apiserver.harness import KUBECTL, Server
from tests.apiserver.test_kubectl_manifests import CONFIGMAP

BASE = "/apis/gitplane.io/v1alpha1/namespaces/shop/manifests"


class Watcher:
    """A running `kubectl get -w` whose output is read event by event."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.buffer = ""
        self.decoder = json.JSONDecoder()

    async def next(self, within: float = 30) -> dict[str, Any]:
        assert self.process.stdout is not None
        while True:
            stripped = self.buffer.lstrip()
            if stripped:
                try:
                    event, end = self.decoder.raw_decode(stripped)
                except json.JSONDecodeError:
                    pass
                else:
                    self.buffer = stripped[end:]
                    if event.get("type") != "BOOKMARK":  # kubectl asks for bookmarks; skip them
                        return event  # type: ignore[no-any-return]
                    continue
            try:
                chunk = await asyncio.wait_for(self.process.stdout.read(65536), within)
            except TimeoutError:
                raise AssertionError(f"no watch event from kubectl in {within} s") from None
            assert chunk, "kubectl stopped watching"
            self.buffer += chunk.decode()

    async def watching(self, within: float = 30) -> None:
        """Until the server answered kubectl's watch request (logged with -v=6)."""
        assert self.process.stderr is not None
        while True:
            try:
                line = await asyncio.wait_for(self.process.stderr.readline(), within)
            except TimeoutError:
                raise AssertionError(f"kubectl did not start watching in {within} s") from None
            assert line, "kubectl stopped"
            if b'"Response"' in line and b"watch=true" in line:
                return

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


async def _watch(api: Server, *args: str) -> Watcher:
    process = await asyncio.create_subprocess_exec(
        KUBECTL,
        f"--kubeconfig={api.kubeconfig}",
        "get",
        *args,
        "-w",
        "--output-watch-events",
        "-o",
        "json",
        "-v=6",  # logs each request: Watcher.watching
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=api.env,
    )
    return Watcher(process)


async def test_list_then_watch_sees_every_change(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    watcher = await _watch(api, "manifests", "-n", "shop")
    try:
        first = await watcher.next()
        assert (
            first["type"] == "ADDED" and first["object"]["metadata"]["name"] == "configmap.settings"
        )
        await api.ok("apply", "-f", "-", stdin=CONFIGMAP.replace("production", "staging"))
        changed = await watcher.next()
        assert changed["type"] == "MODIFIED"
        assert changed["object"]["spec"]["object"]["data"]["mode"] == "staging"
        await api.ok("apply", "-f", "-", stdin=CONFIGMAP.replace("settings", "other"))
        added = await watcher.next()
        assert (added["type"], added["object"]["metadata"]["name"]) == ("ADDED", "configmap.other")
        await api.ok("delete", "mf", "configmap.settings", "-n", "shop")
        deleted = await watcher.next()
        assert (deleted["type"], deleted["object"]["metadata"]["name"]) == (
            "DELETED",
            "configmap.settings",
        )
        assert int(deleted["object"]["metadata"]["resourceVersion"]) > int(
            changed["object"]["metadata"]["resourceVersion"]
        )
    finally:
        await watcher.stop()


def commit_by_hand(api: Server, old: str, new: str) -> None:
    """A person edits the ConfigMap's file and commits it straight to the repository."""
    path = api.repo / "shop" / "configmap-settings.yaml"
    api.git("checkout", "-q", "--", ".")
    path.write_text(path.read_text().replace(old, new))
    api.git("commit", "-qam", "edit by hand")


async def test_single_object_watch_and_outside_commits(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP.replace("settings", "other"))
    watcher = await _watch(api, "manifest", "configmap.settings", "-n", "shop")
    try:
        assert (await watcher.next())["object"]["metadata"]["name"] == "configmap.settings"
        # kubectl prints the object it got, then watches from "0" and drops the watch's
        # first event, the object as it is then (as with kube-apiserver): a commit made
        # before the watch starts is in that event, and never shown.
        await watcher.watching()
        commit_by_hand(api, "production", "by-hand")  # the watch sees it
        event = await watcher.next()
        assert event["type"] == "MODIFIED"
        assert event["object"]["spec"]["object"]["data"]["mode"] == "by-hand"
    finally:
        await watcher.stop()


async def _raw(api: Server, query: str) -> list[dict[str, Any]]:
    result = await api.ok("get", "--raw", f"{BASE}?{query}")
    decoder, text, events = json.JSONDecoder(), result.out.strip(), []
    while text:
        event, end = decoder.raw_decode(text)
        events.append(event)
        text = text[end:].strip()
    return events


async def test_watch_resumes_from_a_resource_version(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    rv = (await api.ok("get", "--raw", BASE)).json()["metadata"]["resourceVersion"]
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP.replace("production", "v2"))
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP.replace("production", "v3"))
    events = await _raw(api, f"watch=1&resourceVersion={rv}&timeoutSeconds=1")
    assert [(e["type"], e["object"]["spec"]["object"]["data"]["mode"]) for e in events] == [
        ("MODIFIED", "v2"),
        ("MODIFIED", "v3"),
    ]


async def test_bookmarks_and_initial_events(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    events = await _raw(
        api,
        "watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
        "&allowWatchBookmarks=true&timeoutSeconds=2",
    )
    assert events[0]["type"] == "ADDED"
    end = events[1]
    assert end["type"] == "BOOKMARK"
    assert end["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert end["object"]["kind"] == "Manifest"
    assert all(e["type"] == "BOOKMARK" for e in events[2:]) and len(events) >= 3  # periodic ones


async def test_too_old_version_is_410_expired(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    current = (await api.ok("get", "mf", "configmap.settings", "-n", "shop", "-o", "json")).json()
    rv = int(current["metadata"]["resourceVersion"])
    # The same depth on the branch, another commit: history rewritten under the watcher.
    # A Manifest's version is its branch version times 10^6 (store.versions).
    branch = rv // 1_000_000
    rewritten = (branch + 1 if branch % 1_000_000 < 999_999 else branch - 1) * 1_000_000
    events = await _raw(api, f"watch=1&resourceVersion={rewritten}&timeoutSeconds=1")
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"


class TableWatcher:
    """A running `kubectl get -w` printing a table, read line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def row(self) -> list[str]:
        assert self.process.stdout is not None
        return (await asyncio.wait_for(self.process.stdout.readline(), 10)).decode().split()

    async def stop(self) -> None:
        self.process.kill()
        await self.process.wait()


async def _table_watch(api: Server, *args: str) -> TableWatcher:
    process = await asyncio.create_subprocess_exec(
        KUBECTL,
        f"--kubeconfig={api.kubeconfig}",
        "get",
        *args,
        "-w",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=api.env,
    )
    return TableWatcher(process)


async def test_table_watch_prints_rows(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    watcher = await _table_watch(api, "mf", "-n", "shop")
    try:
        assert (await watcher.row())[:2] == ["NAME", "KIND"]
        assert (await watcher.row())[:2] == ["configmap.settings", "ConfigMap"]
        await api.ok("apply", "-f", "-", stdin=CONFIGMAP.replace("settings", "later"))
        assert (await watcher.row())[:2] == ["configmap.later", "ConfigMap"]
    finally:
        await watcher.stop()


async def test_metadata_only_list_and_watch(api: Server) -> None:
    import ssl

    import aiohttp

    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    client = api.kubeconfig_for("gc", ("system:masters",))  # noqa: F841 - a second identity works too
    context = ssl.create_default_context(cafile=str(api.pki.ca_file))
    from pki.issue import issue_client_certificate

    issued = issue_client_certificate(api.pki.ca, "system:kube-controller-manager")
    issued.save(api.directory / "kcm.crt", api.directory / "kcm.key")
    context.load_cert_chain(str(api.directory / "kcm.crt"), str(api.directory / "kcm.key"))
    url = f"https://127.0.0.1:{api.port}/apis/gitplane.io/v1alpha1/manifests"
    async with aiohttp.ClientSession() as session:
        headers = {
            "Accept": "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
        }
        async with session.get(url, headers=headers, ssl=context) as response:
            body = await response.json()
        assert body["kind"] == "PartialObjectMetadataList"
        assert body["items"][0]["kind"] == "PartialObjectMetadata"
        assert "spec" not in body["items"][0]
        headers = {"Accept": "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"}
        async with session.get(
            f"{url}?watch=1&timeoutSeconds=1", headers=headers, ssl=context
        ) as response:
            lines = [
                json.loads(line) for line in (await response.text()).splitlines() if line.strip()
            ]
        assert lines[0]["type"] == "ADDED" and lines[0]["object"]["kind"] == "PartialObjectMetadata"


async def test_revisions_watch_sends_each_new_commit_of_the_namespace(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    first = api.git("rev-parse", "HEAD").strip()
    watcher = await _watch(api, "revisions", "-n", "shop")
    try:
        listed = await watcher.next()
        assert (listed["type"], listed["object"]["metadata"]["name"]) == ("ADDED", first)
        await api.ok(
            "apply", "-f", "-", stdin=CONFIGMAP.replace("namespace: shop", "namespace: ops")
        )
        await api.ok("apply", "-f", "-", stdin=CONFIGMAP.replace("production", "v2"))
        written = api.git("rev-parse", "HEAD").strip()
        event = await watcher.next()  # not the commit to ops: another namespace
        assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", written)
        assert event["object"]["metadata"]["namespace"] == "shop"
        assert event["object"]["spec"]["changes"][0]["manifest"] == "configmap.settings"
        commit_by_hand(api, "v2", "by-hand")  # the watch sees that revision too
        by_hand = await watcher.next()
        assert by_hand["object"]["metadata"]["name"] == api.git("rev-parse", "HEAD").strip()
        assert by_hand["object"]["spec"]["message"].startswith("edit by hand")
    finally:
        await watcher.stop()


async def test_revisions_watch_resumes_oldest_first_and_refuses_a_lost_version(
    api: Server,
) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    base = "/apis/gitplane.io/v1alpha1/namespaces/shop/revisions"
    rv = (await api.ok("get", "--raw", base)).json()["metadata"]["resourceVersion"]
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP.replace("production", "v2"))
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP.replace("production", "v3"))
    newest = api.git("log", "-2", "--format=%H").split()
    watched = await api.ok("get", "--raw", f"{base}?watch=1&resourceVersion={rv}&timeoutSeconds=1")
    events = [json.loads(line) for line in watched.out.splitlines() if line.strip()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", newest[1]),
        ("ADDED", newest[0]),
    ]
    # The same depth as the first commit, another commit: rewritten history.
    lost_rv = int(rv) + 1 if int(rv) % 1_000_000 < 999_999 else int(rv) - 1
    lost = await api.ok(
        "get", "--raw", f"{base}?watch=1&resourceVersion={lost_rv}&timeoutSeconds=1"
    )
    error = json.loads(lost.out.splitlines()[0])
    assert (error["type"], error["object"]["code"], error["object"]["reason"]) == (
        "ERROR",
        410,
        "Expired",
    )


async def test_revisions_table_watch_prints_rows(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    watcher = await _table_watch(api, "rev", "-n", "shop")
    try:
        assert (await watcher.row())[:3] == ["NAME", "AUTHOR", "MESSAGE"]
        assert (await watcher.row())[0] == api.git("rev-parse", "HEAD").strip()[:12]
        await api.ok("apply", "-f", "-", stdin=CONFIGMAP.replace("production", "v2"))
        written = api.git("rev-parse", "HEAD").strip()[:12]
        assert (await watcher.row())[:2] == [written, "gitplane-admin"]
    finally:
        await watcher.stop()
