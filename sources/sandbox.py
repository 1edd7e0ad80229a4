"""The render tools run confined to the workspace.

kustomize and Helm read whatever paths a repository names: with Flux's load restrictions
(none), `configMapGenerator: files: [/etc/gitplane/tls/tls.key]` would serve the server's
private key as a ConfigMap to anyone who can commit. Flux and Argo CD confine their builds
to the checkout; gitplane does it with Landlock, the kernel's unprivileged sandbox: the
tools run from one thread that has restricted itself (a Landlock domain holds for a thread
and the processes it starts, never for the server's other threads). Confined, a tool may
read and write only the workspace, execute only the tool binaries, connect and bind no TCP
port, and signal nothing outside its own domain.

Where the kernel has no Landlock (or seccomp forbids it), the tools run unconfined and
the server says so once, in its log: the repository's own references are still checked
before a build (sources.closure refuses paths that leave the repository).
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import subprocess
import threading
import weakref
from pathlib import Path
from typing import Any

import landlockpy

log = logging.getLogger("gitplane.sources")


class Sandbox:
    """Runs tool commands confined to `root` (the workspace)."""

    def __init__(self, root: Path, tools: tuple[str, ...]) -> None:
        self.root = root
        self.tools = tools
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.confined: bool | None = None  # known once the first tool ran

    def run(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """subprocess.run(command, **kwargs) from the confined thread."""
        pool = self._started()

        def run() -> subprocess.CompletedProcess[str]:
            return subprocess.run(command, **kwargs)  # noqa: PLW1510 - callers pass check

        return pool.submit(run).result()

    def _started(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self.root.mkdir(parents=True, exist_ok=True)
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="gitplane-render"
                )
                weakref.finalize(self, self._pool.shutdown, wait=False)
                self.confined = self._pool.submit(self._confine).result()
            return self._pool

    def _confine(self) -> bool:
        """Restrict the calling thread (the pool's one thread); False where not possible."""
        reason = unavailable()
        if reason is None:
            try:
                _restrict(self.root, self.tools)
                return True
            except (OSError, RuntimeError, landlockpy.LandlockError) as exc:
                reason = f"Landlock refused: {exc}"
        log.warning(
            "renders are not sandboxed (%s): kustomize and Helm may read any file this"
            " process can; references outside the repository are still refused",
            reason,
        )
        return False

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False)
                self._pool = None


def unavailable() -> str | None:
    """Why the tools cannot be confined here (None: they can)."""
    try:
        version = landlockpy.abi_version()
    except (OSError, landlockpy.LandlockError) as exc:
        return f"Landlock is not usable: {exc}"
    if version < 1:
        return "the kernel has no Landlock"
    return None


def _restrict(root: Path, tools: tuple[str, ...]) -> None:
    fs = landlockpy.AccessFS
    scoped = landlockpy.Scope.ABSTRACT_UNIX_SOCKET | landlockpy.Scope.SIGNAL
    with landlockpy.Ruleset(scoped=scoped) as ruleset:
        everything = ruleset.handled_fs
        ruleset.allow_path(str(root), everything)
        for tool in tools:
            real = os.path.realpath(tool)
            if os.path.isfile(real):
                ruleset.allow_path(real, (fs.READ_FILE | fs.EXECUTE) & everything)
        for device in ("/dev/null", "/dev/urandom"):
            if os.path.exists(device):
                ruleset.allow_path(device, (fs.READ_FILE | fs.WRITE_FILE) & everything)
        ruleset.restrict()
