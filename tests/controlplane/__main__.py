"""`python -m tests.controlplane --dir DIR`: a real Kubernetes control plane with gitplane
installed from manifests/, kept up until SIGTERM or SIGINT (see tests/controlplane/environment.py
for what DIR holds). Exits 1, with the tail of the failing component's log, if anything
cannot be built or started, or if a component exits while it runs."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from tests.controlplane.environment import ControlPlane
from tests.controlplane.processes import HarnessError


def _stop_on_signal(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.controlplane", description=__doc__)
    p.add_argument("--dir", type=Path, required=True, help="where everything is written")
    p.add_argument("--kube-apiserver-port", type=int, default=0, help="default: a free port")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    started = time.monotonic()
    try:
        with ControlPlane(args.dir, kube_apiserver_port=args.kube_apiserver_port) as cp:
            print(f"ready in {time.monotonic() - started:.1f}s: {cp.directory / 'ready'}")
            print(f"export KUBECONFIG={cp.admin_kubeconfig}", flush=True)
            while True:
                failed = cp.failed_component()
                if failed is not None:
                    raise failed.failure("exited")
                time.sleep(1)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 0


if __name__ == "__main__":
    sys.exit(main())
