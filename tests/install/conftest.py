"""Renders shared by the install tests (kubectl kustomize is slow enough to do once)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.install.render import (
    MANIFESTS,
    NAMESPACE,
    Install,
    Rendered,
    gitplane_certs,
    kustomize,
)


@pytest.fixture(scope="session")
def base() -> Rendered:
    """manifests/ alone."""
    return Rendered(kustomize(MANIFESTS))


@pytest.fixture(scope="session")
def install(tmp_path_factory: pytest.TempPathFactory) -> Install:
    """`gitplane certs --out DIR` then `kubectl kustomize DIR`, as docs/install.md does."""
    out = tmp_path_factory.mktemp("certs") / "out"
    argv = ("--namespace", NAMESPACE, "--out", str(out), "--manifests", str(MANIFESTS))
    assert gitplane_certs(*argv) == 0
    return Install(out, Rendered(kustomize(out)))


@pytest.fixture
def fresh_certs(tmp_path: Path) -> Callable[..., Path]:
    """Run `gitplane certs` into tmp_path/out with extra ARGS; returns the directory."""

    def make(*argv: str) -> Path:
        out = tmp_path / "out"
        assert gitplane_certs("--out", str(out), "--manifests", str(MANIFESTS), *argv) == 0
        return out

    return make
