"""`gitplane up`: the API server (and the webhook) on 127.0.0.1 over a local Git
repository, with a CA, serving certificates and a ready kubeconfig. No cluster."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from apiserver.auth import client_certificate_user, serving_context
from apiserver.secrets.certificate import CertificateError
from apiserver.secrets.options import secret_policy as sealing_policy
from apiserver.serving import default_validator, make_api_app
from kube.serving import DEFAULT_LIMITS, LimitedAppRunner, ServingLimits
from pki.authority import CertificateAuthority, create_authority, write_file
from pki.issue import issue_client_certificate, issue_serving_certificate
from pki.kubeconfig import build_kubeconfig, write_kubeconfig
from pki.tls import ReloadingServerTLS
from store.aio import AsyncStore
from store.remote_options import hook_secret, remote_from_arguments
from store.repo import GitStore
from store.secrets import scan
from webhook.config import WebhookConfig
from webhook.git_desired import GitDesiredState
from webhook.server import make_app as make_webhook_app

log = logging.getLogger("gitplane.up")
ADMIN_USER = "gitplane-admin"
ADMIN_GROUPS = ("system:masters",)


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    cert_file: Path
    key_file: Path
    ca: CertificateAuthority


def prepare_pki(directory: Path) -> Pki:
    """A CA kept across runs (so kubeconfigs keep working) and a fresh serving certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_file, ca_key = directory / "ca.crt", directory / "ca.key"
    if ca_file.exists() and ca_key.exists():
        ca = CertificateAuthority.load(ca_file, ca_key)
    else:
        ca = create_authority("gitplane-local-ca")
        ca.save(ca_file, ca_key)
    serving = issue_serving_certificate(
        ca, ["localhost", "127.0.0.1", "::1"], common_name="gitplane"
    )
    cert_file, key_file = directory / "serving.crt", directory / "serving.key"
    serving.save(cert_file, key_file)
    return Pki(ca_file, cert_file, key_file, ca)


def write_admin_kubeconfig(path: Path, pki: Pki, port: int, namespace: str = "default") -> None:
    client = issue_client_certificate(pki.ca, ADMIN_USER, ADMIN_GROUPS)
    config = build_kubeconfig(
        f"https://127.0.0.1:{port}",
        pki.ca.cert_pem,
        client.cert_pem,
        client.key_pem,
        user=ADMIN_USER,
        namespace=namespace,
    )
    write_kubeconfig(path, config)


@dataclass(frozen=True)
class Prepared:
    directory: Path
    repo: Path
    store: GitStore
    pki: Pki
    hook_secret: bytes | None


def prepare(args: Any) -> Prepared:
    """Everything on disk before serving: the repository, the CA and certificates."""
    directory = Path(args.dir).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    repo = Path(args.repo).resolve() if args.repo else directory / "repo"
    mirror = remote_from_arguments(args, args.branch or "main")
    if mirror is not None:
        # A local clone of the remote; every write is pushed before it is acknowledged.
        repo = directory / "clone.git"
        store = GitStore(repo, branch=args.branch or "main", remote=mirror)
    elif args.repo:
        store = GitStore(repo, branch=args.branch)
    else:
        store = GitStore.init(repo, branch=args.branch or "main")
    return Prepared(directory, repo, store, prepare_pki(directory / "pki"), hook_secret(args))


async def serve(ready: Prepared, args: Any, limits: ServingLimits = DEFAULT_LIMITS) -> int:
    """Both servers, until SIGINT or SIGTERM; `limits`: their connections' (kube.serving)."""
    for finding in scan(ready.store):  # pushed from outside: say so, never the value
        log.warning("plaintext Secret value in the repository: %s", finding)
    try:
        secret_policy = await sealing_policy(args)
    except CertificateError as exc:
        log.error("cannot seal Secrets: %s", exc)
        return 2
    aio = AsyncStore(ready.store, fetch_interval=args.fetch_interval)
    pki = ready.pki
    app = make_api_app(
        aio,
        authenticate=client_certificate_user,
        validator=default_validator(),
        hook_secret=ready.hook_secret,
        transform=secret_policy,
    )
    ssl_context = serving_context(str(pki.cert_file), str(pki.key_file), str(pki.ca_file))
    access_log = None if args.quiet else logging.getLogger("gitplane.access")
    runner = LimitedAppRunner(app, limits=limits, access_log=access_log)
    await runner.setup()
    api_site = web.TCPSite(runner, "127.0.0.1", args.api_port, ssl_context=ssl_context)
    await api_site.start()
    api_port = _bound_port(api_site)
    webhook_runner, webhook_port = await _start_webhook(ready, args, limits)
    kubeconfig = ready.directory / "kubeconfig"
    write_admin_kubeconfig(kubeconfig, pki, api_port)
    endpoints = {
        "api": api_port,
        "webhook": webhook_port,
        "repo": str(ready.repo),
        "kubeconfig": str(kubeconfig),
        "ca": str(pki.ca_file),
    }
    write_file(ready.directory / "endpoints.json", json.dumps(endpoints).encode())
    _banner(ready.repo, kubeconfig, api_port, webhook_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("gitplane: stopping", flush=True)
    await webhook_runner.cleanup()
    await runner.cleanup()
    ready.store.save_parse_cache()
    return 0


async def _start_webhook(
    ready: Prepared, args: Any, limits: ServingLimits
) -> tuple[web.AppRunner, int]:
    """/validate and /mutate over HTTPS, deciding against the same store as the API server."""
    config = WebhookConfig.with_additions(
        default_mode=args.default_mode,
        exempt_users=args.exempt_user,
        break_glass_group=args.break_glass_group,
        strict_namespaces=args.strict,
    )
    app = make_webhook_app(GitDesiredState(ready.store), config)
    tls = ReloadingServerTLS(str(ready.pki.cert_file), str(ready.pki.key_file))
    runner = LimitedAppRunner(app, limits=limits, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.webhook_port, ssl_context=tls.context)
    await site.start()
    return runner, _bound_port(site)


def _bound_port(site: web.TCPSite) -> int:
    server = site._server  # aiohttp keeps the listening sockets here
    sockets = getattr(server, "sockets", None) or []
    for sock in sockets:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            return int(sock.getsockname()[1])
    raise RuntimeError("the API server is not listening")


def _banner(repo: Path, kubeconfig: Path, port: int, webhook_port: int) -> None:
    print(
        f"""gitplane is up.
  API server   https://127.0.0.1:{port}   (gitplane.io/v1alpha1)
  webhook      https://127.0.0.1:{webhook_port}/validate and /mutate
  repository   {repo}
  kubeconfig   {kubeconfig}

Try:
  export KUBECONFIG={kubeconfig}
  kubectl api-resources --api-group=gitplane.io
  kubectl apply -f - <<'EOF'
  apiVersion: gitplane.io/v1alpha1
  kind: Manifest
  metadata: {{name: configmap.settings, namespace: shop}}
  spec:
    object:
      apiVersion: v1
      kind: ConfigMap
      metadata: {{name: settings, namespace: shop}}
      data: {{mode: production}}
  EOF
  kubectl get manifests -A
  kubectl -n shop get revisions
  git -C {repo} log --stat
Stop with Ctrl-C.""",
        flush=True,
    )


def main(args: Any) -> int:
    logging.basicConfig(
        level=logging.INFO if not args.quiet else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    ready = prepare(args)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(serve(ready, args))
    return 0
