"""A Deployment's pod run as local processes, the way kubelet would run it minus the container.

There is no kubelet here, so this does its part for the pods of gitplane-system, from the
Deployment as kube-apiserver stores it (what `kubectl apply -k` installed):

- volumes: each Secret and ConfigMap volume is read from kube-apiserver and written out
  (keys or `items`, `defaultMode`, `optional`); emptyDirs are empty directories; the
  service-account volume holds a TokenRequest token for the pod's ServiceAccount, the
  namespace's kube-root-ca.crt and the namespace, unless automounting is off;
- environment: the image's (Dockerfile), then what kubelet adds (KUBERNETES_SERVICE_HOST
  and _PORT, here kube-apiserver's loopback address; HOSTNAME), then the container's
  `env` in order (`value`, `configMapKeyRef`, `secretKeyRef`, `fieldRef`), with `$(VAR)`
  expanded in env values, command and args as kubelet expands them;
- mounts: every path under a volumeMount's mountPath, in the arguments and the
  environment, is read as the same path under that volume's local directory (a bind mount
  would keep the path; the process's files are the same); a /tmp mount is also TMPDIR;
- probes: the startup and readiness probes' httpGet, as kubelet sends them (HTTPS without
  verifying the certificate), decide when the pod is ready;
- init containers run to completion first; stopping is SIGTERM, then SIGKILL after
  terminationGracePeriodSeconds.

What cannot be had without a container: the user and group (processes run as this user),
a read-only root filesystem, resource limits, seccomp, and a network namespace of its own
(so one replica per Deployment: two would want the same port).
"""

from __future__ import annotations

import base64
import re
import shutil
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.controlplane.image import ImageConfig
from tests.controlplane.kubectl import Kubectl
from tests.controlplane.processes import HarnessError, Process

SERVICE_ACCOUNT_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
LAUNCH = Path(__file__).resolve().parent / "launch.py"
TOKEN_LIFETIME = "24h"
_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")

Obj = dict[str, Any]


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined references are replaced, others kept, $$ is $."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _REFERENCE.sub(replace, text)


@dataclass
class Mounts:
    """mountPath -> local directory, longest first so nested mounts win."""

    paths: list[tuple[str, Path]] = field(default_factory=list)

    def add(self, mount_path: str, local: Path) -> None:
        self.paths.append((mount_path.rstrip("/") or "/", local))
        self.paths.sort(key=lambda pair: len(pair[0]), reverse=True)

    def local(self, path: str) -> str:
        for mount_path, local in self.paths:
            if path == mount_path or path.startswith(mount_path + "/"):
                return str(local) + path[len(mount_path) :]
        return path

    def remap(self, value: str) -> str:
        """A path argument, or the path after `--flag=`."""
        if value.startswith("/"):
            return self.local(value)
        flag, sep, rest = value.partition("=")
        if sep and rest.startswith("/"):
            return f"{flag}={self.local(rest)}"
        return value


class Pod:
    def __init__(
        self,
        deployment: Obj,
        ordinal: int,
        root: Path,
        admin: Kubectl,
        *,
        kube_apiserver_port: int,
        image: ImageConfig,
    ) -> None:
        self.deployment = deployment
        self.namespace = deployment["metadata"]["namespace"]
        self.name = f"{deployment['metadata']['name']}-{ordinal}"
        self.spec: Obj = deployment["spec"]["template"]["spec"]
        self.root = root / "pods" / self.name
        self.logs = root / "logs"
        self.admin = admin
        self.kube_apiserver_port = kube_apiserver_port
        self.image = image
        self.containers: list[Process] = []
        self._service_account: Path | None = None

    # ---- kubelet's part -------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> None:
        volumes = self._volumes()
        for init in self.spec.get("initContainers", []):
            process = self._process(init, volumes, init=True)
            process.start()
            self._wait_exit(process, timeout)
        self.containers = [self._process(c, volumes) for c in self.spec["containers"]]
        for process in self.containers:
            process.start()
        for container, process in zip(self.spec["containers"], self.containers, strict=True):
            for kind in ("startupProbe", "readinessProbe"):
                if kind in container:
                    probe = container[kind]
                    process.wait_until(
                        lambda p=probe, c=container: self._probe(p, c),
                        timeout,
                        f"passing its {kind}",
                    )

    def stop(self) -> None:
        grace = float(self.spec.get("terminationGracePeriodSeconds", 30))
        for process in self.containers:
            process.stop(grace)

    @property
    def running(self) -> bool:
        return bool(self.containers) and all(p.running for p in self.containers)

    def ready(self) -> bool:
        return self.running and all(
            self._probe(c["readinessProbe"], c)
            for c in self.spec["containers"]
            if "readinessProbe" in c
        )

    def local_path(self, path: str, container: str | None = None) -> Path:
        """Where `path`, as the first container (or the one named) sees it, is here."""
        spec = next(c for c in self.spec["containers"] if container in (None, c["name"]))
        volumes = {
            v["name"]: self.root / "volumes" / v["name"] for v in self.spec.get("volumes", [])
        }
        return Path(self._mounts(spec, volumes).local(path))

    # ---- volumes --------------------------------------------------------------------

    def _volumes(self) -> dict[str, Path]:
        local: dict[str, Path] = {}
        for volume in self.spec.get("volumes", []):
            directory = self.root / "volumes" / volume["name"]
            if directory.exists():
                shutil.rmtree(directory)  # kubelet gives a new pod fresh volumes
            directory.mkdir(parents=True)
            if "secret" in volume:
                source = volume["secret"]
                self._project("secret", source["secretName"], source, directory)
            elif "configMap" in volume:
                source = volume["configMap"]
                self._project("configmap", source["name"], source, directory)
            elif "emptyDir" not in volume:
                raise HarnessError(f"{self.name}: volume {volume['name']}: type not supported here")
            local[volume["name"]] = directory
        self._service_account = self._mount_service_account()
        return local

    def _project(self, kind: str, name: str, source: Obj, directory: Path) -> None:
        found = self.admin.get(kind, name, "-n", self.namespace)
        if found is None:
            if source.get("optional"):
                return
            raise HarnessError(
                f"{self.name}: {kind} {self.namespace}/{name} not found: kubelet would keep"
                " the pod in ContainerCreating"
            )
        raw = found.get("data") or {}
        if kind == "secret":
            data = {k: base64.b64decode(v) for k, v in raw.items()}
        else:
            data = {k: str(v).encode() for k, v in raw.items()}
        items = source.get("items") or [{"key": k, "path": k} for k in data]
        mode = source.get("defaultMode", 0o644)
        for item in items:
            if item["key"] not in data:
                if source.get("optional"):
                    continue
                raise HarnessError(f"{self.name}: {kind} {name} has no key {item['key']}")
            target = directory / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data[item["key"]])
            target.chmod(item.get("mode", mode))

    def _mount_service_account(self) -> Path | None:
        account = self.spec.get("serviceAccountName", "default")
        declared = self.admin.get("serviceaccount", account, "-n", self.namespace)
        if declared is None:
            raise HarnessError(f"{self.name}: serviceaccount {self.namespace}/{account} not found")
        automount = self.spec.get(
            "automountServiceAccountToken", declared.get("automountServiceAccountToken", True)
        )
        if not automount:
            return None
        directory = self.root / "serviceaccount"
        directory.mkdir(parents=True, exist_ok=True)
        token = self.admin(
            "create", "token", account, "-n", self.namespace, f"--duration={TOKEN_LIFETIME}"
        ).stdout.strip()
        (directory / "token").write_text(token)
        root_ca = self.admin.get("configmap", "kube-root-ca.crt", "-n", self.namespace)
        if root_ca is None:
            raise HarnessError(f"{self.name}: no kube-root-ca.crt in {self.namespace} yet")
        (directory / "ca.crt").write_text(root_ca["data"]["ca.crt"])
        (directory / "namespace").write_text(self.namespace)
        return directory

    # ---- one container --------------------------------------------------------------

    def _mounts(self, container: Obj, volumes: dict[str, Path]) -> Mounts:
        mounts = Mounts()
        for mount in container.get("volumeMounts", []):
            local = volumes[mount["name"]]
            if mount.get("subPath"):
                local = local / mount["subPath"]
            mounts.add(mount["mountPath"], local)
        if self._service_account is not None:
            mounts.add(SERVICE_ACCOUNT_MOUNT, self._service_account)
        return mounts

    def _environment(self, container: Obj, mounts: Mounts) -> dict[str, str]:
        env = dict(self.image.env)
        env |= {
            "HOSTNAME": self.name,
            "HOME": str(self.root / "home"),
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.kube_apiserver_port),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(self.kube_apiserver_port),
        }
        (self.root / "home").mkdir(parents=True, exist_ok=True)
        declared: dict[str, str] = {}
        for source in container.get("envFrom", []):
            declared |= self._env_from(source)
        for variable in container.get("env", []):
            value = self._env_value(variable, container)
            if value is not None:
                declared[variable["name"]] = expand(value, declared)
        env |= {name: mounts.remap(value) for name, value in declared.items()}
        tmp = mounts.local("/tmp")
        if tmp != "/tmp":
            env["TMPDIR"] = tmp
        return env

    def _env_from(self, source: Obj) -> dict[str, str]:
        kind, ref = (
            ("configmap", source["configMapRef"])
            if "configMapRef" in source
            else (
                "secret",
                source["secretRef"],
            )
        )
        found = self.admin.get(kind, ref["name"], "-n", self.namespace)
        if found is None:
            if ref.get("optional"):
                return {}
            raise HarnessError(f"{self.name}: envFrom {kind} {ref['name']} not found")
        data = found.get("data") or {}
        if kind == "secret":
            data = {k: base64.b64decode(v).decode() for k, v in data.items()}
        prefix = source.get("prefix", "")
        return {prefix + k: v for k, v in data.items()}

    def _env_value(self, variable: Obj, container: Obj) -> str | None:
        if "valueFrom" not in variable:
            return str(variable.get("value", ""))
        source = variable["valueFrom"]
        for kind, key in (("configMapKeyRef", "configmap"), ("secretKeyRef", "secret")):
            if kind in source:
                ref = source[kind]
                found = self.admin.get(key, ref["name"], "-n", self.namespace)
                data = (found or {}).get("data") or {}
                if ref["key"] not in data:
                    if ref.get("optional"):
                        return None
                    raise HarnessError(
                        f"{self.name}/{container['name']}: couldn't find key {ref['key']} in"
                        f" {key} {self.namespace}/{ref['name']} (kubelet:"
                        " CreateContainerConfigError)"
                    )
                value = data[ref["key"]]
                return base64.b64decode(value).decode() if key == "secret" else str(value)
        if "fieldRef" in source:
            fields = {
                "metadata.name": self.name,
                "metadata.namespace": self.namespace,
                "spec.serviceAccountName": self.spec.get("serviceAccountName", "default"),
                "status.podIP": "127.0.0.1",
                "status.hostIP": "127.0.0.1",
            }
            return fields[source["fieldRef"]["fieldPath"]]
        raise HarnessError(f"{self.name}: env {variable['name']}: source not supported here")

    def _process(self, container: Obj, volumes: dict[str, Path], *, init: bool = False) -> Process:
        mounts = self._mounts(container, volumes)
        env = self._environment(container, mounts)
        command = [expand(word, env) for word in container.get("command", [])]
        args = [expand(word, env) for word in container.get("args", [])]
        if not command:
            raise HarnessError(
                f"{self.name}/{container['name']}: no command (the image's not read)"
            )
        argv = [mounts.remap(word) for word in [*command, *args]]
        executable = shutil.which(argv[0], path=env["PATH"])
        if executable is None:
            raise HarnessError(f"{self.name}/{container['name']}: {argv[0]} is not in the image")
        launcher = [sys.executable, str(LAUNCH)]
        if self._service_account is not None:
            launcher += ["--serviceaccount", str(self._service_account)]
        workdir = self.root / "workdir"
        workdir.mkdir(parents=True, exist_ok=True)
        ports = [] if init else [p["containerPort"] for p in container.get("ports", [])]
        return Process(
            f"{self.name}/{container['name']}",
            [*launcher, "--", executable, *argv[1:]],
            self.logs / f"{self.name}.{container['name']}.log",
            env=env,
            cwd=workdir,
            ports=ports,
        )

    @staticmethod
    def _wait_exit(process: Process, timeout: float) -> None:
        assert process.popen is not None
        try:
            code = process.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            process.stop()
            raise process.failure(f"did not finish within {timeout:g}s") from None
        if code != 0:
            raise process.failure(f"failed (exit {code})")

    def _probe(self, probe: Obj, container: Obj) -> bool:
        get = probe.get("httpGet")
        if get is None:
            raise HarnessError(f"{self.name}: only httpGet probes are run here")
        port = get["port"]
        if isinstance(port, str):
            port = next(p["containerPort"] for p in container["ports"] if p.get("name") == port)
        scheme = get.get("scheme", "HTTP").lower()
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # kubelet does not verify probe certificates
        url = f"{scheme}://127.0.0.1:{port}{get.get('path', '/')}"
        timeout = float(probe.get("timeoutSeconds", 1))
        try:
            with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
                return 200 <= response.status < 400
        except OSError:
            return False


def deployment_pods(
    deployments: Iterable[Obj],
    root: Path,
    admin: Kubectl,
    *,
    kube_apiserver_port: int,
    image: ImageConfig,
) -> dict[str, list[Pod]]:
    pods: dict[str, list[Pod]] = {}
    for deployment in deployments:
        replicas = int(deployment["spec"].get("replicas", 1))
        name = deployment["metadata"]["name"]
        if replicas > 1:
            raise HarnessError(
                f"deployment {name} wants {replicas} replicas: processes here share one network"
                " namespace, so the overlay must set 1"
            )
        pods[name] = [
            Pod(deployment, i, root, admin, kube_apiserver_port=kube_apiserver_port, image=image)
            for i in range(replicas)
        ]
    return pods
