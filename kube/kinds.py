"""Which kinds and versions Kubernetes' built-in API groups serve, and their scope: from the
official schemas (kubernetes-validate, SCHEMA_VERSION) and store.keys' cluster-scoped list.

An object in a built-in group that names a kind or version the group does not serve
(`kind: secret`, `apiVersion: v1beta1`, `apiVersion: core/v1`) is refused as
kube-apiserver would refuse it: it would never be applied, and a Secret spelled that way
would slip past every check made for Secrets.
"""

from __future__ import annotations

import json
from collections import defaultdict
from functools import cache
from typing import Any

from kube.schemas import schema_directory
from kube.status import FieldError, go_quote
from store.keys import is_cluster_scoped

# How people (and RBAC docs) name the core group; an apiVersion never does.
_CORE_GROUP_ALIAS = "core"


@cache
def served_kinds() -> dict[str, dict[str, frozenset[str]]]:
    """group -> version -> kinds, for every built-in group ("" is the core group)."""
    text = (schema_directory() / "_definitions.json").read_text()
    definitions: dict[str, Any] = json.loads(text).get("$defs", {})
    found: defaultdict[str, defaultdict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for schema in definitions.values():
        for gvk in (
            schema.get("x-kubernetes-group-version-kind", []) if isinstance(schema, dict) else []
        ):
            found[gvk["group"]][gvk["version"]].add(gvk["kind"])
    return {
        group: {version: frozenset(kinds) for version, kinds in versions.items()}
        for group, versions in found.items()
    }


def builtin_kind_errors(api_version: object, kind: object, prefix: str) -> list[FieldError]:
    """Why a built-in group would not take this kind and version (empty when it would, or
    when the group is not built in: a CRD's, which this server cannot know)."""
    if not isinstance(api_version, str) or not isinstance(kind, str) or not kind:
        return []
    group, _, version = api_version.rpartition("/")
    api_path = f"{prefix}.apiVersion" if prefix else "apiVersion"
    kind_path = f"{prefix}.kind" if prefix else "kind"
    if group == _CORE_GROUP_ALIAS:
        return [
            FieldError.invalid(
                api_path,
                api_version,
                f"the core API group has no name: write {go_quote(version)}, not"
                f" {go_quote(api_version)}",
            )
        ]
    versions = served_kinds().get(group)
    if versions is None:
        return []
    kinds = versions.get(version)
    if kinds is None:
        served = ", ".join(sorted(versions))
        where = f"group {go_quote(group)}" if group else "the core group"
        return [
            FieldError.invalid(
                api_path,
                api_version,
                f"no version {go_quote(version)} of {where}; it serves {served}",
            )
        ]
    if kind in kinds:
        return []
    detail = f"no matches for kind {go_quote(kind)} in version {go_quote(api_version)}"
    near = sorted(k for k in kinds if k.lower() == kind.lower())
    if near:
        detail += f" (kinds are case-sensitive: {go_quote(near[0])})"
    return [FieldError.invalid(kind_path, kind, detail)]


def is_namespaced_builtin(group: str, kind: str) -> bool:
    """A kind of a built-in group that lives in namespaces (store.keys lists the others)."""
    versions = served_kinds().get(group)
    if versions is None or is_cluster_scoped(group, kind):
        return False
    return any(kind in kinds for kinds in versions.values())


def builtin_group_versions() -> list[str]:
    """Every built-in group/version, as `helm template --api-versions` takes them."""
    return sorted(
        f"{group}/{version}" if group else version
        for group, versions in served_kinds().items()
        for version in versions
    )


def is_namespaced(
    group: str, kind: str, cluster_kinds: frozenset[tuple[str, str]] = frozenset()
) -> bool:
    """Whether objects of a kind live in namespaces: built-in kinds by their own scope,
    `cluster_kinds` (CRDs that say `scope: Cluster`) not; any other kind is taken as
    namespaced, as Argo CD takes a kind it does not know."""
    return not is_cluster_scoped(group, kind, cluster_kinds)
