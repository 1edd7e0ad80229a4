"""Starting, watching and stopping the harness's processes, each with its own log file.

Every wait has a deadline, and every failure names the component and ends with the tail
of its log. Children are started in their own process group and are sent SIGKILL by the
kernel if the harness itself dies (PR_SET_PDEATHSIG), so none outlives it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

TAIL_LINES = 25
_PR_SET_PDEATHSIG = 1


class HarnessError(Exception):
    """The control plane could not be built, started or used; the message says why."""


def log_tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    tail = text.splitlines()[-lines:]
    return "\n".join(f"  | {line}" for line in tail) if tail else "  | (empty log)"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def check_port_free(port: int, owner: str) -> None:
    """Fail now, naming the port and who wanted it, rather than with a log line later.
    SO_REUSEADDR as the servers set it: a listener is in the way, a closed connection's
    TIME_WAIT (left by a server that just stopped) is not."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise HarnessError(
                    f"port {port} is already in use: {owner} cannot listen on it"
                ) from None
            raise


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Process:
    """One long-running component: started, waited for, stopped; `log` holds its output."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ports: Sequence[int] = (),
    ) -> None:
        self.name, self.argv, self.log = name, list(argv), log
        self.env, self.cwd, self.ports = env, cwd, tuple(ports)
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        for port in self.ports:
            check_port_free(port, self.name)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            out.write(f"--- {time.strftime('%H:%M:%S')} {' '.join(self.argv)}\n".encode())
            out.flush()
            try:
                self.popen = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=dict(self.env) if self.env is not None else None,
                    cwd=self.cwd,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,  # noqa: PLW1509  # started from the main thread
                )
            except OSError as exc:
                raise HarnessError(f"{self.name}: cannot start {self.argv[0]}: {exc}") from None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def failure(self, what: str) -> HarnessError:
        return HarnessError(f"{self.name} {what}; the end of {self.log}:\n{log_tail(self.log)}")

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str = "ready") -> None:
        """Poll `ready` until it holds; fail at once if the process exits meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                code = self.popen.returncode if self.popen else None
                raise self.failure(f"exited (code {code}) before it was {what}")
            with contextlib.suppress(Exception):
                if ready():
                    return
            if time.monotonic() > deadline:
                raise self.failure(f"was not {what} within {timeout:g}s")
            time.sleep(0.2)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to its process group, SIGKILL after `grace` seconds."""
        popen, self.popen = self.popen, None
        if popen is None or popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGTERM)
        try:
            popen.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(5)


def run(
    argv: Sequence[str],
    *,
    timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    check: bool = True,
    what: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """A short command with a deadline; a failure carries its output."""
    try:
        result = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise HarnessError(f"{what or argv[0]} did not finish within {timeout:g}s") from None
    if check and result.returncode != 0:
        raise HarnessError(
            f"{what or ' '.join(argv[:3])} failed (exit {result.returncode}):\n"
            f"{(result.stderr or result.stdout).strip()}"
        )
    return result
