"""Values the store hands out and takes in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from store.keys import ObjectKey


@dataclass(frozen=True)
class Requester:
    """The Kubernetes user a write is made for: the commit's author."""

    username: str
    groups: tuple[str, ...] = ()
    uid: str = ""


class StoredObject(NamedTuple):
    """An object as Git declares it, with what history says about it.

    `obj` is shared with the store's caches: read it, never change it. (A NamedTuple
    because reads build one per object served; it is the cheapest immutable record.)
    """

    key: ObjectKey
    obj: dict[str, Any]
    path: str
    resource_version: str  # of the commit that last changed the object
    uid: str
    created_at: int  # seconds since the epoch: time of the commit that added it
    commit_id: str  # the commit that last changed it
    line: int = 1
    holds_secret: bool = False  # has values the API never shows (store.secrets)


@dataclass(frozen=True)
class ObjectList:
    items: list[StoredObject]
    resource_version: str  # of the repository state the list reflects
    commit_id: str | None


@dataclass(frozen=True)
class WatchEvent:
    type: Literal["ADDED", "MODIFIED", "DELETED"]
    object: StoredObject
    resource_version: str  # of the commit that made the change
    # MODIFIED: the object before the change (a selector watch sees an object leave or
    # enter the selection: kube-apiserver's filter looks at both).
    previous: StoredObject | None = None


@dataclass(frozen=True)
class Put:
    """Create or replace an object.

    mode: "create" fails when it exists, "update" when it does not, "apply" does either.
    namespace: the namespace to assume when `obj` names none ("" = cluster-scoped);
    None means `obj` must say.
    """

    obj: dict[str, Any]
    namespace: str | None = None
    mode: Literal["create", "update", "apply"] = "apply"
    expect_rv: str | None = None
    text: str | None = None  # exact YAML to write when the object is new (restores)
    path: str | None = None  # where a new object goes instead of the layout's choice


@dataclass(frozen=True)
class Delete:
    key: ObjectKey
    expect_rv: str | None = None


@dataclass(frozen=True)
class FileWrite:
    """Set one file to `text` (None: remove it), whatever it holds: an overlay's
    kustomization, a values file, a file a revert restores. `expect_blob` is the blob it
    was worked out on ("" for a file that did not exist; None: not checked), so a file
    changed meanwhile is a conflict, never overwritten."""

    path: str
    text: str | None
    expect_blob: str | None = None

    @property
    def key(self) -> ObjectKey:
        return ObjectKey(FILE_GROUP, "File", "", self.path)


FILE_GROUP = "files.gitplane.io"
Operation = Put | Delete | FileWrite


@dataclass(frozen=True)
class WriteRequest:
    """One write: its operations become one commit authored by `who`."""

    operations: Sequence[Operation]
    who: Requester
    message: str | None = None
    request_id: str | None = None
    trailers: dict[str, str] | None = None


@dataclass(frozen=True)
class WriteResult:
    commit_id: str | None  # None when nothing changed (or a dry run)
    resource_version: str
    objects: dict[ObjectKey, StoredObject | None] = field(default_factory=dict)
    dry_run: bool = False
