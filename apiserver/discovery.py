"""Discovery documents built from ResourceInfos: what `/api`, `/apis`, `/apis/<group>`,
`/apis/<group>/<version>` and `/version` answer, legacy and aggregated (apidiscovery v2).

Shapes follow metav1.APIGroupList / APIGroup / APIResourceList / APIVersions,
apidiscovery.k8s.io/v2 APIGroupDiscoveryList and version.Info.
"""

from __future__ import annotations

import base64
import hashlib
import json
import platform
import re
import sys
from collections.abc import Iterable
from typing import Any, Final

from apiserver.resources.info import GROUP, GROUP_VERSION, VERSION, ResourceInfo

JSONObject = dict[str, Any]

DISCOVERY_GROUP: Final = "apidiscovery.k8s.io"
KUBERNETES_VERSION: Final = "v1.37.0"
"""The Kubernetes release whose API conventions this server follows."""
OLDEST_KUBECTL_MINOR: Final = 32
"""The oldest kubectl minor release this server is tested with (tests/apiserver)."""

_GROUP_VERSION_FOR_DISCOVERY: Final = {"groupVersion": GROUP_VERSION, "version": VERSION}


# --- legacy discovery -----------------------------------------------------------------------


def api_versions(*, core: bool = False) -> JSONObject:
    """`/api`: no core group here (an empty APIVersions is what client-go tolerates best),
    or, standalone, the v1 whose namespaces apiserver.standalone serves."""
    versions = ["v1"] if core else []
    return {"kind": "APIVersions", "versions": versions, "serverAddressByClientCIDRs": []}


def api_group() -> JSONObject:
    """`/apis/gitplane.io`."""
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": GROUP,
        "versions": [dict(_GROUP_VERSION_FOR_DISCOVERY)],
        "preferredVersion": dict(_GROUP_VERSION_FOR_DISCOVERY),
    }


def api_group_list() -> JSONObject:
    """`/apis`."""
    group = api_group()
    del group["kind"], group["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]}


def storage_version_hash(kind: str, group: str = GROUP, version: str = VERSION) -> str:
    """discovery.StorageVersionHash: base64 of the first 8 bytes of sha256("g/v/kind")."""
    digest = hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def _api_resource(info: ResourceInfo) -> JSONObject:
    resource: JSONObject = {
        "name": info.plural,
        "singularName": info.singular,
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": list(info.verbs),
    }
    if info.short_names:
        resource["shortNames"] = list(info.short_names)
    if info.categories:
        resource["categories"] = list(info.categories)
    resource["storageVersionHash"] = storage_version_hash(info.kind)
    return resource


def _api_subresources(info: ResourceInfo) -> list[JSONObject]:
    # Subresources take the parent's scope and have no singular name (upstream leaves it "").
    return [
        {
            "name": f"{info.plural}/{sub.name}",
            "singularName": "",
            "namespaced": info.namespaced,
            "kind": sub.kind or info.kind,
            "verbs": list(sub.verbs),
        }
        for sub in info.subresources
    ]


def api_resource_list(infos: Iterable[ResourceInfo]) -> JSONObject:
    """`/apis/gitplane.io/v1alpha1`: every resource, then its subresources as `plural/sub`."""
    resources: list[JSONObject] = []
    for info in infos:
        resources.append(_api_resource(info))
        resources.extend(_api_subresources(info))
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": GROUP_VERSION,
        "resources": resources,
    }


# --- aggregated discovery (apidiscovery.k8s.io v2 / v2beta1) --------------------------------


def _discovery_resource(info: ResourceInfo) -> JSONObject:
    resource: JSONObject = {
        "resource": info.plural,
        "responseKind": {"group": GROUP, "version": VERSION, "kind": info.kind},
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular,
        "verbs": list(info.verbs),
    }
    if info.short_names:
        resource["shortNames"] = list(info.short_names)
    if info.categories:
        resource["categories"] = list(info.categories)
    if info.subresources:
        resource["subresources"] = [
            {
                "subresource": sub.name,
                "responseKind": {"group": GROUP, "version": VERSION, "kind": sub.kind or info.kind},
                "verbs": list(sub.verbs),
            }
            for sub in info.subresources
        ]
    return resource


def aggregated_discovery(infos: Iterable[ResourceInfo], version: str = "v2") -> JSONObject:
    """`/apis` as an APIGroupDiscoveryList (`version` is `v2` or `v2beta1`: same shape)."""
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"{DISCOVERY_GROUP}/{version}",
        "metadata": {},
        "items": [
            {
                "metadata": {"name": GROUP},
                "versions": [
                    {
                        "version": VERSION,
                        "resources": [_discovery_resource(info) for info in infos],
                        "freshness": "Current",
                    }
                ],
            }
        ],
    }


def empty_aggregated_discovery(version: str = "v2") -> JSONObject:
    """`/api` asked for aggregated discovery: no legacy (core) groups here."""
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"{DISCOVERY_GROUP}/{version}",
        "metadata": {},
        "items": [],
    }


# --- /version -------------------------------------------------------------------------------

_GO_ARCH: Final = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def go_platform() -> str:
    """`linux/amd64` style, as Go's runtime.GOOS/GOARCH spell them."""
    machine = platform.machine().lower()
    return f"{sys.platform}/{_GO_ARCH.get(machine, machine)}"


def version_info(
    git_version: str = KUBERNETES_VERSION,
    *,
    git_commit: str = "",
    build_date: str = "",
    min_compatibility_minor: int | None = None,
) -> JSONObject:
    """version.Info. kubectl compares major/minor with its own to warn about skew, so they
    follow the Kubernetes release whose conventions the server implements."""
    major, minor = git_version.lstrip("v").split(".")[:2]
    python = platform.python_version()
    return {
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": str(min_compatibility_minor or minor),
        "gitVersion": git_version,
        "gitCommit": git_commit,
        "gitTreeState": "clean" if git_commit else "",
        "buildDate": build_date,
        "goVersion": f"python{python}",
        "compiler": platform.python_implementation().lower(),
        "platform": go_platform(),
    }


_CLIENT_RELEASE = re.compile(r"^[^/\s]+/v1\.(\d+)\.")


def version_for_client(user_agent: str | None, gitplane_version: str) -> JSONObject:
    """What a standalone gitplane tells a client of its version (there is no kube-apiserver
    in front of it to answer): the Kubernetes API level it speaks *to that client*, and
    itself in the build metadata (`v1.32.0+gitplane.0.1.0`).

    gitplane speaks the API of every kubectl from 1.32 to 1.37 alike, but kubectl warns
    when the server's minor release is more than one from its own, so one fixed number
    would make some supported kubectl warn. A client within that range is told its own
    release; any other client (or none named) the newest, with the oldest supported one
    as minCompatibility."""
    newest = int(KUBERNETES_VERSION.split(".")[1])
    found = _CLIENT_RELEASE.match(user_agent or "")
    minor = newest
    if found and OLDEST_KUBECTL_MINOR <= int(found[1]) <= newest:
        minor = int(found[1])
    return version_info(
        f"v1.{minor}.0+gitplane.{gitplane_version}", min_compatibility_minor=OLDEST_KUBECTL_MINOR
    )


# --- bodies ---------------------------------------------------------------------------------


def encode(document: JSONObject) -> bytes:
    """Compact, deterministic JSON (key order as built): the bytes an ETag is taken of."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
