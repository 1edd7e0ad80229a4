"""A new user's first ten minutes, as subprocesses: `gitplane up` refusing what it cannot
do in one line, `kubectl gitplane review` asking the webhook, and the plugin's output."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_gitplane_up import MANIFEST


def gitplane(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gitplane_cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )


def finished(process: subprocess.Popen[str], within: float = 30) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=within)
    return process.returncode, out, err


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "HOME": str(tmp_path), "KUBECACHEDIR": str(tmp_path / "cache")}


def wait_up(directory: Path, process: subprocess.Popen[str]) -> dict[str, Any]:
    endpoints = directory / "endpoints.json"
    deadline = time.monotonic() + 30
    while not endpoints.exists():
        if process.poll() is not None:
            raise AssertionError(f"gitplane up stopped: {process.communicate()}")
        assert time.monotonic() < deadline, "gitplane up did not start in 30 s"
        time.sleep(0.1)
    return json.loads(endpoints.read_text())  # type: ignore[no-any-return]


@pytest.fixture
def up(tmp_path: Path, env: dict[str, str]) -> Iterator[dict[str, Any]]:
    directory = tmp_path / "gp"
    process = gitplane(
        "up", "--dir", str(directory), "--api-port", "0", "--webhook-port", "0", env=env
    )
    try:
        yield {"process": process, "dir": directory, **wait_up(directory, process)}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(20)


def test_a_busy_port_is_one_line_naming_it_and_the_flag(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = finished(
            gitplane("up", "--dir", str(tmp_path / "gp"), "--api-port", str(port), env=env)
        )
    assert code == 1
    assert err.strip() == (
        f"gitplane up: port {port} is already in use on 127.0.0.1: choose another with"
        " --api-port PORT (--api-port 0 picks a free one)"
    )
    assert "Traceback" not in out + err


def test_a_second_up_on_the_same_dir_is_refused_and_changes_nothing(
    up: dict[str, Any], env: dict[str, str]
) -> None:
    directory: Path = up["dir"]
    before = {name: (directory / name).read_bytes() for name in ("endpoints.json", "kubeconfig")}
    code, _, err = finished(
        gitplane("up", "--dir", str(directory), "--api-port", "0", "--webhook-port", "0", env=env)
    )
    assert code == 1
    assert f"is in use by a running `gitplane up` (pid {up['process'].pid})" in err
    assert "Traceback" not in err
    assert before == {name: (directory / name).read_bytes() for name in before}
    up["process"].send_signal(signal.SIGINT)
    assert up["process"].wait(20) == 0
    assert not (directory / "endpoints.json").exists()  # nothing says it is served any more
    again = gitplane(
        "up", "--dir", str(directory), "--api-port", "0", "--webhook-port", "0", env=env
    )
    try:
        assert wait_up(directory, again)["api"] > 0  # the directory is free again
    finally:
        again.send_signal(signal.SIGINT)
        again.wait(20)


def test_a_missing_repo_is_said_plainly_and_leaves_no_directory(
    tmp_path: Path, env: dict[str, str]
) -> None:
    missing = tmp_path / "does" / "not" / "exist"
    code, _, err = finished(
        gitplane("up", "--dir", str(tmp_path / "state"), "--repo", str(missing), env=env)
    )
    assert code == 2
    assert err.strip() == (
        f"gitplane up: no Git repository at {missing} (create one with `git init` or omit --repo)"
    )
    assert not (tmp_path / "state").exists()


def kubectl_gitplane(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "gitplane_cli.kubectl_plugin", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    return done.returncode, done.stdout, done.stderr


def live_deployment(image: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: web, namespace: shop}}
        spec:
          replicas: 2
          selector: {{matchLabels: {{app: web}}}}
          template:
            metadata: {{labels: {{app: web}}}}
            spec:
              containers: [{{name: web, image: "{image}"}}]
        """)


def test_review_asks_the_running_webhook(
    up: dict[str, Any], env: dict[str, str], tmp_path: Path
) -> None:
    env = {**env, "KUBECONFIG": up["kubeconfig"]}
    applied = subprocess.run(
        ["kubectl", "apply", "-f", "-"],
        input=MANIFEST,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert applied.returncode == 0, applied.stderr
    edited = tmp_path / "live.yaml"
    edited.write_text(live_deployment("nginx:latest"))
    deadline = time.monotonic() + 10
    while True:  # the webhook, a process of its own, follows the branch within a poll
        code, out, err = kubectl_gitplane("review", "-f", str(edited), "--as", "alice", env=env)
        if code == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert code == 1, err
    assert out.startswith("denied (403):")
    assert "shop/deployment-web.yaml" in out  # which file to change instead
    same = tmp_path / "same.yaml"
    same.write_text(live_deployment("nginx:1.27"))
    code, out, err = kubectl_gitplane("review", "-f", str(same), "--as", "alice", env=env)
    assert (code, out.strip()) == (0, "admitted"), err
    code, out, _ = kubectl_gitplane(
        "review", "-f", str(edited), "--as", "system:serviceaccount:argocd:argocd-application-controller",
        env=env,
    )  # fmt: skip
    assert (code, out.strip()) == (0, "admitted")
    namespace_warn = textwrap.dedent("""\
        apiVersion: gitplane.io/v1alpha1
        kind: ClusterManifest
        metadata: {name: namespace.shop}
        spec:
          object:
            apiVersion: v1
            kind: Namespace
            metadata: {name: shop, annotations: {gitplane.io/mode: warn}}
        """)
    subprocess.run(
        ["kubectl", "apply", "-f", "-"],
        input=namespace_warn,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    deadline = time.monotonic() + 10
    while True:  # the webhook follows the repository within a poll
        code, out, _ = kubectl_gitplane("review", "-f", str(edited), "--as", "alice", env=env)
        if code == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert code == 0 and out.startswith("admitted")
    assert "warnings:" in out
    assert "drifting from Git: " in out and "image" in out


def test_the_plugin_says_unchanged_renders_kustomize_and_names_a_dead_server(
    up: dict[str, Any], env: dict[str, str], tmp_path: Path
) -> None:
    env = {**env, "KUBECONFIG": up["kubeconfig"]}
    base = tmp_path / "app"
    base.mkdir()
    (base / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: on}\n"
    )
    (base / "kustomization.yaml").write_text(
        "resources: [configmap.yaml]\nnamePrefix: web-\ncommonLabels: {app: web}\n"
    )
    code, out, err = kubectl_gitplane("-n", "shop", "apply", "-f", str(base), env=env)
    assert code == 0, err
    assert "put      configmap.web-settings" in out  # as kustomize renders it
    code, out, err = kubectl_gitplane("-n", "shop", "apply", "-f", str(base), env=env)
    assert code == 0, err
    assert out.strip().endswith(": unchanged (nothing to commit)")
    assert "put" not in out
    up["process"].send_signal(signal.SIGINT)
    up["process"].wait(20)
    code, out, err = kubectl_gitplane("-n", "shop", "revert", "0123456", env=env)
    assert code != 0
    assert err.startswith(
        f"error: the gitplane API cannot be reached at https://127.0.0.1:{up['api']}"
    )
    assert "openapi" not in err
