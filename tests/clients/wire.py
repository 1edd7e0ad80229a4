"""What the client tests share: manifests to write, and the group's coordinates."""

from __future__ import annotations

import json
from typing import Any

GROUP, VERSION, PLURAL = "gitplane.io", "v1alpha1", "manifests"


def configmap_manifest(
    name: str, data: dict[str, str], labels: dict[str, str] | None = None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "shop"}
    if labels:
        metadata["labels"] = labels
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Manifest",
        "metadata": {"name": f"configmap.{name}", "namespace": "shop"},
        "spec": {
            "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}
        },
    }


def as_stdin(obj: dict[str, Any]) -> str:
    return json.dumps(obj)
