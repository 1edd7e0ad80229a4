"""What the webhook knows of Git: the declared objects, read through a small protocol.

The decision depends only on `DesiredState`, so the Git store, a directory of
YAML files or a test can feed it. Cluster-scoped objects (Namespaces included)
are looked up with namespace "".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

MODE_ANNOTATION = "gitplane.io/mode"


@dataclass(frozen=True)
class Declared:
    """An object as declared in Git; `obj` is shared, so treat it as read-only."""

    obj: dict[str, Any]
    path: str  # file path in the repository
    revision: str  # short commit id the object was read at


class DesiredState(Protocol):
    def declared(self, group: str, kind: str, namespace: str, name: str) -> Declared | None:
        """The object Git declares under that identity, if any."""
        ...

    def is_managed(self, namespace: str) -> bool:
        """Whether Git holds desired state for this namespace."""
        ...

    def namespace_mode(self, namespace: str) -> str | None:
        """The `gitplane.io/mode` annotation of the Namespace as declared in Git."""
        ...


def mode_of(namespace_obj: dict[str, Any]) -> str | None:
    """The `gitplane.io/mode` annotation of a Namespace object, if it is a string."""
    annotations = (namespace_obj.get("metadata") or {}).get("annotations") or {}
    mode = annotations.get(MODE_ANNOTATION) if isinstance(annotations, dict) else None
    return mode if isinstance(mode, str) else None


def group_of(api_version: str) -> str:
    """`apps/v1` -> `apps`; the core group `v1` -> ``."""
    return api_version.rpartition("/")[0]


class InMemoryDesiredState:
    """A dict-backed DesiredState, for tests, benchmarks and the --desired-dir source."""

    def __init__(self) -> None:
        self._objects: dict[tuple[str, str, str, str], Declared] = {}
        self._per_namespace: Counter[str] = Counter()

    def put(self, obj: dict[str, Any], path: str, revision: str) -> None:
        key = self._key(obj)
        if key not in self._objects:
            self._per_namespace[self._owning_namespace(key)] += 1
        self._objects[key] = Declared(obj, path, revision)

    def remove(self, obj: dict[str, Any]) -> None:
        key = self._key(obj)
        if self._objects.pop(key, None) is not None:
            namespace = self._owning_namespace(key)
            self._per_namespace[namespace] -= 1
            if self._per_namespace[namespace] <= 0:
                del self._per_namespace[namespace]

    def __len__(self) -> int:
        return len(self._objects)

    def declared(self, group: str, kind: str, namespace: str, name: str) -> Declared | None:
        return self._objects.get((group, kind, namespace, name))

    def is_managed(self, namespace: str) -> bool:
        return bool(namespace) and namespace in self._per_namespace

    def namespace_mode(self, namespace: str) -> str | None:
        found = self._objects.get(("", "Namespace", "", namespace))
        if found is None:
            return None
        return mode_of(found.obj)

    @staticmethod
    def _key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
        meta = obj.get("metadata") or {}
        api_version, kind, name = obj.get("apiVersion"), obj.get("kind"), meta.get("name")
        if not (isinstance(api_version, str) and isinstance(kind, str) and isinstance(name, str)):
            raise ValueError("a declared object needs apiVersion, kind and metadata.name")
        namespace = "" if kind == "Namespace" else str(meta.get("namespace") or "")
        return group_of(api_version), kind, namespace, name

    @staticmethod
    def _owning_namespace(key: tuple[str, str, str, str]) -> str:
        # A declared Namespace makes its own namespace managed, even while empty.
        group, kind, namespace, name = key
        return name if (group, kind) == ("", "Namespace") else namespace
