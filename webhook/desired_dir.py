"""Interim desired-state source for `python -m webhook --desired-dir DIR`.

Reads every *.yaml / *.yml file under DIR (multi-document files and `kind: List`
included) into an InMemoryDesiredState, once, at start-up. It stands in for the Git
store until `gitplane up` wires the store in; objects without metadata.namespace
are taken as cluster-scoped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from webhook.desired import InMemoryDesiredState


def load_desired_dir(root: Path, revision: str = "working-tree") -> InMemoryDesiredState:
    state = InMemoryDesiredState()
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml")):
        relative = path.relative_to(root).as_posix()
        try:
            documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except yaml.YAMLError as exc:
            raise ValueError(f"{relative}: not YAML: {exc}") from exc
        for doc in documents:
            for obj in _objects(doc, relative):
                state.put(obj, relative, revision)
    return state


def _objects(doc: Any, where: str) -> list[dict[str, Any]]:
    if doc is None:
        return []
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: a document must be a Kubernetes object")
    if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
        return [item for item in doc["items"] if isinstance(item, dict)]
    return [doc]
