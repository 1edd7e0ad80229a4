"""Object identity and the validation of user-supplied names."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, NamedTuple

from store.errors import FieldCause, Invalid

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL = re.compile(rf"^{_LABEL}$")
DNS1123_SUBDOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,62}$")
VERSION = re.compile(r"^v[0-9]+((alpha|beta)[0-9]+)?$|^[a-z0-9][a-z0-9.-]{0,62}$")

# Built-in kinds that are cluster-scoped. Anything else is namespaced unless a
# CustomResourceDefinition in the repository says otherwise.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("", "ComponentStatus"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("apiregistration.k8s.io", "APIService"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("storage.k8s.io", "VolumeAttributesClass"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("node.k8s.io", "RuntimeClass"),
        ("networking.k8s.io", "IngressClass"),
        ("networking.k8s.io", "IPAddress"),
        ("networking.k8s.io", "ServiceCIDR"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("certificates.k8s.io", "ClusterTrustBundle"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
        ("policy", "PodSecurityPolicy"),
        ("resource.k8s.io", "DeviceClass"),
        ("resource.k8s.io", "ResourceSlice"),
        ("resource.k8s.io", "DeviceTaintRule"),
        ("storagemigration.k8s.io", "StorageVersionMigration"),
        ("internal.apiserver.k8s.io", "StorageVersion"),
        ("authentication.k8s.io", "TokenReview"),
        ("authentication.k8s.io", "SelfSubjectReview"),
        ("authorization.k8s.io", "SubjectAccessReview"),
        ("authorization.k8s.io", "SelfSubjectAccessReview"),
        ("authorization.k8s.io", "SelfSubjectRulesReview"),
        # Widely installed custom kinds, whose CRDs a repository seldom carries.
        ("cert-manager.io", "ClusterIssuer"),
        ("gateway.networking.k8s.io", "GatewayClass"),
        ("argoproj.io", "ClusterWorkflowTemplate"),
        ("kyverno.io", "ClusterPolicy"),
        ("monitoring.coreos.com", "ClusterAlertmanagerConfig"),
        ("snapshot.storage.k8s.io", "VolumeSnapshotClass"),
        ("snapshot.storage.k8s.io", "VolumeSnapshotContent"),
        ("external-secrets.io", "ClusterSecretStore"),
        ("external-secrets.io", "ClusterExternalSecret"),
        ("gitplane.io", "ClusterManifest"),
    }
)

# RBAC objects may be named like `system:aggregate-to-admin`: Kubernetes only asks that
# such names be valid path segments.
PATH_SEGMENT_NAME_KINDS = frozenset(
    {
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("rbac.authorization.k8s.io", "Role"),
        ("rbac.authorization.k8s.io", "RoleBinding"),
    }
)


class ObjectKey(NamedTuple):
    """Who an object is: (API group, kind, namespace, name). The version is not identity.

    A tuple, so hashing is done in C: snapshots hash tens of thousands of these.
    """

    group: str
    kind: str
    namespace: str  # "" for cluster-scoped objects
    name: str

    def __str__(self) -> str:
        gk = f"{self.kind}.{self.group}" if self.group else self.kind
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{gk} {where}"

    @property
    def group_kind(self) -> tuple[str, str]:
        return (self.group, self.kind)


def split_api_version(api_version: str) -> tuple[str, str]:
    """`apps/v1` -> ("apps", "v1"); `v1` -> ("", "v1")."""
    group, _, version = api_version.rpartition("/")
    return group, version


def is_cluster_scoped(
    group: str, kind: str, extra: frozenset[tuple[str, str]] = frozenset()
) -> bool:
    return (group, kind) in CLUSTER_SCOPED_KINDS or (group, kind) in extra


def name_problems(group: str, kind: str, name: str) -> list[str]:
    """Why `name` is not acceptable for an object of this kind (empty when it is)."""
    if not name:
        return ["name is required"]
    if (group, kind) in PATH_SEGMENT_NAME_KINDS:
        return path_segment_problems(name)
    if (group, kind) == ("", "Namespace"):
        return namespace_problems(name)
    if (group, kind) == ("", "Service"):  # a DNS name of its own: ValidateServiceName
        if len(name) > 63:
            return ["must be no more than 63 characters"]
        if not DNS1035_LABEL.match(name):
            return [
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-',"
                " start with an alphabetic character, and end with an alphanumeric character"
            ]
        return []
    problems = []
    if len(name) > 253:
        problems.append("must be no more than 253 characters")
    if not DNS1123_SUBDOMAIN.match(name):
        problems.append(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters,"
            " '-' or '.', and must start and end with an alphanumeric character"
        )
    return problems


def path_segment_problems(name: str) -> list[str]:
    """kube-apiserver's rule for names that are only path segments (ValidatePathSegmentName):
    not `.` or `..`, no `/` or `%`. Control characters are refused too: kube-apiserver
    takes them, but a NUL or a newline has no place in a file name, a commit message or a
    terminal, and a name git cannot write would fail the commit instead of the request."""
    problems = []
    if name in (".", "..") or "/" in name or "%" in name:
        problems.append("may not be '.' or '..' and may not contain '/' or '%'")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
        problems.append("may not contain control characters")
    if len(name) > 253:
        problems.append("must be no more than 253 characters")
    return problems


def namespace_problems(namespace: str) -> list[str]:
    if len(namespace) > 63:
        return ["must be no more than 63 characters"]
    if not DNS1123_LABEL.match(namespace):
        return [
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or"
            " '-', and must start and end with an alphanumeric character"
        ]
    return []


def key_of(
    obj: Any,
    default_namespace: str | None,
    cluster_kinds: frozenset[tuple[str, str]] = frozenset(),
) -> ObjectKey:
    """The identity of a Kubernetes object, validated; raises Invalid listing every cause.

    The namespace is `metadata.namespace`, else `default_namespace` (a directory's
    namespace, or "" for the cluster directory, meaning cluster-scoped); known
    cluster-scoped kinds never have one.
    """
    causes: list[FieldCause] = []
    if not isinstance(obj, dict):
        raise Invalid("object must be a mapping", [FieldCause("", "must be an object")])
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    meta = obj.get("metadata")
    if not isinstance(api_version, str) or not api_version:
        causes.append(FieldCause("apiVersion", "Required value", "FieldValueRequired"))
        api_version = ""
    if not isinstance(kind, str) or not kind:
        causes.append(FieldCause("kind", "Required value", "FieldValueRequired"))
        kind = ""
    elif not KIND.match(kind):
        causes.append(FieldCause("kind", f"Invalid value: {kind!r}: not a valid kind"))
    if not isinstance(meta, dict):
        causes.append(FieldCause("metadata", "Required value", "FieldValueRequired"))
        meta = {}
    group, version = split_api_version(api_version)
    if api_version and (
        not VERSION.match(version) or (group and not DNS1123_SUBDOMAIN.match(group))
    ):
        causes.append(FieldCause("apiVersion", f"Invalid value: {api_version!r}"))
    name = meta.get("name")
    if not isinstance(name, str):
        causes.append(FieldCause("metadata.name", "Required value", "FieldValueRequired"))
        name = ""
    else:
        causes.extend(
            FieldCause("metadata.name", f"Invalid value: {name!r}: {p}")
            for p in name_problems(group, kind, name)
        )
    namespace = _namespace_of(
        meta.get("namespace"), group, kind, default_namespace, cluster_kinds, causes
    )
    if causes:
        what = f"{kind or 'object'} {name!r}" if name else (kind or "object")
        raise Invalid(f"{what} is invalid", causes)
    return ObjectKey(group, kind, namespace, name)


def _namespace_of(
    declared: Any,
    group: str,
    kind: str,
    default_namespace: str | None,
    cluster_kinds: frozenset[tuple[str, str]],
    causes: list[FieldCause],
) -> str:
    cluster_scoped = is_cluster_scoped(group, kind, cluster_kinds)
    if declared not in (None, ""):
        if not isinstance(declared, str):
            causes.append(FieldCause("metadata.namespace", "Invalid value: must be a string"))
            return ""
        if cluster_scoped:
            causes.append(
                FieldCause(
                    "metadata.namespace",
                    f"Forbidden: {kind} is cluster-scoped and may not have a namespace",
                    "FieldValueForbidden",
                )
            )
            return ""
        namespace = declared
    elif cluster_scoped:
        return ""
    elif default_namespace is None:
        causes.append(FieldCause("metadata.namespace", "Required value", "FieldValueRequired"))
        return ""
    else:
        namespace = default_namespace
    if namespace:
        causes.extend(
            FieldCause("metadata.namespace", f"Invalid value: {namespace!r}: {p}")
            for p in namespace_problems(namespace)
        )
    return namespace
