"""`kubectl get` negotiates a Table with our negotiation code and prints our Table body."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from kube.meta import format_timestamp
from kube.negotiation import Conversion, negotiate_output
from kube.status import ApiError
from kube.table import AGE_COLUMN, NAME_COLUMN, Column, Row, build_table, translate_timestamp_since

KUBECTL = shutil.which("kubectl") or str(Path(sys.executable).with_name("kubectl"))
pytestmark = pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl not installed")

GROUP_VERSION = "gitplane.io/v1alpha1"
CREATED = format_timestamp(datetime.now(UTC) - timedelta(days=5, hours=3))
MANIFEST = {
    "kind": "Manifest",
    "apiVersion": GROUP_VERSION,
    "metadata": {"name": "deployment.web", "namespace": "default", "creationTimestamp": CREATED},
    "spec": {"object": {"kind": "Deployment", "apiVersion": "apps/v1"}},
}
COLUMNS = [NAME_COLUMN, Column("Kind"), Column("Path", priority=1), AGE_COLUMN]

DISCOVERY = {
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": []},
    "/apis": {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": "gitplane.io",
                "versions": [{"groupVersion": GROUP_VERSION, "version": "v1alpha1"}],
                "preferredVersion": {"groupVersion": GROUP_VERSION, "version": "v1alpha1"},
            }
        ],
    },
    f"/apis/{GROUP_VERSION}": {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": GROUP_VERSION,
        "resources": [
            {
                "name": "manifests",
                "singularName": "manifest",
                "namespaced": True,
                "kind": "Manifest",
                "verbs": ["get", "list"],
                "shortNames": ["mf"],
            }
        ],
    },
}


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[str]]]:
    accepts: list[str] = []

    async def discovery(request: web.Request) -> web.Response:
        return web.json_response(DISCOVERY[request.path])

    async def list_manifests(request: web.Request) -> web.Response:
        accepts.append(request.headers.get("Accept", ""))
        try:
            output = negotiate_output(request.headers.get("Accept"))
        except ApiError as error:
            return web.json_response(error.status(), status=error.code)
        if output.conversion is not Conversion.TABLE:
            return web.json_response({"kind": "ManifestList", "items": [MANIFEST]})
        cells = [
            "deployment.web",
            "Deployment",
            "default/web.yaml",
            translate_timestamp_since(CREATED),
        ]
        table = build_table(
            COLUMNS, [Row(cells, MANIFEST)], api_version=output.api_version, resource_version="9"
        )
        return web.json_response(table)

    app = web.Application()
    for path in DISCOVERY:
        app.router.add_get(path, discovery)
    app.router.add_get(f"/apis/{GROUP_VERSION}/namespaces/default/manifests", list_manifests)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", accepts
    finally:
        await runner.cleanup()


async def _kubectl(server: str, home: Path, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        KUBECTL,
        f"--server={server}",
        "--kubeconfig=/dev/null",
        *args,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_kubectl_get_prints_the_table(server: tuple[str, list[str]], tmp_path: Path) -> None:
    url, accepts = server
    out = await _kubectl(url, tmp_path, "get", "manifests", "-n", "default")
    assert out.splitlines() == [
        "NAME             KIND         AGE",
        "deployment.web   Deployment   5d3h",
    ]
    assert "as=Table" in accepts[-1]


async def test_kubectl_get_wide_shows_priority_columns(
    server: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, _ = server
    out = await _kubectl(url, tmp_path, "get", "mf", "-n", "default", "-o", "wide")
    assert out.splitlines() == [
        "NAME             KIND         PATH               AGE",
        "deployment.web   Deployment   default/web.yaml   5d3h",
    ]
