"""What the gitplane image gives a container, read from the Dockerfile's final stage.

Pods cannot run here, so a container is this checkout's virtualenv standing in for the
image's /opt/gitplane: the final stage's ENV (with /opt/gitplane read as the virtualenv)
and WORKDIR are what its processes get, as the container runtime would give them.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"
IMAGE_VENV = "/opt/gitplane"


@dataclass(frozen=True)
class ImageConfig:
    env: dict[str, str]
    workdir: str


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for raw in joined.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def image_config(dockerfile: Path = DOCKERFILE) -> ImageConfig:
    steps = _instructions(dockerfile.read_text())
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    workdir = "/"
    for word, rest in steps[last_from:]:
        if word == "ENV":
            for assignment in shlex.split(rest):
                name, _, value = assignment.partition("=")
                value = value.replace("$PATH", env["PATH"]).replace("${PATH}", env["PATH"])
                env[name] = value.replace(IMAGE_VENV, sys.prefix)
        elif word == "WORKDIR":
            workdir = rest
    return ImageConfig(env, workdir)
