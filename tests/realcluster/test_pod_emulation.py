"""The parts of kubelet's job the harness does itself, checked against Kubernetes' rules."""

from __future__ import annotations

from pathlib import Path

from tests.controlplane.image import image_config
from tests.controlplane.pods import Mounts, expand


def test_variable_expansion_follows_kubernetes() -> None:
    env = {"REMOTE": "ssh://git@example.com/gitops.git", "EMPTY": ""}
    assert expand("--remote=$(REMOTE)", env) == "--remote=ssh://git@example.com/gitops.git"
    assert expand("$(EMPTY)x", env) == "x"
    assert expand("$(MISSING)", env) == "$(MISSING)"  # undefined references stay as written
    assert expand("$$(REMOTE)", env) == "$(REMOTE)"  # $$ escapes
    assert expand("cost: $5", env) == "cost: $5"


def test_mount_paths_are_read_as_their_local_directories(tmp_path: Path) -> None:
    mounts = Mounts()
    mounts.add("/etc/gitplane/tls", tmp_path / "tls")
    mounts.add("/etc/gitplane", tmp_path / "etc")
    assert mounts.remap("/etc/gitplane/tls/tls.crt") == f"{tmp_path}/tls/tls.crt"  # longest wins
    assert (
        mounts.remap("/etc/gitplane/config/webhook.yaml") == f"{tmp_path}/etc/config/webhook.yaml"
    )
    assert (
        mounts.remap("--git-ssh-key=/etc/gitplane/tls/key") == f"--git-ssh-key={tmp_path}/tls/key"
    )
    assert mounts.remap("/etc/gitplanefoo") == "/etc/gitplanefoo"  # not under the mount
    assert mounts.remap("8443") == "8443"


def test_the_image_environment_comes_from_the_dockerfile() -> None:
    image = image_config()
    assert image.workdir == "/home/gitplane"
    assert image.env["PYTHONUNBUFFERED"] == "1"
    assert not image.env["PATH"].startswith("/opt/gitplane")  # the virtualenv stands in for it
