"""The real kubectl decodes our Status bodies as it decodes kube-apiserver's."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from kube.status import (
    ApiError,
    Conflict,
    Expired,
    FieldError,
    Forbidden,
    GroupKind,
    GroupResource,
    Invalid,
    NotFound,
    Unauthorized,
)

KUBECTL = shutil.which("kubectl") or str(Path(sys.executable).with_name("kubectl"))
MANIFESTS = GroupResource("gitplane.io", "manifests")

ERRORS: dict[str, ApiError] = {
    "not-found": NotFound(MANIFESTS, "deployment.web"),
    "conflict": Conflict(MANIFESTS, "deployment.web"),
    "invalid": Invalid(
        GroupKind("gitplane.io", "Manifest"),
        "deployment.web",
        [
            FieldError.invalid("spec.object.spec.replicas", "three", "must be an integer"),
            FieldError.required("metadata.namespace"),
        ],
    ),
    "forbidden": Forbidden.for_request(
        "bob", "get", group="gitplane.io", resource="manifests", namespace="default"
    ),
    "unauthorized": Unauthorized(),
    "expired": Expired.too_old_resource_version(3, 10),
}

pytestmark = pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl not installed")


@pytest.fixture
async def status_server() -> AsyncIterator[str]:
    async def answer(request: web.Request) -> web.Response:
        error = ERRORS[request.match_info["case"]]
        return web.json_response(error.status(), status=error.code, headers=error.headers())

    app = web.Application()
    app.router.add_get("/status/{case}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def _kubectl_get_raw(server: str, path: str, home: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        KUBECTL,
        f"--server={server}",
        "--kubeconfig=/dev/null",
        "get",
        "--raw",
        path,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, err.decode()


@pytest.mark.parametrize(
    ("case", "printed"),
    [
        (
            "not-found",
            'Error from server (NotFound): manifests.gitplane.io "deployment.web" not found',
        ),
        (
            "conflict",
            "Error from server (Conflict): Operation cannot be fulfilled on "
            'manifests.gitplane.io "deployment.web": the object has been modified; please apply '
            "your changes to the latest version and try again",
        ),
        (
            "invalid",
            'The Manifest "deployment.web" is invalid: \n'
            '* spec.object.spec.replicas: Invalid value: "three": must be an integer\n'
            "* metadata.namespace: Required value",
        ),
        (
            "forbidden",
            "Error from server (Forbidden): manifests.gitplane.io is forbidden: "
            'User "bob" cannot get resource "manifests" in API group "gitplane.io" '
            'in the namespace "default"',
        ),
        ("unauthorized", "error: You must be logged in to the server (Unauthorized)"),
        ("expired", "Error from server (Expired): too old resource version: 3 (10)"),
    ],
)
async def test_kubectl_prints_our_errors_like_kube_apiservers(
    status_server: str, tmp_path: Path, case: str, printed: str
) -> None:
    code, err = await _kubectl_get_raw(status_server, f"/status/{case}", tmp_path)
    assert code != 0
    assert printed in err
