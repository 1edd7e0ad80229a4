"""The harness says what went wrong, with the failing component's log, never hangs, and
leaves nothing running after a failure."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.controlplane import build
from tests.controlplane.environment import ControlPlane
from tests.controlplane.processes import HarnessError, check_port_free

ROOT = Path(__file__).resolve().parents[2]


def _nothing_listens(port: int) -> bool:
    try:
        check_port_free(port, "probe")
    except HarnessError:
        return False
    return True


def test_a_busy_port_is_named_and_everything_started_is_stopped(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        plane = ControlPlane(tmp_path / "cp", kube_apiserver_port=port, built=cluster.built)
        started = time.monotonic()
        with (
            pytest.raises(HarnessError, match=f"port {port} is already in use: kube-apiserver"),
            plane,
        ):
            pass
        assert time.monotonic() - started < 60
    etcd = plane.ports.etcd_client
    assert _nothing_listens(etcd)  # etcd had started; it was stopped


def test_a_component_that_does_not_start_is_reported_with_its_log(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    directory = tmp_path / "cp"
    directory.mkdir()
    (directory / "etcd").write_text("not a directory")  # etcd's --data-dir
    with pytest.raises(HarnessError) as failed, ControlPlane(directory, built=cluster.built):
        pass
    message = str(failed.value)
    assert "etcd exited (code 1) before it was healthy" in message
    assert "  | " in message and "etcd" in message.split("\n", 1)[1]  # the tail of its log


def test_a_failed_build_is_reported_with_the_compiler_output(
    cluster: ControlPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real go build of the consumer from a copy of tests/go with a syntax error; the
    control plane's programs are taken from the cache, so only the consumer is built."""
    module = tmp_path / "go"
    shutil.copytree(build.GO_MODULE, module)
    (module / "informer" / "main.go").write_text("package main\n\nfunc main() {\n")
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(build, "GO_MODULE", module)
    built = build.control_plane_dir()
    built.mkdir(parents=True)
    assert cluster.built is not None
    for name in build.CONTROL_PLANE:
        (built / name).symlink_to(cluster.built.etcd.parent / name)
    with pytest.raises(HarnessError, match=r"go build failed \(exit 1\)") as failed:
        build.binaries(log=False)
    assert "informer/main.go" in str(failed.value)
    assert "expected '}'" in str(failed.value) or "unexpected EOF" in str(failed.value)


def test_the_command_stops_everything_on_sigterm(programs: build.Binaries, tmp_path: Path) -> None:
    directory = tmp_path / "cp"
    harness = subprocess.Popen(
        [sys.executable, "-m", "tests.controlplane", "--dir", str(directory)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (directory / "ready").exists():
            assert harness.poll() is None, harness.communicate()[0]
            assert time.monotonic() < deadline, "not ready within 120 s"
            time.sleep(0.3)
        ready = (directory / "ready").read_text()
        harness.terminate()
        output, _ = harness.communicate(timeout=60)
    finally:
        if harness.poll() is None:
            harness.kill()
    assert harness.returncode == 0, output
    assert "ready in" in output and "stopped" in output
    assert not (directory / "ready").exists()
    ports = json.loads(ready)["ports"]
    for port in ports.values():
        assert _nothing_listens(port)
    for name in ("admin.kubeconfig", "users/alice.kubeconfig", "users/victor.kubeconfig",
                 "users/mallory.kubeconfig", "repo/HEAD"):  # fmt: skip
        assert (directory / name).exists(), name
