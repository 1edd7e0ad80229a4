"""Where the official Kubernetes schemas are: the kubernetes-validate package's files."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Final

SCHEMA_VERSION: Final = "1.37"
"""Kubernetes release whose schemas are used (or the newest older one the package has)."""


@cache
def schema_directory() -> Traversable:
    """The package's strict schemas for SCHEMA_VERSION, or the newest older ones it has."""
    root = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    wanted = tuple(int(p) for p in SCHEMA_VERSION.split("."))
    candidates: list[tuple[tuple[int, ...], str]] = []
    for entry in root.iterdir():
        found = re.fullmatch(r"v(\d+)\.(\d+)\.\d+-local-strict", entry.name)
        if found and (int(found[1]), int(found[2])) <= wanted:
            candidates.append(((int(found[1]), int(found[2])), entry.name))
    if not candidates:
        raise RuntimeError(f"kubernetes-validate has no schemas for Kubernetes <= {SCHEMA_VERSION}")
    return root / max(candidates)[1]
