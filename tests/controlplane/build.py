"""The control plane's programs, built from the Go module proxy and cached by version.

etcd, kube-apiserver and kube-controller-manager come from the module in tests/go
(`k8s.io/kubernetes` v1.37.2, its staging modules replaced by their v0.37.2 releases, and
the etcd server that release requires); the client-go consumer of gitplane.io
(tests/go/informer) is built from the same module. Whatever is missing is built in one
`go build` (static, `-trimpath`, no symbol tables) into the user's cache directory:

    <cache>/gitplane/controlplane/v1.37.2-<go.sum digest>/   etcd, kube-apiserver, kube-controller-manager
    <cache>/gitplane/clientgo/<digest of the module and the program>/informer

so the control plane is built once per version and the consumer again only when its source
changes. `<cache>` is $XDG_CACHE_HOME, else ~/.cache. `python -m tests.controlplane.build`
builds (or finds) everything and prints where.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.controlplane.processes import HarnessError, log_tail

KUBERNETES_VERSION = "v1.37.2"
GO_MODULE = Path(__file__).resolve().parents[1] / "go"
BUILD_TIMEOUT = 3600.0  # a cold build on two cores takes seven to nine minutes

CONTROL_PLANE = {
    "etcd": "go.etcd.io/etcd/server/v3",
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
}
CONSUMER = {"informer": "./informer"}
# What `go build` names each program (a path ending in /vN is named after the element before).
_BUILT_AS = {"go.etcd.io/etcd/server/v3": "server"}


class GoMissing(HarnessError):
    """There is no Go toolchain to build the control plane with."""


@dataclass(frozen=True)
class Binaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    informer: Path


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitplane"


def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def control_plane_dir() -> Path:
    digest = _digest(GO_MODULE / "go.mod", GO_MODULE / "go.sum")
    return cache_root() / "controlplane" / f"{KUBERNETES_VERSION}-{digest}"


def consumer_dir() -> Path:
    sources = sorted((GO_MODULE / "informer").glob("*.go"))
    return cache_root() / "clientgo" / _digest(GO_MODULE / "go.mod", GO_MODULE / "go.sum", *sources)


def go_command() -> str:
    go = shutil.which("go")
    if go is None:
        raise GoMissing(
            "Go is not installed (no `go` on PATH): the real control plane is built from the"
            " Go module proxy, see README 'Real control plane'"
        )
    return go


def binaries(*, log: bool = True) -> Binaries:
    """The four programs, built first if they are not in the cache yet."""
    planes, consumers = control_plane_dir(), consumer_dir()
    wanted = {
        **{name: planes / name for name in CONTROL_PLANE},
        **{name: consumers / name for name in CONSUMER},
    }
    if not all(path.is_file() for path in wanted.values()):
        go = go_command()
        with _build_lock():
            missing = {n: p for n, p in wanted.items() if not p.is_file()}  # another may have built
            if missing:
                _build(go, missing, log=log)
    return Binaries(
        etcd=wanted["etcd"],
        kube_apiserver=wanted["kube-apiserver"],
        kube_controller_manager=wanted["kube-controller-manager"],
        informer=wanted["informer"],
    )


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One build at a time per user (a test run and a harness started by hand share it)."""
    cache_root().mkdir(parents=True, exist_ok=True)
    with open(cache_root() / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _ldflags() -> str:
    """Strip symbols, and stamp the release the way Kubernetes' own build does, so that
    /version and kubectl version say v1.37.2 rather than v0.0.0-master."""
    major, minor, _ = KUBERNETES_VERSION.removeprefix("v").split(".")
    stamp = {
        "gitVersion": KUBERNETES_VERSION,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
    }
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {package}.{name}={value}" for name, value in stamp.items()]
    return " ".join(flags)


def _build(go: str, missing: dict[str, Path], *, log: bool) -> None:
    packages = {**CONTROL_PLANE, **CONSUMER}
    targets = [packages[name] for name in missing]
    cache_root().mkdir(parents=True, exist_ok=True)
    build_log = cache_root() / "build.log"
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}
    with tempfile.TemporaryDirectory(dir=cache_root(), prefix="build-") as scratch:
        out = Path(scratch)
        command = [go, "build", "-trimpath", f"-ldflags={_ldflags()}", "-o", f"{out}/", *targets]
        if log:
            print(
                f"building {', '.join(missing)} (go build; cold: ~7 min on two cores)...",
                file=sys.stderr,
            )
        started = time.monotonic()
        with open(build_log, "w") as written:
            written.write(" ".join(command) + "\n")
            written.flush()
            try:
                result = subprocess.run(
                    ["nice", *command] if shutil.which("nice") else command,
                    cwd=GO_MODULE,
                    env=env,
                    stdout=written,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    timeout=BUILD_TIMEOUT,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise HarnessError(
                    f"go build did not finish within {BUILD_TIMEOUT:.0f}s\n{log_tail(build_log)}"
                ) from None
        if result.returncode != 0:
            raise HarnessError(
                f"go build failed (exit {result.returncode}), log {build_log}:\n"
                f"{log_tail(build_log)}"
            )
        for name, destination in missing.items():
            built = out / _BUILT_AS.get(packages[name], Path(packages[name]).name)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(built, destination)  # same filesystem: atomic, never half a binary
        if log:
            took = time.monotonic() - started
            print(f"built in {took:.0f}s into {destination.parent}", file=sys.stderr)


def main() -> int:
    started = time.monotonic()
    try:
        found = binaries()
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, path in vars(found).items():
        print(f"{name}: {path}")
    print(f"ready in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
