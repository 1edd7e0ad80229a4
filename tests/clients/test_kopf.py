"""Issue 20.1: a kopf operator runs its create, update and delete handlers end to end
against `gitplane up`. kopf keeps its finalizer, its progress and last-handled state in
annotations and its handlers' results in status: all of it bookkeeping, persisted on
refs/gitplane/bookkeeping/main, never in the YAML the reconcilers read."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
KOPF = str(Path(sys.executable).parent / "kopf")
MANIFEST = """\
apiVersion: gitplane.io/v1alpha1
kind: Manifest
metadata: {name: configmap.settings, namespace: shop}
spec:
  object:
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: settings, namespace: shop}
    data: {mode: "on"}
"""


@pytest.fixture
def up(tmp_path: Path) -> Iterator[dict[str, Any]]:
    env = {**os.environ, "HOME": str(tmp_path), "KUBECACHEDIR": str(tmp_path / "cache")}
    process = subprocess.Popen(
        [sys.executable, "-m", "gitplane_cli.main", "up", "--dir", str(tmp_path / "gp"),
         "--api-port", "0", "--webhook-port", "0", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    endpoints = tmp_path / "gp" / "endpoints.json"
    deadline = time.monotonic() + 30
    while not endpoints.exists():
        assert process.poll() is None and time.monotonic() < deadline, "gitplane up did not start"
        time.sleep(0.1)
    try:
        yield {**json.loads(endpoints.read_text()), "env": env}
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(20)


def _kubectl(up: dict[str, Any], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["kubectl", f"--kubeconfig={up['kubeconfig']}", *args],
        input=stdin, capture_output=True, text=True, env=up["env"], timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _git(up: dict[str, Any], *args: str) -> str:
    return subprocess.run(
        ["git", "-C", up["repo"], *args], capture_output=True, text=True, check=True
    ).stdout


def _wait_for(log: Path, handler: str, within: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if log.exists():
            for line in log.read_text().splitlines():
                entry = json.loads(line)
                if entry["handler"] == handler:
                    return entry  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"kopf ran no {handler} handler in {within} s")


def test_kopf_runs_create_update_and_delete_handlers(up: dict[str, Any], tmp_path: Path) -> None:
    log = tmp_path / "operator.log"
    operator = subprocess.Popen(
        [KOPF, "run", "--standalone", "--namespace", "shop", str(HERE / "kopf_operator.py")],
        env={**up["env"], "KUBECONFIG": up["kubeconfig"], "OPERATOR_LOG": str(log)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        _kubectl(up, "apply", "-f", "-", stdin=MANIFEST)
        created = _wait_for(log, "create")
        assert created == {
            "handler": "create",
            "name": "configmap.settings",
            "data": {"mode": "on"},
        }
        served = json.loads(
            _kubectl(up, "get", "mf", "configmap.settings", "-n", "shop", "-o", "json")
        )
        assert served["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]
        assert "kopf.zalando.org/last-handled-configuration" in served["metadata"]["annotations"]
        deadline = time.monotonic() + 30
        while "created" not in served["status"] and time.monotonic() < deadline:
            time.sleep(0.2)
            served = json.loads(
                _kubectl(up, "get", "mf", "configmap.settings", "-n", "shop", "-o", "json")
            )
        assert served["status"]["created"] == {"seen": True}
        declared = _git(up, "show", "HEAD:shop/configmap-settings.yaml")
        assert "kopf" not in declared and "finalizers" not in declared  # Argo CD reads this
        kept = _git(up, "show", "refs/gitplane/bookkeeping/main:shop/core/ConfigMap/settings.json")
        assert "KopfFinalizerMarker" in kept

        _kubectl(up, "patch", "mf", "configmap.settings", "-n", "shop", "--type", "merge",
                 "-p", '{"spec":{"object":{"data":{"mode":"off"}}}}')  # fmt: skip
        updated = _wait_for(log, "update")
        assert ["spec", "object", "data", "mode"] in updated["diff"]

        _kubectl(up, "delete", "mf", "configmap.settings", "-n", "shop", "--timeout=60s")
        assert _wait_for(log, "delete")["name"] == "configmap.settings"
        assert "shop/configmap-settings.yaml" not in _git(
            up, "ls-tree", "-r", "--name-only", "HEAD"
        )
        subject = _git(up, "log", "-1", "--format=%s%n%an")
        assert subject.splitlines() == ["delete v1 ConfigMap shop/settings", "gitplane-admin"]
    finally:
        operator.send_signal(signal.SIGINT)
        try:
            out, _ = operator.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            operator.kill()
            out, _ = operator.communicate()
        print(out[-5000:])
