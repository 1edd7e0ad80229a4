"""A kubeconfig that reaches one server with a client certificate, everything embedded."""

from __future__ import annotations

import base64
import os
from typing import Any

import yaml

from pki.authority import write_private_file


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def build_kubeconfig(
    server: str,
    ca_pem: bytes,
    client_cert_pem: bytes,
    client_key_pem: bytes,
    *,
    cluster: str = "gitplane",
    user: str = "gitplane-admin",
    context: str = "gitplane",
    namespace: str | None = None,
) -> dict[str, Any]:
    """The kubeconfig document: one cluster, one user, one current context."""
    context_body: dict[str, str] = {"cluster": cluster, "user": user}
    if namespace:
        context_body["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(client_cert_pem),
                    "client-key-data": _b64(client_key_pem),
                },
            }
        ],
        "contexts": [{"name": context, "context": context_body}],
        "current-context": context,
        "preferences": {},
    }


def write_kubeconfig(path: str | os.PathLike[str], config: dict[str, Any]) -> None:
    """Write it owner-only: it holds a private key."""
    write_private_file(path, yaml.safe_dump(config, sort_keys=False).encode())
