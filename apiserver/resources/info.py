"""What a kind is, as one small immutable value (lightkube's ApiInfo idea).

Discovery, OpenAPI, table columns and routes are all derived from these values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kube.table import Column

GROUP = "gitplane.io"
VERSION = "v1alpha1"
GROUP_VERSION = f"{GROUP}/{VERSION}"

READ_VERBS = ("get", "list", "watch")
WRITE_VERBS = ("create", "update", "patch", "delete")


@dataclass(frozen=True)
class Subresource:
    """A subresource such as `status`; discovery lists it as `<plural>/<name>`."""

    name: str
    verbs: tuple[str, ...] = ("get", "patch", "update")
    kind: str = ""  # "" means the parent's kind (true of `status`)


@dataclass(frozen=True)
class ResourceInfo:
    plural: str
    singular: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...]
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ("gitplane",)
    columns: tuple[Column, ...] = ()
    description: str = ""
    # OpenAPI v3 schema of `spec` and `status` (the rest of the object is standard).
    spec_schema: dict[str, Any] = field(default_factory=dict)
    status_schema: dict[str, Any] = field(default_factory=dict)
    # field selectors beyond metadata.name / metadata.namespace
    selectable_fields: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def group_resource(self) -> str:
        return f"{self.plural}.{GROUP}"


_AGE = Column("Age", "date", description="Time since the object was first declared in Git.")
_MANIFEST_COLUMNS = (
    Column("Name", format="name", description="<lowercased kind>.<object name>"),
    Column("Kind", description="Kind of the declared object."),
    Column("API Version", description="apiVersion of the declared object."),
    Column("Revision", description="Short id of the last commit that changed it."),
    _AGE,
    Column("Path", description="File in the repository to change for it.", priority=1),
    Column("Author", description="Author of the last commit that changed it.", priority=1),
    Column(
        "Source",
        description="The Application or Kustomization that renders it (rendered sources).",
        priority=1,
    ),
    Column("Files", description="The files that make it, the narrowest last.", priority=1),
)

_OBJECT = {
    "type": "object",
    "description": "The Kubernetes object as declared in Git.",
    "x-kubernetes-preserve-unknown-fields": True,
    "x-kubernetes-embedded-resource": True,
}
_MANIFEST_SPEC = {
    "type": "object",
    "description": "Desired state declared in Git.",
    "required": ["object"],
    "properties": {"object": _OBJECT},
}
_MANIFEST_STATUS = {
    "type": "object",
    "description": "Where and when Git declares the object.",
    "properties": {
        "path": {"type": "string", "description": "File in the repository that declares it."},
        "revision": {"type": "string", "description": "Last commit that changed the object."},
        "author": {"type": "string", "description": "Author of that commit."},
        "committed": {
            "type": "string",
            "format": "date-time",
            "description": "Time of that commit.",
        },
        "source": {
            "type": "string",
            "description": "The Application, Kustomization or HelmRelease that renders it.",
        },
        "files": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The files that make it, the narrowest (where a change goes) last.",
        },
    },
}
_CHANGE = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["ADDED", "MODIFIED", "DELETED"]},
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "name": {"type": "string"},
        "manifest": {"type": "string", "description": "Name of the Manifest that changed."},
    },
}
_REVISION_SPEC = {
    "type": "object",
    "description": "A commit that changed this namespace's desired state (read-only).",
    "properties": {
        "commit": {"type": "string"},
        "author": {"type": "string"},
        "authorEmail": {"type": "string"},
        "time": {"type": "string", "format": "date-time"},
        "message": {"type": "string"},
        "parents": {"type": "array", "items": {"type": "string"}},
        "changes": {"type": "array", "items": _CHANGE},
        "diff": {"type": "string", "description": "Unified diff restricted to this namespace."},
    },
}
_OPERATION_SPEC = {
    "type": "object",
    "required": ["revision"],
    "properties": {
        "revision": {
            "type": "string",
            "description": "Commit id or a unique prefix of 7+ hex digits.",
        },
        "message": {"type": "string", "description": "Commit message (optional)."},
    },
}
_OPERATION_STATUS = {
    "type": "object",
    "properties": {
        "commit": {"type": "string", "description": "The commit this operation made."},
        "author": {"type": "string"},
        "time": {"type": "string", "format": "date-time"},
        "changes": {"type": "array", "items": _CHANGE},
    },
}
_CHANGESET_SPEC = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "description": "Commit message."},
        "put": {"type": "array", "description": "Objects to create or replace.", "items": _OBJECT},
        "delete": {
            "type": "array",
            "description": "Manifests to delete, by name (<lowercased kind>.<name>).",
            "items": {"type": "string"},
        },
    },
}

MANIFESTS = ResourceInfo(
    plural="manifests",
    singular="manifest",
    kind="Manifest",
    namespaced=True,
    verbs=(*READ_VERBS, *WRITE_VERBS),
    short_names=("mf",),
    columns=_MANIFEST_COLUMNS,
    description="An object of a namespace as declared in Git.",
    spec_schema=_MANIFEST_SPEC,
    status_schema=_MANIFEST_STATUS,
)
CLUSTER_MANIFESTS = ResourceInfo(
    plural="clustermanifests",
    singular="clustermanifest",
    kind="ClusterManifest",
    namespaced=False,
    verbs=(*READ_VERBS, *WRITE_VERBS),
    short_names=("cmf",),
    columns=_MANIFEST_COLUMNS,
    description="A cluster-scoped object (Namespace, ClusterRole, CRD...) as declared in Git.",
    spec_schema=_MANIFEST_SPEC,
    status_schema=_MANIFEST_STATUS,
)
REVISIONS = ResourceInfo(
    plural="revisions",
    singular="revision",
    kind="Revision",
    namespaced=True,
    verbs=("get", "list", "watch"),
    short_names=("rev",),
    columns=(
        Column("Name", format="name", description="Commit id."),
        Column("Author"),
        Column("Message", description="First line of the commit message."),
        Column("Changes", "integer", description="Objects it changed in this namespace."),
        Column("Age", "date"),
    ),
    description="A commit that changed the namespace's desired state.",
    spec_schema=_REVISION_SPEC,
)


def _history_operation(kind: str, revision_column: str, description: str) -> ResourceInfo:
    """Revert and Rollback: the same shape, one commit each, found again from trailers."""
    verb = kind.lower()
    return ResourceInfo(
        plural=f"{verb}s",
        singular=verb,
        kind=kind,
        namespaced=True,
        verbs=("get", "list", "create"),
        columns=(
            Column("Name", format="name"),
            Column("Revision", description=revision_column),
            Column("Commit", description=f"The commit the {verb} made."),
            Column("Author"),
            Column("Age", "date"),
        ),
        description=description,
        spec_schema=_OPERATION_SPEC,
        status_schema=_OPERATION_STATUS,
    )


REVERTS = _history_operation(
    "Revert", "The reverted commit.", "Undo one revision in this namespace only, as a new commit."
)
ROLLBACKS = _history_operation(
    "Rollback",
    "The revision rolled back to.",
    "Set this namespace's desired state back to a revision, as a new commit.",
)
CHANGESETS = ResourceInfo(
    plural="changesets",
    singular="changeset",
    kind="ChangeSet",
    namespaced=True,
    verbs=("create",),
    description="Several objects put or deleted in one atomic commit.",
    spec_schema=_CHANGESET_SPEC,
    status_schema=_OPERATION_STATUS,
)

_SOURCE_SPEC = {
    "type": "object",
    "description": "A source of desired state the reconcilers render (read-only).",
    "properties": {
        "kind": {"type": "string", "description": "Application, Kustomization or HelmRelease."},
        "namespace": {"type": "string"},
        "name": {"type": "string"},
        "declaredIn": {"type": "string", "description": "The file that declares it."},
        "path": {"type": "string", "description": "What the tool renders, in the repository."},
        "tool": {"type": "string", "enum": ["kustomize", "helm", "directory"]},
        "destination": {"type": "string", "description": "Namespace objects are applied to."},
        "parent": {"type": "string", "description": "The source whose render declared it."},
    },
}
_SOURCE_STATUS = {
    "type": "object",
    "properties": {
        "phase": {"type": "string", "enum": ["Rendered", "Stale", "Failed", "Skipped"]},
        "commit": {"type": "string", "description": "The commit rendered."},
        "objects": {"type": "integer", "description": "Objects it applies."},
        "error": {"type": "string", "description": "Why it does not render (or is skipped)."},
        "conflicts": {"type": "array", "items": {"type": "string"}},
    },
}
SOURCES = ResourceInfo(
    plural="sources",
    singular="source",
    kind="Source",
    namespaced=False,
    verbs=("get", "list"),
    short_names=("src",),
    columns=(
        Column("Name", format="name", description="<kind>.<namespace>.<name>"),
        Column("Kind"),
        Column("Path", description="What the tool renders."),
        Column("Tool"),
        Column("Destination", description="Namespace objects are applied to."),
        Column("Status", description="Rendered, Stale, Failed or Skipped."),
        Column("Objects", "integer"),
        Column("Commit", description="Short id of the commit rendered."),
        Column("Error", description="Why it does not render.", priority=1),
        Column("Declared In", description="The file that declares it.", priority=1),
    ),
    description="What Argo CD and Flux render from this repository, and how it went.",
    spec_schema=_SOURCE_SPEC,
    status_schema=_SOURCE_STATUS,
)

ALL = (MANIFESTS, CLUSTER_MANIFESTS, REVISIONS, REVERTS, ROLLBACKS, CHANGESETS, SOURCES)
