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


def manifest(namespace: str, name: str, data: dict[str, str], **annotations: str) -> str:
    """A Manifest declaring ConfigMap `name`, as YAML for kubectl apply -f -."""
    body: dict[str, Any] = {
        "apiVersion": GV,
        "kind": "Manifest",
        "metadata": {"name": f"configmap.{name}", "namespace": namespace},
        "spec": {
            "object": {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": namespace},
                "data": data,
            }
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
