"""A repository cannot make the renderers read the server's files or reach the network:
references that leave the repository are refused before a build, and the tools
themselves run confined to the workspace (Landlock), so what the closure cannot see
(a plugin configuration inside a generated directory, a new kustomize field) is denied
by the kernel too."""

from __future__ import annotations

import select
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from sources.engine import Settings
from sources.sandbox import Sandbox, unavailable
from tests.sources import fixtures
from tests.sources.test_rendering import desired

KUBECTL = shutil.which("kubectl") or "kubectl"
needs_landlock = pytest.mark.skipif(
    unavailable() is not None, reason=f"no Landlock here: {unavailable()}"
)


@pytest.fixture
def server_secret(tmp_path: Path) -> Path:
    """A file the server can read and a repository must not: its TLS key, say."""
    secret = tmp_path / "etc" / "tls.key"
    secret.parent.mkdir()
    secret.write_text("-----BEGIN PRIVATE KEY-----\nnot-for-git\n")
    return secret


def everything_served(state: object) -> str:
    return repr([r.obj for r in state.objects.values()])  # type: ignore[attr-defined]


def test_a_flux_generator_reading_a_server_file_is_refused(
    tmp_path: Path, server_secret: Path
) -> None:
    repo = tmp_path / "repo"
    fixtures.flux_example(repo)
    overlay = (repo / "apps/staging/kustomization.yaml").read_text()
    fixtures.commit_files(
        repo,
        {
            "apps/staging/kustomization.yaml": overlay
            + f"configMapGenerator:\n- name: loot\n  files: [{server_secret}]\n"
        },
        "loot",
    )
    state, _ = desired(repo, tmp_path / "work", Settings(flux_paths=("clusters/staging",)))
    errors = [r.error for r in state.results.values() if r.error]
    assert errors == [
        f"apps/staging/kustomization.yaml refers to {server_secret}, outside the repository:"
        " gitplane does not read it"
    ]
    assert "not-for-git" not in everything_served(state)


def test_a_transformer_configuration_pointing_outside_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    fixtures.base_and_overlays(repo)
    overlay = (repo / "my-app/overlays/prod/kustomization.yaml").read_text()
    fixtures.commit_files(
        repo,
        {
            "my-app/overlays/prod/kustomization.yaml": overlay + "transformers: [patch.yaml]\n",
            "my-app/overlays/prod/patch.yaml": (
                "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\n"
                "path: ../../../../outside.yaml\n"
            ),
        },
        "transformer",
    )
    state, _ = desired(repo, tmp_path / "work")
    prod = next(r for r in state.results.values() if r.source.destination == "my-app-prod")
    assert prod.error == (
        "my-app/overlays/prod/patch.yaml refers to ../../../../outside.yaml, outside the"
        " repository: gitplane does not read it"
    )


def test_helm_values_files_that_leave_the_repository_are_reported(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    fixtures.argo_examples(repo)
    block = "helm:\n  valueFiles: [../../etc/passwd]\n"
    fixtures.commit_files(
        repo,
        {"argocd/escape.yaml": fixtures.application("escape", "helm-guestbook", "escape", block)},
        "escape",
    )
    state, _ = desired(repo, tmp_path / "work")
    escape = next(r for r in state.results.values() if r.source.ref.name == "escape")
    assert escape.source.skipped == "values file ../../etc/passwd leaves the repository"
    assert not [k for k in state.objects if k.namespace == "escape"]


@needs_landlock
def test_the_tools_read_only_the_workspace(tmp_path: Path, server_secret: Path) -> None:
    """What the closure cannot see is denied by the kernel: kustomize is asked directly
    for a file outside the workspace, with Flux's load restrictions (none)."""
    workspace = tmp_path / "work"
    build = workspace / "tree" / "app"
    build.mkdir(parents=True)
    (build / "kustomization.yaml").write_text(
        f"configMapGenerator:\n- name: loot\n  files: [{server_secret}]\n"
    )
    sandbox = Sandbox(workspace, (KUBECTL,))
    command = [KUBECTL, "kustomize", str(build), "--load-restrictor", "LoadRestrictionsNone"]
    done = sandbox.run(command, capture_output=True, text=True, env={"HOME": str(workspace)})
    assert sandbox.confined is True
    assert done.returncode != 0 and "permission denied" in done.stderr
    assert "not-for-git" not in done.stdout
    # The same build unconfined reads it: the test would catch a sandbox that does nothing.
    plain = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "not-for-git" in plain.stdout
    assert server_secret.read_text().startswith("-----BEGIN")  # the server itself still can
    with pytest.raises(PermissionError):  # nothing but the tools may be executed
        sandbox.run(["/bin/cat", str(server_secret)], capture_output=True)
    sandbox.close()


@needs_landlock
def test_the_tools_reach_no_network(tmp_path: Path) -> None:
    """A remote resource is refused before a build; were it not, no connection is made.
    (Unconfined, kustomize connects and waits for the answer this listener never sends.)"""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        workspace = tmp_path / "work"
        build = workspace / "tree" / "app"
        build.mkdir(parents=True)
        (build / "kustomization.yaml").write_text(
            f"resources: [http://127.0.0.1:{port}/deploy.yaml]\n"
        )
        sandbox = Sandbox(workspace, (KUBECTL,))
        done = sandbox.run(
            [KUBECTL, "kustomize", str(build)],
            capture_output=True,
            text=True,
            env={"HOME": str(workspace)},
            timeout=60,
        )
        sandbox.close()
        assert done.returncode != 0
        pending, _, _ = select.select([listener], [], [], 0)
        assert pending == [], "the confined tool connected"
