"""The webhook of `gitplane up`, in a process of its own, as it runs in a cluster.

gitplane up once served both servers on one event loop, so a document that cost the API
server seconds of CPU held admission for as long. The webhook now runs as `python -m
webhook` over the same repository (it follows the branch within a poll, a quarter of a
second), on a socket gitplane up binds itself, so a busy port is still said in one line
before anything starts. The child dies with its parent, even a parent killed with -9.
"""

from __future__ import annotations

import ctypes
import errno
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1
READY_WITHIN = 120.0  # loading a large repository takes a while


class WebhookError(Exception):
    """The webhook could not be started; the message says why, in one line."""


@dataclass
class WebhookProcess:
    process: subprocess.Popen[bytes]
    port: int

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def listen(port: int, flag: str) -> socket.socket:
    """A listening socket on 127.0.0.1:port (0: a free one); in use: WebhookError."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise WebhookError(
                f"port {port} is already in use on 127.0.0.1: choose another with {flag} PORT"
                f" ({flag} 0 picks a free one)"
            ) from None
        raise
    sock.listen(128)
    return sock


def start(
    repo: Path,
    branch: str,
    cert_file: Path,
    key_file: Path,
    ca_file: Path,
    args: Any,
    *,
    clone: Path | None = None,
) -> WebhookProcess:
    """`python -m webhook` with gitplane up's policy flags, ready (its /readyz answers)."""
    sock = listen(args.webhook_port, "--webhook-port")
    port = int(sock.getsockname()[1])
    command = [sys.executable, "-m", "webhook", "--repo", str(clone or repo), "--branch", branch]
    command += ["--cert-file", str(cert_file), "--key-file", str(key_file)]
    command += ["--bind", "127.0.0.1", "--port", str(port), "--listen-fd", str(sock.fileno())]
    command += ["--default-mode", args.default_mode]
    for flag, values in (
        ("--exempt-user", args.exempt_user),
        ("--strict", args.strict),
        ("--repo-url", getattr(args, "repo_url", [])),
        ("--flux-path", getattr(args, "flux_path", [])),
    ):
        for value in values or []:
            command += [flag, value]
    if args.break_glass_group:
        command += ["--break-glass-group", args.break_glass_group]
    command += ["--cluster-name", args.cluster_name, "--cluster-server", args.cluster_server]
    if args.remote:  # its own clone of the remote, as a webhook replica keeps one
        command += ["--remote", args.remote, "--fetch-interval", str(args.fetch_interval)]
        command += ["--git-username", args.git_username]
        for flag, value in (
            ("--git-ssh-key", args.git_ssh_key),
            ("--git-known-hosts", args.git_known_hosts),
            ("--git-token-file", args.git_token_file),
        ):
            if value:
                command += [flag, value]
    try:
        process = subprocess.Popen(
            command,
            pass_fds=[sock.fileno()],
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - prctl only
        )
    finally:
        sock.close()  # the child holds it now
    webhook = WebhookProcess(process, port)
    try:
        _wait_ready(webhook, ca_file)
    except WebhookError:
        webhook.stop()
        raise
    return webhook


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when gitplane up goes, however it goes."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_ready(webhook: WebhookProcess, ca_file: Path) -> None:
    context = ssl.create_default_context(cafile=str(ca_file))
    url = f"https://127.0.0.1:{webhook.port}/readyz"
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if webhook.process.poll() is not None:
            code = webhook.process.returncode
            raise WebhookError(f"the webhook stopped as it started (exit {code}); see its log")
        try:
            with urllib.request.urlopen(url, context=context, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise WebhookError(f"the webhook did not get ready within {READY_WITHIN:.0f} s")
