"""The whole environment: etcd, kube-apiserver, kube-controller-manager, and gitplane
installed from manifests/ and run as its Deployments' pods would run.

    with ControlPlane(Path("/tmp/cp")) as cp:     # ready once APIService is Available
        cp.kubectl("get", "manifests", "-A")       # cluster-admin
        cp.user("alice")("-n", "shop", "get", "mf")
        cp.pod("gitplane-apiserver").stop()

DIR holds admin.kubeconfig, users/<name>.kubeconfig, repo (the team's GitOps repository,
bare, served over HTTP with a token by git_http.py; gitplane clones and pushes to it),
ready (written last), install/ (what was applied), pki/, pods/ and logs/. Everything started is stopped on exit, whatever ends it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import shutil
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Any

from pki.authority import write_private_file
from tests.controlplane import components, install
from tests.controlplane.build import Binaries, binaries
from tests.controlplane.certificates import make_pki
from tests.controlplane.components import Ports
from tests.controlplane.image import image_config
from tests.controlplane.kubectl import Kubectl
from tests.controlplane.pods import Pod, deployment_pods
from tests.controlplane.processes import HarnessError, Process, free_port

# Test users: (groups, role in namespace shop). mallory has no binding at all.
USERS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "alice": (("shop-developers",), "edit"),
    "victor": (("shop-auditors",), "view"),
    "mallory": ((), None),
}
SHOP = "shop"
ROOT = Path(__file__).resolve().parents[2]
APISERVICE = "v1alpha1.gitplane.io"


class ControlPlane:
    def __init__(
        self,
        directory: Path,
        *,
        kube_apiserver_port: int = 0,
        built: Binaries | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.directory = directory.resolve()
        self.requested_port = kube_apiserver_port
        self.built = built
        self.say = say or (lambda text: print(text, file=sys.stderr))
        self.processes: list[Process] = []
        self.pods: dict[str, list[Pod]] = {}
        self.timings: dict[str, float] = {}

    # ---- what tests use -------------------------------------------------------------

    @property
    def admin_kubeconfig(self) -> Path:
        return self.directory / "admin.kubeconfig"

    @property
    def kubectl(self) -> Kubectl:
        return Kubectl(self.admin_kubeconfig)

    def user(self, name: str) -> Kubectl:
        return Kubectl(self.directory / "users" / f"{name}.kubeconfig")

    def kubeconfig_of(self, name: str) -> Path:
        return self.directory / "users" / f"{name}.kubeconfig"

    @property
    def repo(self) -> Path:
        return self.directory / "repo"

    def pod(self, deployment: str) -> Pod:
        return self.pods[deployment][0]

    def clone_of(self, deployment: str) -> Path:
        """The pod's clone of the team's repository (its `--repo`, in its emptyDir): where
        what is not pushed, such as refs/gitplane/bookkeeping/<branch>, is kept."""
        pod = self.pod(deployment)
        args = pod.spec["containers"][0]["args"]
        return pod.local_path(args[args.index("--repo") + 1])

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.kube_apiserver}"

    # ---- lifecycle ------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _step(self, name: str, started: float) -> None:
        self.timings[name] = round(time.monotonic() - started, 2)

    def start(self) -> None:
        begun = time.monotonic()
        if (self.directory / "ready").exists():
            (self.directory / "ready").unlink()
        self.directory.mkdir(parents=True, exist_ok=True)
        for previous in ("etcd", "pods", "install", "kube-controller-manager"):
            if (self.directory / previous).is_dir():  # a new cluster each time
                shutil.rmtree(self.directory / previous)
        self.built = self.built or binaries()
        self._step("build", begun)
        self.ports = Ports(
            etcd_client=free_port(),
            etcd_peer=free_port(),
            kube_apiserver=self.requested_port or free_port(),
            kube_controller_manager=free_port(),
        )
        self.pki = make_pki(self.directory / "pki")
        self._start_kubernetes()
        self._step("kubernetes", begun)
        self._make_users()
        if not self.repo.exists():  # kept across runs, as the team's repository would be
            install.seed_repository(self.repo)
        self.git_url = remote = self._start_git_server()
        self.gitplane_ports = {install.APISERVER: free_port(), install.WEBHOOK: free_port()}
        applied = install.make_install(self.directory / "install", remote, self.gitplane_ports)
        install.apply(self.kubectl, applied)
        # What the admin creates by hand (docs/install.md, step 2), never in Git.
        self.kubectl(
            "create", "secret", "generic", "gitplane-git-credentials", "-n", install.NAMESPACE,
            f"--from-file=token={self.git_token}",
        )  # fmt: skip
        self._step("installed", begun)
        self._start_pods()
        self._step("pods", begun)
        self.wait_available(60)
        self._step("ready", begun)
        ready = {
            "kube-apiserver": self.server,
            "git": self.git_url,
            "gitplane-apiserver": f"https://127.0.0.1:{self.gitplane_ports[install.APISERVER]}",
            "gitplane-webhook": f"https://127.0.0.1:{self.gitplane_ports[install.WEBHOOK]}",
            "ports": asdict(self.ports),
            "seconds": self.timings,
        }
        (self.directory / "ready").write_text(json.dumps(ready, indent=2) + "\n")

    def _start_kubernetes(self) -> None:
        assert self.built is not None
        etcd = components.etcd(self.built, self.directory, self.ports)
        self._launch(etcd, lambda: components.etcd_healthy(self.ports), 30, "healthy")
        apiserver = components.kube_apiserver(self.built, self.directory, self.pki, self.ports)
        self._launch(
            apiserver, lambda: components.kube_apiserver_ready(self.pki, self.ports), 90, "ready"
        )
        self.pki.kubeconfig(self.admin_kubeconfig, self.server, self.pki.admin, "admin")
        kcm_config = self.pki.kubeconfig(
            self.directory / "pki" / "kube-controller-manager.kubeconfig",
            self.server,
            self.pki.controller_manager,
            "kube-controller-manager",
        )
        manager = components.kube_controller_manager(
            self.built, self.directory, self.pki, self.ports, kcm_config
        )
        self._launch(
            manager, lambda: components.kube_controller_manager_healthy(self.ports), 60, "healthy"
        )

    def _start_git_server(self) -> str:
        """The team's Git server: DIR/repo over smart HTTP, pushes and fetches with a token."""
        self.git_token = self.directory / "pki" / "git-token"
        write_private_file(self.git_token, secrets.token_urlsafe(24).encode())
        port = free_port()
        url = f"http://127.0.0.1:{port}/repo"
        server = Process(
            "git-http",
            [sys.executable, "-m", "tests.controlplane.git_http", "--repo", str(self.repo),
             "--port", str(port), "--token-file", str(self.git_token)],
            self.directory / "logs" / "git-http.log",
            cwd=ROOT,
            ports=(port,),
        )  # fmt: skip
        token = self.git_token.read_text()

        def serving() -> bool:
            auth = base64.b64encode(f"git:{token}".encode()).decode()
            request = urllib.request.Request(
                f"{url}/info/refs?service=git-upload-pack",
                headers={"Authorization": f"Basic {auth}"},
            )
            with urllib.request.urlopen(request, timeout=3) as response:
                return bool(response.status == 200)

        self._launch(server, serving, 30, "serving the repository")
        return url

    def _launch(
        self, process: Process, ready: Callable[[], bool], timeout: float, what: str
    ) -> None:
        self.processes.append(process)
        process.start()
        process.wait_until(ready, timeout, what)

    def _make_users(self) -> None:
        users = self.directory / "users"
        users.mkdir(exist_ok=True)
        self.kubectl("create", "namespace", SHOP)
        for name, (groups, role) in USERS.items():
            pair = self.pki.user(name, groups)
            self.pki.kubeconfig(users / f"{name}.kubeconfig", self.server, pair, name, SHOP)
            if role:
                self.kubectl(
                    "create", "rolebinding", f"{name}-{role}", f"--clusterrole={role}",
                    f"--user={name}", "-n", SHOP,
                )  # fmt: skip

    def _start_pods(self) -> None:
        self._wait_root_ca()
        deployments = install.installed_deployments(self.kubectl)
        self.pods = deployment_pods(
            deployments,
            self.directory,
            self.kubectl,
            kube_apiserver_port=self.ports.kube_apiserver,
            image=image_config(),
        )
        for pods in self.pods.values():
            for pod in pods:
                pod.start()

    def _wait_root_ca(self, timeout: float = 30) -> None:
        """kube-controller-manager publishes kube-root-ca.crt into every namespace; pods
        that mount a service account wait for it, as they do on a real cluster."""
        deadline = time.monotonic() + timeout
        while self.kubectl.get("configmap", "kube-root-ca.crt", "-n", install.NAMESPACE) is None:
            if time.monotonic() > deadline:
                raise HarnessError(
                    f"kube-root-ca.crt was not published in {install.NAMESPACE} within"
                    f" {timeout:g}s (kube-controller-manager's root-ca-cert-publisher)"
                )
            time.sleep(0.3)

    # ---- stopping and starting gitplane's pods ----------------------------------------

    def stop_pod(self, deployment: str) -> None:
        self.pod(deployment).stop()
        self._endpoints_changed(deployment)

    def start_pod(self, deployment: str, timeout: float = 90) -> None:
        """Start it again and wait until kube-apiserver routes to it once more."""
        self.pod(deployment).start()
        self._endpoints_changed(deployment)
        if deployment == install.APISERVER:
            self.wait_available(timeout)
            deadline = time.monotonic() + timeout
            path = "/apis/gitplane.io/v1alpha1"
            while self.kubectl("get", "--raw", path, check=False).returncode != 0:
                if time.monotonic() > deadline:
                    raise HarnessError(f"{path} not served through kube-apiserver again")
                time.sleep(0.3)

    def _endpoints_changed(self, deployment: str) -> None:
        """On a cluster, a pod that stops or becomes ready changes its Service's
        EndpointSlices, and kube-apiserver's availability controller checks the APIService
        again at once. The ExternalName Service here has none, so the harness updates the
        Service itself, the other change that controller acts on; otherwise it would notice
        only at its next 30 s resync."""
        self.kubectl(
            "annotate", "service", deployment, "-n", install.NAMESPACE, "--overwrite",
            f"controlplane.gitplane.io/pod-changed={time.time():.3f}",
        )  # fmt: skip

    def apiservice_condition(self) -> dict[str, Any] | None:
        found = self.kubectl.get("apiservice", APISERVICE)
        conditions = (found or {}).get("status", {}).get("conditions", [])
        return next((c for c in conditions if c["type"] == "Available"), None)

    def wait_available(self, timeout: float, available: bool = True) -> dict[str, Any]:
        want = "True" if available else "False"
        deadline = time.monotonic() + timeout
        condition = None
        while time.monotonic() < deadline:
            condition = self.apiservice_condition()
            if condition and condition["status"] == want:
                return condition
            for pods in self.pods.values():
                for pod in pods:
                    for process in pod.containers:
                        if available and not process.running:
                            raise process.failure("exited while waiting for the APIService")
            time.sleep(0.3)
        raise HarnessError(
            f"APIService {APISERVICE} was not Available={want} within {timeout:g}s: {condition}"
        )

    def stop(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.directory / "ready").unlink()
        for pods in self.pods.values():
            for pod in pods:
                pod.stop()
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()

    def failed_component(self) -> Process | None:
        """A component that exited on its own (for the harness's watch loop)."""
        for process in self.processes:
            if not process.running:
                return process
        for pods in self.pods.values():
            for pod in pods:
                for process in pod.containers:
                    if not process.running:
                        return process
        return None
