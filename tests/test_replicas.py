"""Two `gitplane up` processes with separate clones of one remote, written to at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

CONFIGMAP = """\
apiVersion: gitplane.io/v1alpha1
kind: Manifest
metadata: {{name: configmap.{name}, namespace: shop}}
spec:
  object: {{apiVersion: v1, kind: ConfigMap, metadata: {{name: {name}, namespace: shop}}, data: {{v: "{value}"}}}}
"""


def _start(tmp_path: Path, name: str, remote: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    state = tmp_path / name
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gitplane_cli.main",
            "up",
            "--dir",
            str(state),
            "--remote",
            str(remote),
            "--api-port",
            "0",
            "--webhook-port",
            "0",
            "--quiet",
            "--fetch-interval",
            "0.5",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not (state / "endpoints.json").exists():
        assert process.poll() is None and time.monotonic() < deadline, "gitplane up did not start"
        time.sleep(0.1)
    return process, json.loads((state / "endpoints.json").read_text())


def _kubectl(
    endpoints: dict[str, str], home: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HOME": str(home),
        "KUBECACHEDIR": str(home / endpoints["kubeconfig"].replace("/", "_")),
    }
    return subprocess.run(
        ["kubectl", f"--kubeconfig={endpoints['kubeconfig']}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.fixture
def replicas(tmp_path: Path):  # type: ignore[no-untyped-def]
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    started = [_start(tmp_path, f"replica-{i}", remote) for i in range(2)]
    try:
        yield remote, [endpoints for _, endpoints in started]
    finally:
        for process, _ in started:
            process.send_signal(signal.SIGINT)
            process.wait(20)


def test_two_replicas_lose_no_write_and_agree_on_conflicts(replicas, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    remote, endpoints = replicas
    home = tmp_path / "home"
    home.mkdir()

    def write(job: tuple[int, int]) -> subprocess.CompletedProcess[str]:
        replica, n = job
        return _kubectl(
            endpoints[replica],
            home,
            "apply",
            "-f",
            "-",
            stdin=CONFIGMAP.format(name=f"r{replica}-{n}", value=n),
        )

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(write, [(r, n) for n in range(6) for r in (0, 1)]))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
    names = subprocess.run(
        ["git", "-C", str(remote), "ls-tree", "-r", "--name-only", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len([n for n in names if n.startswith("shop/configmap-r")]) == 12
    subprocess.run(["git", "-C", str(remote), "fsck", "--strict"], check=True, capture_output=True)

    # The same object, the same resourceVersion, through both replicas: exactly one wins.
    assert (
        _kubectl(
            endpoints[0], home, "apply", "-f", "-", stdin=CONFIGMAP.format(name="shared", value=0)
        ).returncode
        == 0
    )
    deadline = time.monotonic() + 10
    while (
        _kubectl(endpoints[1], home, "get", "mf", "configmap.shared", "-n", "shop").returncode != 0
    ):
        assert time.monotonic() < deadline, "replica 1 never fetched the shared object"
        time.sleep(0.2)
    current = json.loads(
        _kubectl(
            endpoints[0], home, "get", "mf", "configmap.shared", "-n", "shop", "-o", "json"
        ).stdout
    )

    def replace(replica: int) -> subprocess.CompletedProcess[str]:
        body = json.loads(json.dumps(current))
        body["spec"]["object"]["data"]["v"] = f"from-{replica}"
        return _kubectl(endpoints[replica], home, "replace", "-f", "-", stdin=json.dumps(body))

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(replace, [0, 1]))
    assert sorted(o.returncode for o in outcomes) == [0, 1]
    assert "the object has been modified" in next(o.stderr for o in outcomes if o.returncode)
