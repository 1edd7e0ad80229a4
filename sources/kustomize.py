"""Rendering a kustomization with the real kustomize (kubectl's), as Argo CD and Flux do.

Both reconcilers change the kustomization before they build it: Argo CD runs
`kustomize edit` for the Application's `spec.source.kustomize` options, in a fixed order;
Flux writes the Kustomization's fields into it (and generates one when the path has
none). That is done here on a copy of the directory, in the same order, and the copy is
built with `kubectl kustomize`. `buildMetadata` is added so kustomize itself records
which files made each object (its origin and transformer annotations), which become the
object's provenance and are then removed, as they are not in what the reconciler applies.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from sources.closure import KUSTOMIZATION_FILES
from sources.gittree import join, normalize
from sources.model import RenderError
from sources.tools import find_tool
from store.documents import is_blank, is_list, split_segments
from store.loader import LoadError, load_yaml

ORIGIN = "config.kubernetes.io/origin"
TRANSFORMATIONS = "alpha.config.kubernetes.io/transformations"
BUILD_METADATA = ["originAnnotations", "transformerAnnotations"]
RENDER_TIMEOUT = 60.0

Runner = Callable[..., "subprocess.CompletedProcess[str]"]  # subprocess.run, or a sandbox's


def kubectl() -> str:
    found = find_tool("kubectl")
    if found is None:
        raise RenderError("kubectl is not installed: its kustomize renders kustomizations")
    return found


def build(
    copy: Path,
    directory: str,
    *,
    edit: Any = None,
    generate: bool = False,
    load_restrictor: str | None = None,
    run: Runner = subprocess.run,
) -> list[tuple[dict[str, Any], tuple[str, ...]]]:
    """Build the kustomization in `copy` (a copy of the repository's `directory`):
    `edit(config, copy)` changes it first; `generate` writes one when there is none.
    Each object comes with the repository files that made it."""
    path = _kustomization_in(copy)
    if path is None:
        if not generate:
            raise RenderError(f"{directory or '.'} has no kustomization.yaml")
        path = copy / "kustomization.yaml"
        config: dict[str, Any] = generated_kustomization(copy)
    else:
        config = _load_config(path, directory)
    if edit is not None:
        edit(config, copy)
    ours = "buildMetadata" not in config
    config["buildMetadata"] = sorted({*config.get("buildMetadata", []), *BUILD_METADATA})
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    command = [kubectl(), "kustomize", str(copy)]
    if load_restrictor:
        command += ["--load-restrictor", load_restrictor]
    try:
        done = run(
            command,
            capture_output=True,
            text=True,
            timeout=RENDER_TIMEOUT,
            check=False,
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(copy.parent)},
        )
    except subprocess.TimeoutExpired:
        raise RenderError(f"kustomize did not finish building {directory} in 60 s") from None
    if done.returncode != 0:
        raise RenderError(_tool_error(done.stderr, copy, directory))
    return [
        (obj, _provenance(obj, directory, path.name, keep=not ours))
        for obj in objects_of_stream(done.stdout, "kustomize")
    ]


def objects_of_stream(text: str, tool: str) -> list[dict[str, Any]]:
    """The objects of a tool's YAML output (Lists expanded, empty documents dropped)."""
    found: list[dict[str, Any]] = []
    for segment in split_segments(text):
        if is_blank(segment):
            continue
        try:
            doc = load_yaml(segment)
        except LoadError as exc:
            raise RenderError(f"{tool} wrote a document that does not load: {exc}") from None
        if is_list(doc):
            found += [item for item in doc["items"] if isinstance(item, dict)]
        elif isinstance(doc, dict):
            found.append(doc)
    return found


def _kustomization_in(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        if (directory / name).is_file():
            return directory / name
    return None


def _load_config(path: Path, directory: str) -> dict[str, Any]:
    try:
        config = load_yaml(path.read_text())
    except (LoadError, UnicodeDecodeError) as exc:
        raise RenderError(f"{join(directory, path.name)}: {exc}") from None
    if not isinstance(config, dict):
        raise RenderError(f"{join(directory, path.name)} is not a kustomization")
    return config


def generated_kustomization(directory: Path) -> dict[str, Any]:
    """The kustomization Flux generates for a path that has none: every YAML file below
    it (a directory with its own kustomization is one resource), each of which must be
    Kubernetes objects (fluxcd/pkg kustomize generator)."""
    resources: list[str] = []

    def scan(current: Path, relative: str) -> None:
        for entry in sorted(current.iterdir(), key=lambda p: p.name):
            rel = f"{relative}/{entry.name}" if relative else entry.name
            if entry.is_symlink():
                continue
            if entry.is_dir():
                if _kustomization_in(entry) is not None:
                    resources.append(f"./{rel}")
                else:
                    scan(entry, rel)
            elif entry.suffix in (".yaml", ".yml"):
                _require_objects(entry, rel)
                resources.append(f"./{rel}")

    scan(directory, "")
    config: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }
    if not resources:
        config["namespace"] = "_placeholder"  # kustomize refuses an empty kustomization
    return config


def _require_objects(path: Path, relative: str) -> None:
    for segment in split_segments(path.read_text()):
        if is_blank(segment):
            continue
        try:
            doc = load_yaml(segment)
        except LoadError as exc:
            raise RenderError(f"{relative}: {exc}") from None
        if not (isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind")):
            raise RenderError(f"{relative} is not Kubernetes YAML (Flux would refuse it too)")


def _provenance(
    obj: dict[str, Any], directory: str, config_name: str, *, keep: bool
) -> tuple[str, ...]:
    """The files kustomize says made `obj` (its document, then the kustomizations that
    transformed it), as repository paths; the annotations go unless the kustomization
    asked for them itself."""
    metadata = obj.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    files: list[str] = []
    origin = _yaml_field(annotations.get(ORIGIN))
    if isinstance(origin, dict):
        where = origin.get("path") or origin.get("configuredIn")
        if isinstance(where, str):
            files.append(_repository_path(directory, where))
    transformations = _yaml_field(annotations.get(TRANSFORMATIONS))
    for step in transformations if isinstance(transformations, list) else []:
        where = step.get("path") or step.get("configuredIn") if isinstance(step, dict) else None
        if isinstance(where, str):
            files.append(_repository_path(directory, where))
    if not keep:
        for name in (ORIGIN, TRANSFORMATIONS):
            annotations.pop(name, None)
        if not annotations and "annotations" in metadata:
            del metadata["annotations"]
    files.append(join(directory, config_name))  # the source's own: where a change goes
    return tuple(dict.fromkeys(files))  # in order, once each


def _yaml_field(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return load_yaml(text)
    except LoadError:
        return None


def _repository_path(directory: str, reported: str) -> str:
    """kustomize reports paths relative to the directory it built (the copy beside the
    real one, so `../base/x.yaml` means the same from both)."""
    try:
        return join(directory, reported)
    except ValueError:
        return normalize(reported.lstrip("./"))


def _tool_error(stderr: str, copy: Path, directory: str) -> str:
    text = stderr.strip().replace(str(copy), directory or ".")
    lines = [line for line in text.splitlines() if line.strip()]
    return "kustomize: " + ("; ".join(lines[-3:]) if lines else "the build failed")
