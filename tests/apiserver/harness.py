"""A real gitplane API server on 127.0.0.1 with real TLS, driven by the real kubectl."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from apiserver.auth import client_certificate_user, serving_context
from apiserver.secrets.certificate import FileCertificate
from apiserver.secrets.policy import SecretPolicy
from apiserver.serving import default_validator, make_api_app
from gitplane_cli.up import Pki, prepare_pki, write_admin_kubeconfig
from kube.serving import DEFAULT_LIMITS, LimitedAppRunner, ServingLimits
from pki.issue import issue_client_certificate
from pki.kubeconfig import build_kubeconfig, write_kubeconfig
from sources.engine import Settings
from sources.options import desired_store
from store.aio import AsyncStore
from store.repo import GitStore

KUBECTL = shutil.which("kubectl") or "kubectl"


def older_kubectl() -> str | None:
    """Another kubectl on PATH than the 1.37 wheel's (e.g. a distribution's), if any."""
    seen = {os.path.realpath(KUBECTL)}
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = os.path.join(directory, "kubectl")
        if os.access(candidate, os.X_OK) and os.path.realpath(candidate) not in seen:
            return candidate
    return None


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def yaml(self) -> Any:
        return yaml.safe_load(self.out)


@dataclass
class Server:
    directory: Path
    repo: Path
    store: GitStore
    pki: Pki
    port: int
    kubeconfig: Path
    env: dict[str, str] = field(default_factory=dict)

    async def kubectl(
        self,
        *args: str,
        binary: str | None = None,
        stdin: str | None = None,
        kubeconfig: Path | None = None,
        env: dict[str, str] | None = None,
        within: float = 60,
    ) -> Result:
        process = await asyncio.create_subprocess_exec(
            binary or KUBECTL,
            f"--kubeconfig={kubeconfig or self.kubeconfig}",
            *args,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**self.env, **(env or {})},
        )
        out, err = await asyncio.wait_for(
            process.communicate(stdin.encode() if stdin else None), within
        )
        return Result(process.returncode or 0, out.decode(), err.decode())

    async def ok(self, *args: str, stdin: str | None = None) -> Result:
        result = await self.kubectl(*args, stdin=stdin)
        assert result.code == 0, f"kubectl {' '.join(args)} failed: {result.err}"
        return result

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.repo), *args], check=True, capture_output=True, text=True
        ).stdout

    def client_context(
        self, user: str = "gitplane-admin", groups: tuple[str, ...] = ("system:masters",)
    ) -> ssl.SSLContext:
        """TLS trusting the server, with a client certificate for `user` (none if "")."""
        context = ssl.create_default_context(cafile=str(self.pki.ca_file))
        if user:
            client = issue_client_certificate(self.pki.ca, user, groups)
            cert, key = self.directory / f"{user}.crt", self.directory / f"{user}.key"
            client.save(cert, key)
            context.load_cert_chain(str(cert), str(key))
        return context

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def kubeconfig_for(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        client = issue_client_certificate(self.pki.ca, user, groups)
        path = self.directory / f"kubeconfig-{user}"
        write_kubeconfig(
            path,
            build_kubeconfig(
                f"https://127.0.0.1:{self.port}",
                self.pki.ca.cert_pem,
                client.cert_pem,
                client.key_pem,
                user=user,
            ),
        )
        return path


async def start_server(
    directory: Path,
    store: GitStore | None = None,
    hook_secret: bytes | None = None,
    sealing_cert: Path | None = None,
    limits: ServingLimits = DEFAULT_LIMITS,
    settings: Settings | None = None,
) -> tuple[Server, web.AppRunner]:
    """The API server as gitplane up serves it: what the reconcilers apply from `store`
    (a plain repository as it is), rendered with `settings`."""
    repo = directory / "repo"
    store = store or GitStore.init(repo)
    repo = Path(store.path)
    pki = prepare_pki(directory / "pki")
    rendered, history = desired_store(store, settings)
    app = make_api_app(
        AsyncStore(rendered, history=history, poll_interval=0.1),
        authenticate=client_certificate_user,
        validator=default_validator(),
        bookmark_every=0.5,
        hook_secret=hook_secret,
        transform=SecretPolicy(FileCertificate(sealing_cert)) if sealing_cert else None,
    )
    runner = LimitedAppRunner(app, limits=limits, access_log=None)
    await runner.setup()
    site = web.TCPSite(
        runner,
        "127.0.0.1",
        0,
        ssl_context=serving_context(str(pki.cert_file), str(pki.key_file), str(pki.ca_file)),
    )
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    kubeconfig = directory / "kubeconfig"
    write_admin_kubeconfig(kubeconfig, pki, port)
    home = directory / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "KUBECACHEDIR": str(directory / "kube-cache"),
        "KUBE_EDITOR": "false",
    }
    return Server(directory, repo, store, pki, port, kubeconfig, env), runner
