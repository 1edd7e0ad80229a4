"""One real control plane for this package's tests (tests/controlplane), gitplane installed
on it; it is stopped after the package's last test, so the rest of the suite does not share
the machine with it.

Without Go the control plane cannot be built: the suite is skipped with the reason, unless
CI is set, where that is a failure (CI must run it).
"""

from __future__ import annotations

import base64
import json
import os
import queue
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.controlplane.build import Binaries, GoMissing, binaries, go_command
from tests.controlplane.environment import ControlPlane
from tests.controlplane.kubectl import Kubectl, kubectl_binary
from tests.controlplane.processes import run

GV = "gitplane.io/v1alpha1"


@pytest.fixture(scope="session")
def programs() -> Binaries:
    """etcd, kube-apiserver, kube-controller-manager and the informer, built if need be."""
    try:
        go_command()
    except GoMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the real control plane: {exc}")
        pytest.skip(str(exc))
    return binaries()


@pytest.fixture(scope="package")
def cluster(programs: Binaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path_factory.mktemp("controlplane"), built=programs) as cp:
        yield cp


@pytest.fixture(scope="package")
def admin(cluster: ControlPlane) -> Kubectl:
    return cluster.kubectl


def manifest(
    namespace: str,
    name: str,
    data: dict[str, str],
    *,
    labels: dict[str, str] | None = None,
    **annotations: str,
) -> str:
    """A Manifest declaring ConfigMap `name` (with `labels`), as YAML for kubectl apply -f -."""
    declared: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        declared["labels"] = labels
    body: dict[str, Any] = {
        "apiVersion": GV,
        "kind": "Manifest",
        "metadata": {"name": f"configmap.{name}", "namespace": namespace},
        "spec": {
            "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": declared, "data": data}
        },
    }
    if annotations:
        body["metadata"]["annotations"] = annotations
    return yaml.safe_dump(body)


def create_namespace(admin: Kubectl, name: str, *, bindings: dict[str, str] | None = None) -> None:
    admin("create", "namespace", name)
    for user, role in (bindings or {}).items():
        admin(
            "create",
            "rolebinding",
            f"{user}-{role}",
            f"--clusterrole={role}",
            f"--user={user}",
            "-n",
            name,
        )


def eventually(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll until `check` returns something truthy; fail with its last error otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as exc:
            last = exc
        else:
            if result:
                return result
            last = result
        time.sleep(0.25)
    pytest.fail(f"{what} not met within {timeout:g}s (last: {last!r})")


def log_of(repo: Path, *args: str) -> str:
    return run(["git", "--git-dir", str(repo), "log", *args]).stdout


def ref_of(repo: Path, name: str) -> str | None:
    """The commit `name` points at in `repo` (bare or not), None when there is no such ref."""
    found = run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", name], check=False)
    return found.stdout.strip() if found.returncode == 0 else None


def file_at(repo: Path, ref: str, path: str) -> str | None:
    """The file `path` at `ref` in `repo`, None when it is not there."""
    found = run(["git", "-C", str(repo), "show", f"{ref}:{path}"], check=False)
    return found.stdout if found.returncode == 0 else None


def push_from_outside(repo: Path, files: dict[str, str | None], message: str) -> str:
    """A commit made with plain git by someone else and pushed to the team's repository:
    path -> content (None deletes). Returns the new commit id."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Outside Olga",
        "GIT_AUTHOR_EMAIL": "olga@example.com",
        "GIT_COMMITTER_NAME": "Outside Olga",
        "GIT_COMMITTER_EMAIL": "olga@example.com",
    }
    with tempfile.TemporaryDirectory() as work:
        run(["git", "clone", "--quiet", str(repo), work], env=env)
        for path, content in files.items():
            target = Path(work, path)
            if content is None:
                run(["git", "-C", work, "rm", "--quiet", path], env=env)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
                run(["git", "-C", work, "add", path], env=env)
        run(["git", "-C", work, "commit", "--quiet", "-m", message], env=env)
        run(["git", "-C", work, "push", "--quiet", "origin", "HEAD:main"], env=env)
        return run(["git", "-C", work, "rev-parse", "HEAD"], env=env).stdout.strip()


def direct_kubeconfig(cluster: ControlPlane, user_kubeconfig: Path, path: Path) -> Kubectl:
    """`user_kubeconfig`'s credentials, sent straight to gitplane's API server (bypassing
    kube-apiserver), which trusts kube-apiserver's client CA for client certificates."""
    config = yaml.safe_load(user_kubeconfig.read_text())
    ca = (cluster.directory / "install" / "ca.crt").read_bytes()
    for entry in config["clusters"]:
        entry["cluster"] = {
            "server": f"https://127.0.0.1:{cluster.gitplane_ports['gitplane-apiserver']}",
            "certificate-authority-data": base64.b64encode(ca).decode(),
            "tls-server-name": "gitplane-apiserver.gitplane-system.svc",
        }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return Kubectl(path)


def webhook_metrics(cluster: ControlPlane) -> dict[str, float]:
    """The webhook's /metrics: decision counts by their labels."""
    context = ssl.create_default_context(cafile=str(cluster.directory / "install" / "ca.crt"))
    url = f"https://127.0.0.1:{cluster.gitplane_ports['gitplane-webhook']}/metrics"
    with urllib.request.urlopen(url, timeout=5, context=context) as response:
        text = response.read().decode()
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("gitplane_webhook_decisions_total{"):
            labels, _, count = line.rpartition(" ")
            found[labels] = float(count)
    return found


def raw_get(cluster: ControlPlane, path: str, accept: str) -> tuple[int, dict[str, str], Any]:
    """GET through kube-apiserver as cluster-admin with a chosen Accept header."""
    pki = cluster.pki
    context = ssl.create_default_context(cafile=str(pki.serving_ca))
    context.load_cert_chain(str(pki.admin.cert), str(pki.admin.key))
    request = urllib.request.Request(cluster.server + path, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


class Watch:
    """`kubectl ... -w` in the background; its lines as they come (read by a thread, so
    none waits in a buffer that select() cannot see)."""

    def __init__(self, kubectl: Kubectl, *args: str) -> None:
        self.process = subprocess.Popen(
            [kubectl_binary(), f"--kubeconfig={kubectl.kubeconfig}", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        seen = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            seen.append(line)
            if text in line:
                return line
        pytest.fail(f"{text!r} not seen within {timeout:g}s; saw {seen!r}")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(5)


class Informer:
    """tests/go/informer (client-go v0.37.2) as a subprocess, its JSON lines as they come:
    a dynamic shared informer on manifests in `namespace` (`*args`: --label-selector), or
    with "--watch" one plain client-go watch. command() sends it a line on stdin
    ("rewatch", "future")."""

    def __init__(self, cluster: ControlPlane, namespace: str, *args: str) -> None:
        assert cluster.built is not None
        self.namespace = namespace
        self.process = subprocess.Popen(
            [
                str(cluster.built.informer),
                f"--kubeconfig={cluster.admin_kubeconfig}",
                f"--namespace={namespace}",
                *args,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def _take(self, deadline: float) -> dict[str, Any] | None:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            line = self.lines.get(timeout=left)
        except queue.Empty:
            return None
        self.seen.append(line)
        return line

    def expect(
        self,
        kind: str,
        name: str | None = None,
        *,
        where: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """The first line to come of that type (for that object, `where` holds)."""
        deadline = time.monotonic() + timeout
        while (line := self._take(deadline)) is not None:
            if (
                line["type"] == kind
                and (name is None or line.get("name") == name)
                and (where is None or where(line))
            ):
                return line
        pytest.fail(f"informer: no {kind} {name or ''} within {timeout:g}s; saw {self.events()}")

    def next(self, kind: str, name: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
        """The next event (not a REQUEST or LOG line), which must be `kind` for `name`."""
        deadline = time.monotonic() + timeout
        while (line := self._take(deadline)) is not None:
            if line["type"] in ("REQUEST", "LOG"):
                continue
            if line["type"] != kind or (name is not None and line.get("name") != name):
                pytest.fail(f"informer: {line} came where {kind} {name or ''} was expected")
            return line
        pytest.fail(f"informer: no event within {timeout:g}s; saw {self.events()}")

    def events(self) -> list[dict[str, Any]]:
        return [line for line in self.seen if line["type"] not in ("REQUEST", "LOG")]

    def requests(self, since: int = 0) -> list[str]:
        """The URLs of the requests seen, from the `since`-th on."""
        return [line["url"] for line in self.request_lines(since)]

    def request_lines(self, since: int = 0) -> list[dict[str, Any]]:
        return [line for line in self.seen if line["type"] == "REQUEST"][since:]

    def find(
        self, kind: str, where: Callable[[dict[str, Any]], bool], timeout: float = 30.0
    ) -> dict[str, Any]:
        """A line of that type for which `where` holds, already seen or still to come."""
        for line in self.seen:
            if line["type"] == kind and where(line):
                return line
        return self.expect(kind, where=where, timeout=timeout)

    def logs(self) -> list[str]:
        return [line["message"] for line in self.seen if line["type"] == "LOG"]

    def command(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
