"""`gitplane up`: the API server (and the webhook) on 127.0.0.1 over a local Git
repository, with a CA, serving certificates and a ready kubeconfig. No cluster."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2
from aiohttp import web

from apiserver.auth import client_certificate_user, serving_context
from apiserver.secrets.certificate import CertificateError
from apiserver.secrets.options import secret_policy as sealing_policy
from apiserver.serving import default_validator, make_api_app
from gitplane_cli import webhook_process
from kube.serving import DEFAULT_LIMITS, LimitedAppRunner, ServingLimits
from pki.authority import CertificateAuthority, create_authority, write_file
from pki.issue import issue_client_certificate, issue_serving_certificate
from pki.kubeconfig import build_kubeconfig, write_kubeconfig
from sources.options import desired_store, settings_from
from sources.report import report_problems
from sources.view import RenderedStore
from store.aio import AsyncStore
from store.remote_options import hook_secret, remote_from_arguments
from store.repo import GitStore
from store.secret_scan import scan

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


class UpError(Exception):
    """A reason `gitplane up` cannot start, said in one line; `code` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def check_arguments(args: Any) -> None:
    """What can be refused before anything is written to --dir."""
    if args.repo and not _is_repository(Path(args.repo)):
        raise UpError(
            f"no Git repository at {args.repo} (create one with `git init` or omit --repo)", 2
        )


def _is_repository(path: Path) -> bool:
    try:
        pygit2.Repository(str(path))
    except (pygit2.GitError, KeyError):
        return False
    return True


def prepare(args: Any) -> Prepared:
    """Everything on disk before serving: the repository, the CA and certificates."""
    directory = Path(args.dir).resolve()
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
    rendered, history = desired_store(ready.store, settings_from(args, ready.store))
    report_problems(rendered)
    aio = AsyncStore(rendered, history=history, fetch_interval=args.fetch_interval)
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
    try:
        api_site = web.TCPSite(runner, "127.0.0.1", args.api_port, ssl_context=ssl_context)
        await _listen(api_site, args.api_port, "--api-port")
        api_port = _bound_port(api_site)
        webhook = await asyncio.to_thread(_start_webhook, ready, args)
        webhook_port = webhook.port
    except UpError:
        await runner.cleanup()
        raise
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
    _banner(ready.repo, kubeconfig, api_port, webhook_port, _next_steps(rendered, ready.repo))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("gitplane: stopping", flush=True)
    (ready.directory / "endpoints.json").unlink(missing_ok=True)  # nothing is served there now
    webhook.stop()
    await runner.cleanup()
    ready.store.save_parse_cache()
    return 0


async def _listen(site: web.TCPSite, port: int, flag: str) -> None:
    """Start listening; a port in use is one line that names it and the flag to change."""
    try:
        await site.start()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise UpError(
            f"port {port} is already in use on 127.0.0.1: choose another with {flag} PORT"
            f" ({flag} 0 picks a free one)"
        ) from None


def _start_webhook(ready: Prepared, args: Any) -> webhook_process.WebhookProcess:
    """/validate and /mutate over HTTPS, in a process of their own over the same
    repository (gitplane_cli.webhook_process)."""
    pki = ready.pki
    branch = ready.store.branch_ref.removeprefix("refs/heads/")
    clone = ready.directory / "webhook-clone.git" if args.remote else None
    try:
        return webhook_process.start(
            ready.repo, branch, pki.cert_file, pki.key_file, pki.ca_file, args, clone=clone
        )
    except webhook_process.WebhookError as exc:
        raise UpError(str(exc)) from None


def _bound_port(site: web.TCPSite) -> int:
    server = site._server  # aiohttp keeps the listening sockets here
    sockets = getattr(server, "sockets", None) or []
    for sock in sockets:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            return int(sock.getsockname()[1])
    raise RuntimeError("the API server is not listening")


def _banner(repo: Path, kubeconfig: Path, port: int, webhook_port: int, steps: str) -> None:
    print(
        f"""gitplane is up.
  API server   https://127.0.0.1:{port}   (gitplane.io/v1alpha1)
  webhook      https://127.0.0.1:{webhook_port}/validate and /mutate
  repository   {repo}
  kubeconfig   {kubeconfig}

Try:
  export KUBECONFIG={kubeconfig}
{steps}
Stop with Ctrl-C.""",
        flush=True,
    )


_FIRST_OBJECT = """\
  kubectl apply -f - <<'EOF'
  apiVersion: gitplane.io/v1alpha1
  kind: Manifest
  metadata: {name: configmap.settings, namespace: shop}
  spec:
    object:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: settings, namespace: shop}
      data: {mode: production}
  EOF"""


def _next_steps(rendered: RenderedStore, repo: Path) -> str:
    """What to try on this repository: its sources and a namespace they apply to, else
    its busiest namespace, else a first object to create."""
    counts = collections.Counter(k.namespace for k, _ in rendered.head.snapshot.objects.items())
    wanted = rendered.destinations() if rendered.rendering else None
    namespaces = [ns for ns, _ in counts.most_common() if ns and (wanted is None or ns in wanted)]
    lines = ["  kubectl api-resources --api-group=gitplane.io"]
    if rendered.rendering:
        lines.append("  kubectl get sources")
    if namespaces:
        lines += [
            f"  kubectl -n {namespaces[0]} get manifests -o wide",
            f"  kubectl -n {namespaces[0]} get revisions",
        ]
    else:
        lines += [_FIRST_OBJECT, "  kubectl get manifests -A", "  kubectl -n shop get revisions"]
    lines.append(f"  git -C {repo} log --stat")
    return "\n".join(lines)


def main(args: Any) -> int:
    logging.basicConfig(
        level=logging.INFO if not args.quiet else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        check_arguments(args)
        with hold_directory(Path(args.dir).resolve()):
            ready = prepare(args)
            with contextlib.suppress(KeyboardInterrupt):
                return asyncio.run(serve(ready, args))
    except UpError as exc:
        print(f"gitplane up: {exc}", file=sys.stderr)
        return exc.code
    return 0


@contextlib.contextmanager
def hold_directory(directory: Path) -> Iterator[None]:
    """One `gitplane up` per --dir: a second one would rewrite the kubeconfig and the
    endpoints of the first. The lock is the kernel's (flock), so a crashed process never
    leaves it held; the file names the process that holds it."""
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    lock_path = directory / "gitplane-up.lock"
    with open(lock_path, "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise UpError(
                f"{directory} is in use by a running `gitplane up` ({holder}): stop it first,"
                " or give this one another --dir"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}")
        lock.flush()
        try:
            yield
        except BaseException:
            if created and not any(p != lock_path for p in directory.iterdir()):
                shutil.rmtree(directory, ignore_errors=True)  # leave no empty state behind
            raise
        finally:
            lock.seek(0)
            lock.truncate()
