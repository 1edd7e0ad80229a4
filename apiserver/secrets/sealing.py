"""Sealing a Secret into a SealedSecret (bitnami.com/v1alpha1), as `kubeseal` does.

The format is sealed-secrets' `pkg/crypto/crypto.go` (HybridEncrypt): for each value, a
fresh 32-byte AES-256 session key is encrypted with RSA-OAEP (SHA-256, MGF1-SHA-256)
under the controller's public key, with a label that binds the value to where it may be
unsealed; then

    2-byte big-endian length of the RSA ciphertext || RSA ciphertext
        || AES-256-GCM(session key, 12 zero bytes as nonce, no AAD) of the value

standard base64, in `spec.encryptedData`. The label (`EncryptionLabel` in
`pkg/apis/sealedsecrets/v1alpha1/sealedsecret_expansion.go`) is `namespace/name` in strict
scope, `namespace` in namespace-wide scope and empty in cluster-wide scope; the controller
rebuilds it from the SealedSecret's own metadata, so a strict value moved to another name
or namespace does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import copy
import os
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kube.meta import SYSTEM_FIELDS

API_VERSION = "bitnami.com/v1alpha1"
KIND = "SealedSecret"
NAMESPACE_WIDE = "sealedsecrets.bitnami.com/namespace-wide"
CLUSTER_WIDE = "sealedsecrets.bitnami.com/cluster-wide"
SESSION_KEY_BYTES = 32
ZERO_NONCE = bytes(12)
# kubeseal drops these from the template: each holds a full copy of the Secret, values included.
LAST_APPLIED = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
)
# Read-only fields the API server sets, and owner references; kubeseal strips them
# before sealing.
SERVER_FIELDS = (*SYSTEM_FIELDS, "ownerReferences")


# Annotations a sealed template may keep (they are stored unencrypted): Kubernetes' own,
# sealed-secrets' and the reconcilers' (a service account token's, Argo CD's sync options).
TEMPLATE_ANNOTATION_PREFIXES = (
    "sealedsecrets.bitnami.com/",
    "argocd.argoproj.io/",
    "kustomize.toolkit.fluxcd.io/",
    "helm.sh/",
    "meta.helm.sh/",
)


def is_template_annotation(name: str) -> bool:
    """Whether a Secret's annotation may go into a sealed template as it is."""
    prefix, slash, _ = name.partition("/")
    if not slash:
        return False
    if prefix in ("kubernetes.io", "k8s.io") or prefix.endswith((".kubernetes.io", ".k8s.io")):
        return name not in LAST_APPLIED
    return name.startswith(TEMPLATE_ANNOTATION_PREFIXES)


class Scope(StrEnum):
    STRICT = "strict"
    NAMESPACE_WIDE = "namespace-wide"
    CLUSTER_WIDE = "cluster-wide"


class SealingError(ValueError):
    """A Secret that cannot be sealed; `field` names the culprit, never its value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def scope_of(metadata: Any) -> Scope:
    """The scope the annotations ask for (sealed-secrets' SecretScope): exactly "true"."""
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(annotations, dict):
        return Scope.STRICT
    if annotations.get(CLUSTER_WIDE) == "true":
        return Scope.CLUSTER_WIDE
    if annotations.get(NAMESPACE_WIDE) == "true":
        return Scope.NAMESPACE_WIDE
    return Scope.STRICT


def encryption_label(namespace: str, name: str, scope: Scope) -> bytes:
    if scope is Scope.CLUSTER_WIDE:
        return b""
    if scope is Scope.NAMESPACE_WIDE:
        return namespace.encode()
    return f"{namespace}/{name}".encode()


def hybrid_encrypt(public_key: rsa.RSAPublicKey, plaintext: bytes, label: bytes) -> bytes:
    """sealed-secrets' HybridEncrypt."""
    session_key = os.urandom(SESSION_KEY_BYTES)
    oaep = padding.OAEP(
        mgf=padding.MGF1(algorithm=hashes.SHA256()),
        algorithm=hashes.SHA256(),
        label=label or None,  # an empty label and no label are the same to OAEP
    )
    wrapped = public_key.encrypt(session_key, oaep)
    sealed = AESGCM(session_key).encrypt(ZERO_NONCE, plaintext, None)
    return len(wrapped).to_bytes(2, "big") + wrapped + sealed


def seal(
    secret: dict[str, Any], public_key: rsa.RSAPublicKey, namespace: str = ""
) -> dict[str, Any]:
    """The SealedSecret kubeseal would make of `secret` (a core/v1 Secret).

    `namespace` is used when the Secret's metadata names none (the namespace it is
    submitted to). Raises SealingError for a Secret that cannot be sealed.
    """
    metadata = secret.get("metadata")
    if not isinstance(metadata, dict):
        raise SealingError("metadata", "a Secret needs metadata with a name")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise SealingError("metadata.name", "a Secret needs a name to be sealed")
    scope = scope_of(metadata)
    namespace = metadata.get("namespace") or namespace
    if not isinstance(namespace, str):
        raise SealingError("metadata.namespace", "must be a string")
    if not namespace and scope is not Scope.CLUSTER_WIDE:
        raise SealingError("metadata.namespace", "a Secret must declare a namespace to be sealed")
    label = encryption_label(namespace, name, scope)
    encrypted = {
        key: base64.b64encode(hybrid_encrypt(public_key, value, label)).decode("ascii")
        for key, value in sorted(_plaintexts(secret).items())
    }
    template_meta = {k: copy.deepcopy(v) for k, v in metadata.items() if k not in SERVER_FIELDS}
    if namespace:
        template_meta["namespace"] = namespace
    annotations = template_meta.get("annotations")
    if isinstance(annotations, dict):
        kept = {k: v for k, v in annotations.items() if k not in LAST_APPLIED}
        if kept:
            template_meta["annotations"] = kept
        else:
            del template_meta["annotations"]
    template: dict[str, Any] = {"metadata": template_meta}
    for field in ("type", "immutable"):
        if secret.get(field) is not None:
            template[field] = secret[field]
    sealed_meta: dict[str, Any] = {"name": name}
    if namespace:
        sealed_meta["namespace"] = namespace
    if scope is not Scope.STRICT:  # UpdateScopeAnnotations
        sealed_meta["annotations"] = {
            NAMESPACE_WIDE if scope is Scope.NAMESPACE_WIDE else CLUSTER_WIDE: "true"
        }
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": sealed_meta,
        "spec": {"encryptedData": encrypted, "template": template},
    }


def _plaintexts(secret: dict[str, Any]) -> dict[str, bytes]:
    """Each value as bytes: `data` decoded from base64, then `stringData` over it."""
    values: dict[str, bytes] = {}
    data = secret.get("data")
    if data is not None and not isinstance(data, dict):
        raise SealingError("data", "must be a map of keys to base64 strings")
    for key, value in (data or {}).items():
        if value is None:
            continue
        if not isinstance(value, str):
            raise SealingError(f"data[{key}]", "must be a base64 string")
        try:
            values[str(key)] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SealingError(f"data[{key}]", "is not valid base64") from None
    string_data = secret.get("stringData")
    if string_data is not None and not isinstance(string_data, dict):
        raise SealingError("stringData", "must be a map of keys to strings")
    for key, value in (string_data or {}).items():
        if value is None:
            continue
        if not isinstance(value, str):
            raise SealingError(f"stringData[{key}]", "must be a string")
        values[str(key)] = value.encode()
    return values
