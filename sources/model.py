"""The values the rendering layer hands out: sources, rendered objects, render results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Tool = Literal["kustomize", "helm", "directory", "plain"]
ARGO_APPLICATION = ("argoproj.io", "Application")
FLUX_KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io", "Kustomization")
FLUX_HELMRELEASE = ("helm.toolkit.fluxcd.io", "HelmRelease")


@dataclass(frozen=True, order=True)
class SourceRef:
    """Which Application, Kustomization or HelmRelease: its kind, namespace and name, and
    the file that declares it (two clusters' directories may each declare `apps`)."""

    kind: str
    namespace: str
    name: str
    declared_in: str = ""

    def __str__(self) -> str:
        return (
            f"{self.kind} {self.namespace}/{self.name}"
            if self.namespace
            else f"{self.kind} {self.name}"
        )


@dataclass(frozen=True)
class Source:
    """One thing a reconciler renders and applies: where from, with what, to where."""

    ref: SourceRef
    tool: Tool
    path: str  # repository-relative directory the tool renders ("" = the root)
    destination: str  # namespace objects without one are applied to ("" = none)
    options: Mapping[str, Any] = field(default_factory=dict)  # tool settings (see render)
    flavour: Literal["argo", "flux", "plain"] = "argo"
    parent: SourceRef | None = None  # the source whose output declared this one
    skipped: str = ""  # why it is not rendered here (another cluster, a remote chart...)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.ref.kind, self.ref.namespace, self.ref.name, self.ref.declared_in)


@dataclass(frozen=True)
class Rendered:
    """An object as the reconciler will apply it, and the files that made it."""

    obj: dict[str, Any]
    source: SourceRef
    files: tuple[str, ...]  # provenance: the document first, then what transformed it
    hook: bool = False  # a Helm or Argo CD hook: run during a sync, not kept applied

    @property
    def path(self) -> str:
        """The file to change for this object: the narrowest one that made it."""
        return self.files[-1] if self.files else ""


@dataclass(frozen=True)
class RenderResult:
    """One source rendered at one commit (or why it could not be)."""

    source: Source
    objects: tuple[Rendered, ...] = ()
    error: str = ""
    inputs: str = ""  # the key of everything the build read (render cache)
    commit: str = ""  # the commit rendered
    stale: bool = False  # the newest commit failed: these objects are the last good render
    reads: tuple[str, ...] = ()  # directories and files the build read (and its own file)

    def reads_any(self, changed: set[str]) -> bool:
        """Whether a commit changing `changed` (file paths) changes what this renders."""
        for path in changed:
            for read in self.reads:
                if not read or path == read or path.startswith(read + "/"):
                    return True
        return False

    @property
    def ok(self) -> bool:
        return not self.error


def mapping(value: Any) -> dict[str, Any]:
    """`value` if it is a mapping, else an empty one: documents are read as they come."""
    return value if isinstance(value, dict) else {}


class RenderError(Exception):
    """A source that cannot be rendered; the message says why, for a person."""
