"""Through kube-apiserver's aggregator vs straight to gitplane, on the real control plane.

One environment (tests/controlplane: etcd, kube-apiserver and kube-controller-manager
v1.37.2, gitplane installed from manifests/) holding --objects ConfigMaps in 100
namespaces, pushed to the team's repository from outside in one commit. Two measurements,
each as a ratio of the same thing done both ways in the same run, rounds interleaved so
that machine load hits both:

- `kubectl get manifests -A` (kubectl's defaults: server-side Table, pages of 500), as
  cluster-admin through kube-apiserver and with the same certificate straight to
  gitplane's API server;
- watch latency: two `kubectl get manifests -w` (one through kube-apiserver, one direct)
  follow one namespace while --writes Manifests are applied one at a time; latency is from
  the write being sent to the event's line appearing.

Also printed: the harness's warm start (to DIR/ready) and its steps.

Run: python bench/controlplane_bench.py [--objects 10000] [--rounds 5] [--writes 20]
"""

from __future__ import annotations

import argparse
import base64
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.controlplane.environment import ControlPlane
from tests.controlplane.kubectl import Kubectl, kubectl_binary
from tests.controlplane.processes import run

NAMESPACES = 100


def direct(cp: ControlPlane, path: Path) -> Kubectl:
    """The admin's kubeconfig pointed straight at gitplane's API server."""
    config = yaml.safe_load(cp.admin_kubeconfig.read_text())
    ca = (cp.directory / "install" / "ca.crt").read_bytes()
    config["clusters"][0]["cluster"] = {
        "server": f"https://127.0.0.1:{cp.gitplane_ports['gitplane-apiserver']}",
        "certificate-authority-data": base64.b64encode(ca).decode(),
        "tls-server-name": "gitplane-apiserver.gitplane-system.svc",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return Kubectl(path)


def push_objects(repo: Path, count: int) -> float:
    started = time.monotonic()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    with tempfile.TemporaryDirectory() as work:
        run(["git", "clone", "--quiet", str(repo), work], env=env)
        for i in range(count):
            namespace = f"bench-{i % NAMESPACES:03d}"
            folder = Path(work, namespace)
            folder.mkdir(exist_ok=True)
            (folder / f"configmap-c{i:05d}.yaml").write_text(
                f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i:05d}\n"
                f'  namespace: {namespace}\ndata:\n  index: "{i}"\n'
            )
        run(["git", "-C", work, "add", "-A"], env=env, timeout=300)
        run(
            ["git", "-C", work, "commit", "--quiet", "-m", f"bench: {count} ConfigMaps"],
            env=env,
            timeout=300,
        )
        run(["git", "-C", work, "push", "--quiet", "origin", "HEAD:main"], env=env, timeout=300)
    return time.monotonic() - started


def count_served(kubectl: Kubectl) -> int:
    out = kubectl("get", "manifests", "-A", "--no-headers", "-o", "name", timeout=300).stdout
    return len(out.splitlines())


def timed_get_all(kubectl: Kubectl) -> float:
    started = time.perf_counter()
    kubectl("get", "manifests", "-A", timeout=300)
    return time.perf_counter() - started


class Watcher:
    def __init__(self, kubectl: Kubectl, namespace: str) -> None:
        self.process = subprocess.Popen(
            [
                kubectl_binary(),
                f"--kubeconfig={kubectl.kubeconfig}",
                "get",
                "manifests",
                "-n",
                namespace,
                "-w",
                "--output-watch-events",
                "--no-headers",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put((time.perf_counter(), line))

    def seen(self, name: str, timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while True:
            at, line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if name in line and line.startswith("ADDED"):
                return at

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(5)


def manifest(namespace: str, name: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "gitplane.io/v1alpha1",
            "kind": "Manifest",
            "metadata": {"name": f"configmap.{name}", "namespace": namespace},
            "spec": {
                "object": {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": namespace},
                    "data": {"k": "v"},
                }
            },
        }
    )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--objects", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--writes", type=int, default=20)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as scratch, ControlPlane(Path(scratch) / "cp") as cp:
        print(f"warm start to ready: {cp.timings['ready']:.1f}s, steps {cp.timings}")
        admin, straight = cp.kubectl, direct(cp, Path(scratch) / "direct.kubeconfig")
        pushed = push_objects(cp.repo, args.objects)
        started = time.monotonic()
        while count_served(straight) < args.objects:
            time.sleep(1)
        print(
            f"{args.objects} objects pushed in {pushed:.1f}s, served {time.monotonic() - started:.1f}s later"
        )
        timed_get_all(admin), timed_get_all(straight)  # warm both paths once
        through, directly = [], []
        for _ in range(args.rounds):
            through.append(timed_get_all(admin))
            directly.append(timed_get_all(straight))
        a, d = statistics.median(through), statistics.median(directly)
        print(
            f"kubectl get manifests -A ({args.objects}): through kube-apiserver median {a:.2f}s"
            f" {[round(x, 2) for x in through]}, direct {d:.2f}s {[round(x, 2) for x in directly]},"
            f" ratio through/direct {a / d:.2f}"
        )

        namespace = "bench-watch"
        admin("create", "namespace", namespace)
        watchers = {"through": Watcher(admin, namespace), "direct": Watcher(straight, namespace)}
        time.sleep(2)  # both watches established
        latency: dict[str, list[float]] = {"through": [], "direct": []}
        try:
            for i in range(args.writes):
                sent = time.perf_counter()
                straight("apply", "-f", "-", input=manifest(namespace, f"w{i:03d}"))
                for way, watcher in watchers.items():
                    latency[way].append(watcher.seen(f"configmap.w{i:03d}") - sent)
        finally:
            for watcher in watchers.values():
                watcher.stop()
        lt, ld = statistics.median(latency["through"]), statistics.median(latency["direct"])
        extra = statistics.median(
            t - d for t, d in zip(latency["through"], latency["direct"], strict=True)
        )
        print(
            f"watch latency ({args.writes} writes): through kube-apiserver median {lt * 1000:.0f} ms"
            f" (max {max(latency['through']) * 1000:.0f}), direct {ld * 1000:.0f} ms"
            f" (max {max(latency['direct']) * 1000:.0f}), ratio through/direct {lt / ld:.2f};"
            f" the aggregator's own delay, median {extra * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
