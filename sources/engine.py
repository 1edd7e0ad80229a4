"""From a commit to what the reconcilers apply: discover the sources, render each with its
tool (once per set of inputs: the render cache), follow the Applications and
Kustomizations a render declares, and place every object in its destination namespace.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import pygit2

from kube.kinds import is_namespaced
from sources import argo, flux
from sources.artifacts import GROUP as ARTIFACT_GROUP
from sources.artifacts import ArtifactTree, Generated, generated_artifacts, lay_out
from sources.closure import Closure, kustomization_file, kustomize_closure
from sources.directory import render_directory
from sources.gittree import GitTree, join, normalize, shared_directories
from sources.helm import HelmInvocation, is_hook, template
from sources.kustomize import build
from sources.model import Rendered, RenderError, RenderResult, Source, SourceRef, mapping
from sources.sandbox import Sandbox
from sources.tools import find_tool
from sources.workspace import Workspace
from store.errors import Invalid
from store.keys import CLUSTER_SCOPED_KINDS, ObjectKey, key_of, split_api_version
from store.loader import LoadError, load_yaml

log = logging.getLogger("gitplane.sources")

MAX_GENERATIONS = 8  # app-of-apps of app-of-apps...: deeper is a loop
MAX_SOURCES = 5000
_ENGINE_VERSION = "2"  # part of every render cache key: bump when what a render records changes


@dataclass(frozen=True)
class Settings:
    """What this gitplane guards (see sources.argo.Target) and how to read Flux."""

    target: argo.Target = field(default_factory=argo.Target)
    flux_paths: tuple[str, ...] = ()  # only Flux Kustomizations declared under these
    strict_substitution: bool = True  # Flux's StrictPostBuildSubstitutions (on by default)


@dataclass(frozen=True)
class Conflict:
    """Two sources applying the same object to the same namespace (Argo CD's "shared
    resource"): the first source, in source order, is served."""

    key: ObjectKey
    served_from: SourceRef
    also_from: SourceRef


@dataclass
class DesiredState:
    """What the reconcilers apply at one commit, by object, and how each source fared."""

    commit: str | None
    results: dict[tuple[Any, ...], RenderResult] = field(default_factory=dict)
    tree_id: str | None = None
    objects: dict[ObjectKey, Rendered] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)
    # (file, message) of objects no reconciler could apply
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def commit_tree(self) -> str | None:
        return self.tree_id

    @cached_property
    def destinations(self) -> frozenset[str]:
        return frozenset(
            r.source.destination for r in self.results.values() if r.source.destination
        )

    def stale(self) -> list[RenderResult]:
        return [r for r in self.results.values() if r.stale]


def source_key(source: Source) -> tuple[Any, ...]:
    parent = source.parent
    return (
        *source.key,
        source.options.get("index", 0),
        parent.kind if parent else "",
        parent.declared_in if parent else "",
        parent.name if parent else "",
    )


class Engine:
    def __init__(self, repository: str, workspace: Path, settings: Settings | None = None) -> None:
        self.repository = repository
        self.settings = settings or Settings()
        self.workspace = Workspace(workspace)
        self._artifact_workspaces: dict[str, Workspace] = {}
        self._artifact_lock = threading.Lock()
        tools = tuple(t for t in (find_tool("kubectl"), find_tool("helm")) if t)
        self.sandbox = Sandbox(workspace, tools)  # the tools run confined to the workspace
        self._cache: dict[str, tuple[tuple[Rendered, ...], str]] = {}  # inputs -> (objects, error)
        self._cache_dir = workspace / "renders"
        self._local = threading.local()
        self.renders = 0  # tool runs (tests and benches read it)
        self._applications: dict[tuple[Any, ...], tuple[dict[str, Any], list[Source]]] = {}
        # source key -> (the tree a write's check rendered on, the files it wrote, objects)
        self._handovers: dict[
            tuple[Any, ...], tuple[str | None, dict[str, str | None], tuple[Rendered, ...]]
        ] = {}
        self._placements: dict[
            tuple[int, str, int], tuple[dict[str, Any], dict[str, Any], ObjectKey]
        ] = {}
        self._manifests: dict[
            tuple[int, str, int], tuple[dict[str, Any], tuple[ObjectKey, Rendered] | None]
        ] = {}
        # id(result) -> (result, hash of the cluster kinds, its placed objects, problems)
        self._placed_results: dict[
            int,
            tuple[RenderResult, int, list[tuple[ObjectKey, Rendered]], list[tuple[str, str]]],
        ] = {}

    def _repo(self) -> pygit2.Repository:
        repo = getattr(self._local, "repo", None)
        if repo is None:
            repo = self._local.repo = pygit2.Repository(self.repository)
        return repo

    # ---- discovery ------------------------------------------------------------------

    def has_sources(self, documents: Iterable[tuple[str, dict[str, Any]]]) -> bool:
        return any(_source_kind(obj) is not None for _, obj in documents)

    def desired(
        self,
        commit: str | None,
        documents: list[tuple[str, dict[str, Any]]],
        previous: DesiredState | None = None,
    ) -> DesiredState:
        """The desired state at `commit`, whose declared documents are `documents`
        (path, object). `previous` lends its last good renders to sources that fail now."""
        tree = GitTree(self._repo(), _tree_of(self._repo(), commit))
        state = DesiredState(commit)
        repositories = {
            (
                str(mapping(o.get("metadata")).get("namespace") or flux.DEFAULT_NAMESPACE),
                str(mapping(o.get("metadata")).get("name", "")),
            ): o
            for _, o in documents
            if _source_kind(o) == "GitRepository"
        }
        artifacts = generated_artifacts(
            [(p, o) for p, o in documents if self._flux_path_allowed(p)],
            tree,
            flux.DEFAULT_NAMESPACE,
        )
        queue = self._raw_sources(documents, tree, repositories, artifacts)
        seen = {(s.ref.kind, s.ref.namespace, s.ref.name, s.ref.declared_in) for s in queue}
        changed = self._changed_since(previous, tree) if previous is not None else None
        generation = 0
        while queue and generation < MAX_GENERATIONS and len(state.results) < MAX_SOURCES:
            found: list[Source] = []
            for source in queue:
                key = source_key(source)
                kept = previous.results.get(key) if previous is not None else None
                if kept is not None and changed is not None and _unchanged(kept, source, changed):
                    result = kept  # nothing it reads changed: no closure, no render
                else:
                    result = self._handed_over(source, tree, changed, previous) or self._render(
                        source, tree, documents
                    )
                if result.error and previous is not None and key in previous.results:
                    last = previous.results[key]
                    if last.ok or last.stale:
                        result = replace(last, error=result.error, stale=True)
                state.results[key] = result
                for child in self._children(result, tree, repositories, artifacts):
                    ident = (
                        child.ref.kind,
                        child.ref.namespace,
                        child.ref.name,
                        child.ref.declared_in,
                    )
                    if ident not in seen:
                        seen.add(ident)
                        found.append(child)
            queue = found
            generation += 1
        self._place(state, documents)
        state.tree_id = tree.tree_id
        return state

    def _changed_since(self, previous: DesiredState, tree: GitTree) -> set[str] | None:
        """The files that differ between the previous state's tree and `tree`."""
        old = previous.tree_id
        if old is None or tree.tree_id is None:
            return None
        repo = self._repo()
        diff = repo[old].peel(pygit2.Tree).diff_to_tree(repo[tree.tree_id].peel(pygit2.Tree))
        return {p for d in diff.deltas for p in (d.old_file.path, d.new_file.path) if p}

    def hand_over(
        self,
        source: Source,
        base: str | None,
        files: dict[str, str | None],
        objects: list[Rendered],
    ) -> None:
        """What a write's check rendered, for the commit that writes exactly `files` on
        `base`: that commit's render of the source is this one (a write costs one render)."""
        blobs = {
            p: (str(pygit2.hash(t.encode())) if t is not None else None) for p, t in files.items()
        }
        self._handovers[source_key(source)] = (base, blobs, tuple(objects))

    def _handed_over(
        self, source: Source, tree: GitTree, changed: set[str] | None, previous: DesiredState | None
    ) -> RenderResult | None:
        found = self._handovers.pop(source_key(source), None)
        if found is None or previous is None or changed is None:
            return None
        base, blobs, objects = found
        if previous.commit_tree != base or changed != set(blobs):
            return None  # something else changed too: render
        if any((tree.id_of(p) if tree.is_file(p) else None) != blob for p, blob in blobs.items()):
            return None
        kept = previous.results.get(source_key(source))
        reads = kept.reads if kept is not None else ()
        return RenderResult(source, objects=objects, commit=tree.tree_id or "", reads=reads)

    def _raw_sources(
        self,
        documents: list[tuple[str, dict[str, Any]]],
        tree: GitTree,
        repositories: dict[tuple[str, str], dict[str, Any]],
        artifacts: dict[tuple[str, str], list[Generated]],
    ) -> list[Source]:
        found: list[Source] = []
        has_kustomizations = any(_source_kind(o) == "Kustomization" for _, o in documents)
        for path, obj in documents:
            kind = _source_kind(obj)
            if kind == "Application":
                found += self._application(obj, path, tree)
            elif kind == "ApplicationSet":
                meta = mapping(obj.get("metadata"))
                ref = SourceRef(
                    "ApplicationSet",
                    str(meta.get("namespace") or argo.DEFAULT_NAMESPACE),
                    str(meta.get("name", "")),
                    path,
                )
                found.append(
                    Source(
                        ref,
                        "directory",
                        "",
                        "",
                        {},
                        "argo",
                        None,
                        "ApplicationSets cannot be rendered offline",
                    )
                )
            elif kind == "Kustomization" and self._flux_path_allowed(path):
                found.append(
                    flux.kustomization_source(
                        obj, path, repositories, self.settings.target, None, artifacts
                    )
                )
            elif kind == "HelmRelease" and not has_kustomizations:
                found.append(
                    flux.helmrelease_source(obj, path, repositories, self.settings.target, None)
                )
        return found

    def _application(self, obj: dict[str, Any], path: str, tree: GitTree) -> list[Source]:
        """An Application's sources, read again only when its document or the directories
        it points at changed (a commit elsewhere costs nothing here)."""
        spec = mapping(obj.get("spec"))
        entries: list[Any] = (
            spec["sources"] if isinstance(spec.get("sources"), list) else [spec.get("source")]
        )
        dirs = tuple(
            tree.id_of(str(e["path"]))
            if isinstance(e, dict) and isinstance(e.get("path"), str) and _safe(str(e["path"]))
            else None
            for e in entries
        )
        memo = (id(obj), path, dirs)
        known = self._applications.get(memo)
        if known is not None and known[0] is obj:
            return known[1]
        found = argo.application_sources(obj, path, tree, self.settings.target, None)
        if len(self._applications) > 100_000:
            self._applications.clear()
        self._applications[memo] = (obj, found)
        return found

    def _flux_path_allowed(self, path: str) -> bool:
        paths = self.settings.flux_paths
        return not paths or any(path == p or path.startswith(normalize(p) + "/") for p in paths)

    def _children(
        self,
        result: RenderResult,
        tree: GitTree,
        repositories: dict[tuple[str, str], dict[str, Any]],
        artifacts: dict[tuple[str, str], list[Generated]],
    ) -> list[Source]:
        parent = result.source.ref
        children: list[Source] = []
        for rendered in result.objects:
            kind = _source_kind(rendered.obj)
            if kind is None:
                continue
            obj = _with_namespace(rendered.obj, result.source.destination)
            origin = rendered.files[0] if rendered.files else parent.declared_in
            if kind == "Application":
                children += argo.application_sources(
                    obj, origin, tree, self.settings.target, parent
                )
            elif kind == "Kustomization":
                children.append(
                    flux.kustomization_source(
                        obj, origin, repositories, self.settings.target, parent, artifacts
                    )
                )
            elif kind == "HelmRelease":
                # Rendered by two clusters' Kustomizations from one base file: two releases.
                child = flux.helmrelease_source(
                    obj, origin, repositories, self.settings.target, parent
                )
                ref = replace(child.ref, declared_in=f"{origin}#{parent.declared_in}")
                children.append(replace(child, ref=ref))
        return children

    # ---- rendering ------------------------------------------------------------------

    def _render(
        self, source: Source, tree: GitTree, documents: list[tuple[str, dict[str, Any]]]
    ) -> RenderResult:
        own = tuple(p for p in (source.ref.declared_in.split("#")[0], source.path) if p)
        if source.skipped:
            return RenderResult(source, reads=own[:1])
        commit_tree = tree
        artifact = source.options.get("artifact")
        if artifact is not None:  # the files Flux builds are the artifact's, not the commit's
            own = (own[0], artifact["declared_in"])
            try:
                tree = lay_out(tree, artifact)
            except RenderError as exc:
                return RenderResult(source, error=f"{artifact['name']}: {exc}", reads=own)
        if source.path and not tree.is_dir(source.path):
            where = f"ExternalArtifact {artifact['name']}" if artifact else "the repository"
            return RenderResult(
                source, error=f"path {source.path} does not exist in {where}", reads=own
            )
        try:
            closure, settings = self._inputs(source, tree, documents)
        except RenderError as exc:
            return RenderResult(source, error=str(exc), reads=own)
        if closure.remote:
            return RenderResult(
                source,
                error=f"remote bases cannot be rendered offline: {', '.join(closure.remote)}",
            )
        inputs = closure.key(
            tree,
            {
                "engine": _ENGINE_VERSION,
                "tool": source.tool,
                "flavour": source.flavour,
                "settings": settings,
            },
        )
        cached = self._cached(inputs)
        if cached is None:
            try:
                objects = self._run(source, tree, settings)
                error = ""
            except RenderError as exc:
                objects, error = (), str(exc)
            cached = (objects, error)
            self._remember(inputs, cached)
        objects, error = cached
        read = {*closure.directories, *closure.files}
        if isinstance(tree, ArtifactTree):  # a change to any file copied into it
            read = {*tree.origin.values(), *own}
        reads = tuple(sorted({*read, source.ref.declared_in.split("#")[0]}))
        return RenderResult(
            source,
            objects=objects,
            error=error,
            inputs=inputs,
            commit=commit_tree.tree_id or "",
            reads=reads,
        )

    def _inputs(
        self, source: Source, tree: GitTree, documents: list[tuple[str, dict[str, Any]]]
    ) -> tuple[Closure, dict[str, Any]]:
        """What the render reads, and how it is asked (the cache key's two halves)."""
        options = dict(source.options)
        settings: dict[str, Any] = {
            "path": source.path,
            "destination": source.destination,
            "options": options,
        }
        if source.tool == "kustomize":
            closure = kustomize_closure(tree, source.path)
            if closure.outside:  # Flux and Argo CD read nothing outside the checkout either
                raise RenderError(
                    f"{closure.outside[0]}, outside the repository: gitplane does not read it"
                )
            if source.flavour == "flux":
                settings["variables"], files = self._flux_variables(source, documents)
                closure.files |= set(files)
        elif source.tool == "helm":
            closure = Closure(directories={source.path})
            if "flux_helm" in options:
                values, files = self._flux_values(source, tree, documents)
                settings["merged_values"] = values
                settings["values_files"] = files
                closure.files |= set(files)
            else:
                closure.files |= set(mapping(options.get("helm")).get("value_files") or ())
        else:
            closure = Closure(directories={source.path})
        return closure, settings

    def _run(
        self,
        source: Source,
        tree: GitTree,
        settings: dict[str, Any],
        overrides: dict[str, str | None] | None = None,
    ) -> tuple[Rendered, ...]:
        """Run the source's tool; `overrides` (files inside the source's directory, by
        repository path) are rendered as they would be once written."""
        self.renders += 1
        options = settings["options"]
        ref = source.ref
        if source.tool == "directory":
            read = OverlayTree(tree, overrides) if overrides else tree
            found = render_directory(read, source.path, options.get("directory") or {})
            return tuple(Rendered(obj, ref, files, _argo_hook(source, obj)) for obj, files in found)
        if overrides and source.tool != "kustomize":
            raise RenderError(f"a {source.tool} source is not rendered with changed files")
        workspace = self._workspace_for(source)
        with workspace.lock:
            root = workspace.checkout(tree)
            if source.tool == "kustomize":
                with workspace.copy_of(source.path) as copy:
                    _write_overrides(copy, source.path, overrides or {})
                    if source.flavour == "flux":
                        built = build(
                            copy,
                            source.path,
                            edit=flux.kustomize_edit(mapping(options.get("flux"))),
                            generate=True,
                            load_restrictor="LoadRestrictionsNone",
                            run=self.sandbox.run,
                        )
                    else:
                        if kustomization_file(tree, source.path) is None:
                            raise RenderError(f"{source.path or '.'} has no kustomization.yaml")
                        built = build(
                            copy,
                            source.path,
                            edit=argo.kustomize_edit(mapping(options.get("kustomize"))),
                            run=self.sandbox.run,
                        )
                objects = [(obj, files) for obj, files in built]
                if source.flavour == "flux":
                    objects = self._flux_post_build(
                        objects, options.get("flux") or {}, settings.get("variables") or {}
                    )
                if isinstance(tree, ArtifactTree):  # provenance is the repository's files
                    objects = [(o, tuple(map(tree.repository_path, f))) for o, f in objects]
                return tuple(
                    Rendered(obj, ref, files, _argo_hook(source, obj)) for obj, files in objects
                )
            if "flux_helm" in options:
                flux_options = dict(options["flux_helm"])
                call = flux.helm_invocation(
                    flux_options,
                    source.destination,
                    settings.get("merged_values") or {},
                    ref.declared_in.split("#")[0],
                    (),
                )
            else:
                call = HelmInvocation(
                    **{
                        **options["helm"],
                        "value_files": tuple(options["helm"].get("value_files") or ()),
                        "parameters": tuple(
                            tuple(p) for p in options["helm"].get("parameters") or ()
                        ),
                    }
                )
            missing = [f for f in call.value_files if not tree.is_file(f)]
            if missing:
                raise RenderError(f"values file {missing[0]} does not exist in the repository")
            rendered = template(root, source.path, call, self.sandbox.run)
            return tuple(Rendered(obj, ref, files, hook) for obj, files, hook in rendered)

    def _flux_post_build(
        self,
        objects: list[tuple[dict[str, Any], tuple[str, ...]]],
        options: dict[str, Any],
        variables: dict[str, str],
    ) -> list[tuple[dict[str, Any], tuple[str, ...]]]:
        post = options.get("postBuild") or {}
        common = options.get("commonMetadata") or {}
        result = []
        for built, files in objects:
            obj = built
            if variables or post.get("substituteStrategy") == "Always":
                obj = flux.substitute(obj, variables, strict=self.settings.strict_substitution)
            if common:
                meta = obj.setdefault("metadata", {})
                for field_name in ("labels", "annotations"):
                    if isinstance(common.get(field_name), dict):
                        meta[field_name] = {**(meta.get(field_name) or {}), **common[field_name]}
            result.append((obj, files))
        return result

    def _flux_variables(
        self, source: Source, documents: list[tuple[str, dict[str, Any]]]
    ) -> tuple[dict[str, str], list[str]]:
        post = ((source.options.get("flux") or {}).get("postBuild")) or {}
        variables: dict[str, str] = {}
        files: list[str] = []
        for reference in post.get("substituteFrom") or []:
            if not isinstance(reference, dict):
                continue
            found = _referenced(documents, source, reference, "postBuild.substituteFrom")
            if found is None:
                continue
            path, obj = found
            files.append(path)
            variables.update({k: v.replace("\n", "") for k, v in _object_data(obj, path).items()})
        for name, value in mapping(post.get("substitute")).items():
            variables[str(name)] = str(value).replace("\n", "")
        return variables, files

    def _flux_values(
        self, source: Source, tree: GitTree, documents: list[tuple[str, dict[str, Any]]]
    ) -> tuple[dict[str, Any], list[str]]:
        options = source.options["flux_helm"]
        merged: dict[str, Any] = {}
        files: list[str] = []
        for values_file in options.get("valuesFiles") or []:
            path = normalize(str(values_file))
            text = tree.read(path)
            if text is None:
                raise RenderError(f"valuesFiles {path} does not exist in the repository")
            files.append(path)
            merged = flux.deep_merge(merged, _yaml_map(text.decode(), path))
        for reference in options.get("valuesFrom") or []:
            if not isinstance(reference, dict):
                continue
            found = _referenced(documents, source, reference, "valuesFrom")
            if found is None:
                continue
            path, obj = found
            files.append(path)
            data = _object_data(obj, path)
            key = str(reference.get("valuesKey") or "values.yaml")
            if key not in data:
                if reference.get("optional"):
                    continue
                raise RenderError(f"valuesFrom {reference.get('name')} has no key {key}")
            if reference.get("targetPath"):
                _set_path(merged, str(reference["targetPath"]), data[key])
            else:
                merged = flux.deep_merge(merged, _yaml_map(data[key], path))
        merged = flux.deep_merge(merged, options.get("values") or {})
        return merged, files

    def _cached(self, inputs: str) -> tuple[tuple[Rendered, ...], str] | None:
        found = self._cache.get(inputs)
        if found is not None:
            return found
        path = self._cache_dir / f"{inputs}.json"
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        objects = tuple(
            Rendered(o["obj"], SourceRef(*o["source"]), tuple(o["files"]), bool(o["hook"]))
            for o in saved["objects"]
        )
        found = (objects, str(saved.get("error", "")))
        self._cache[inputs] = found
        return found

    def _remember(self, inputs: str, value: tuple[tuple[Rendered, ...], str]) -> None:
        self._cache[inputs] = value
        if len(self._cache) > 20_000:
            self._cache.pop(next(iter(self._cache)))
        objects, error = value
        saved = {
            "objects": [
                {
                    "obj": r.obj,
                    "source": [
                        r.source.kind,
                        r.source.namespace,
                        r.source.name,
                        r.source.declared_in,
                    ],
                    "files": list(r.files),
                    "hook": r.hook,
                }
                for r in objects
            ],
            "error": error,
        }
        try:
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = self._cache_dir / f".{inputs}.tmp"
            tmp.write_text(json.dumps(saved))
            tmp.replace(self._cache_dir / f"{inputs}.json")
        except OSError as exc:  # a read-only disk still renders, every time
            log.info("render cache not saved: %s", exc)

    def _workspace_for(self, source: Source) -> Workspace:
        """The checkout a source is built in: the commit's, or its artifact's own (so
        artifacts and the commit do not rewrite each other's files)."""
        artifact = source.options.get("artifact")
        if artifact is None:
            return self.workspace
        name = hashlib.sha256(str(artifact["name"]).encode()).hexdigest()[:16]
        with self._artifact_lock:
            found = self._artifact_workspaces.get(name)
            if found is None:
                found = Workspace(self.workspace.root / "artifacts" / name)
                self._artifact_workspaces[name] = found
            return found

    def render_with(
        self,
        source: Source,
        commit: str | None,
        documents: list[tuple[str, dict[str, Any]]],
        overrides: dict[str, str | None],
    ) -> list[Rendered]:
        """The source's objects at `commit` with `overrides` written (never cached): what a
        write would make the reconciler apply, checked before it is committed."""
        tree = GitTree(self._repo(), _tree_of(self._repo(), commit))
        artifact = source.options.get("artifact")
        if artifact is not None:
            tree = lay_out(tree, artifact)
            overrides = tree.artifact_files(overrides) or {}
        _, settings = self._inputs(source, tree, documents)
        return list(self._run(source, tree, settings, overrides))

    def place(
        self, source: Source, obj: dict[str, Any], documents: list[tuple[str, dict[str, Any]]]
    ) -> dict[str, Any]:
        """An object as the reconciler applies it from `source` (namespace and scope)."""
        kinds = set(CLUSTER_SCOPED_KINDS)
        for _, doc in documents:
            scope = _crd_scope(doc)
            if scope is not None:
                kinds.add(scope)
        return self._place_one(obj, source, frozenset(kinds))

    # ---- placing --------------------------------------------------------------------

    def _place(self, state: DesiredState, documents: list[tuple[str, dict[str, Any]]]) -> None:
        cluster_kinds = set(CLUSTER_SCOPED_KINDS)
        all_objects = [r.obj for result in state.results.values() for r in result.objects]
        for obj in [*all_objects, *(o for _, o in documents)]:
            scope = _crd_scope(obj)
            if scope is not None:
                cluster_kinds.add(scope)
        kinds = frozenset(cluster_kinds)
        for key in sorted(state.results, key=lambda k: tuple(str(p) for p in k)):
            result = state.results[key]
            placed, problems = self._placed_result(result, kinds)
            state.problems += problems
            for object_key, rendered in placed:
                if object_key in state.objects:
                    state.conflicts.append(
                        Conflict(object_key, state.objects[object_key].source, result.source.ref)
                    )
                    continue
                state.objects[object_key] = rendered
        for path, obj in documents:  # the sources' own manifests, where they were applied
            placed_manifest = self._source_manifest(path, obj, kinds)
            if placed_manifest is not None and placed_manifest[0] not in state.objects:
                state.objects[placed_manifest[0]] = placed_manifest[1]

    def _source_manifest(
        self, path: str, obj: dict[str, Any], kinds: frozenset[tuple[str, str]]
    ) -> tuple[ObjectKey, Rendered] | None:
        """A source's own manifest served where it was applied (None: not a source's),
        worked out once for an unchanged document."""
        memo = (id(obj), path, hash(kinds))
        known = self._manifests.get(memo)
        if known is not None and known[0] is obj:
            return known[1]
        kind = _source_kind(obj)
        found: tuple[ObjectKey, Rendered] | None = None
        argo_kind = kind in ("Application", "ApplicationSet")
        # Another cluster's Flux objects (outside --flux-path) are not applied here.
        if kind is not None and (argo_kind or self._flux_path_allowed(path)):
            default = (
                argo.DEFAULT_NAMESPACE
                if kind in ("Application", "ApplicationSet")
                else flux.DEFAULT_NAMESPACE
            )
            try:
                object_key = key_of(obj, default, kinds)
                ref = SourceRef("File", "", path, path)
                found = object_key, Rendered(_with_namespace(obj, default), ref, (path,))
            except Invalid:
                found = None
        if len(self._manifests) > 200_000:
            self._manifests.clear()
        self._manifests[memo] = (obj, found)
        return found

    def _placed_result(
        self, result: RenderResult, kinds: frozenset[tuple[str, str]]
    ) -> tuple[list[tuple[ObjectKey, Rendered]], list[tuple[str, str]]]:
        """A result's objects in their destination with their keys, and the problems of
        those no reconciler could apply; a result kept from the last commit is placed
        once (a commit costs what it changed, not the number of objects)."""
        known = self._placed_results.get(id(result))
        if known is not None and known[0] is result and known[1] == hash(kinds):
            return known[2], known[3]
        placed: list[tuple[ObjectKey, Rendered]] = []
        problems: list[tuple[str, str]] = []
        for rendered in result.objects:
            if rendered.hook:
                continue  # run by the sync, not kept applied
            try:
                obj, object_key = self._placed(rendered.obj, result.source, kinds)
            except Invalid as exc:
                causes = "; ".join(f"{c.field}: {c.message}" for c in exc.causes)
                where = rendered.files[0] if rendered.files else result.source.ref.declared_in
                problems.append((where, f"{result.source.ref} renders an invalid object: {causes}"))
                continue
            placed.append((object_key, replace(rendered, obj=obj)))
        if len(self._placed_results) > 100_000:
            self._placed_results.clear()
        self._placed_results[id(result)] = (result, hash(kinds), placed, problems)
        return placed, problems

    def _placed(
        self, obj: dict[str, Any], source: Source, kinds: frozenset[tuple[str, str]]
    ) -> tuple[dict[str, Any], ObjectKey]:
        """The object in its destination, and its key; the same rendered object is placed
        once (so snapshot entries keep their identity and a commit costs what it changed).
        Raises Invalid for an object no reconciler could apply."""
        memo = (id(obj), source.destination, hash(kinds))
        known = self._placements.get(memo)
        if known is not None and known[0] is obj:
            return known[1], known[2]
        placed = self._place_one(obj, source, kinds)
        object_key = key_of(placed, "", kinds)
        if len(self._placements) > 200_000:
            self._placements.clear()
        self._placements[memo] = (obj, placed, object_key)
        return placed, object_key

    def _place_one(
        self, obj: dict[str, Any], source: Source, kinds: frozenset[tuple[str, str]]
    ) -> dict[str, Any]:
        """The object in its destination namespace, as the reconciler applies it: a
        namespaced object without one gets the destination's, a cluster-scoped one none."""
        group, _ = split_api_version(str(obj.get("apiVersion", "")))
        kind = str(obj.get("kind", ""))
        meta = mapping(obj.get("metadata"))
        namespaced = is_namespaced(group, kind, kinds)
        if namespaced and not meta.get("namespace") and source.destination:
            return {**obj, "metadata": {**meta, "namespace": source.destination}}
        if not namespaced and meta.get("namespace"):
            return {**obj, "metadata": {k: v for k, v in meta.items() if k != "namespace"}}
        return obj


class OverlayTree(GitTree):
    """A tree read with some files replaced (None: removed)."""

    def __init__(self, base: GitTree, overrides: dict[str, str | None]) -> None:
        super().__init__(base.repo, base.tree_id)
        self._overrides = {normalize(p): t for p, t in overrides.items()}

    def read(self, path: str) -> bytes | None:
        path = normalize(path)
        if path in self._overrides:
            text = self._overrides[path]
            return text.encode() if text is not None else None
        return super().read(path)

    def files_under(self, directory: str, recurse: bool = True) -> dict[str, str]:
        found = super().files_under(directory, recurse)
        prefix = f"{normalize(directory)}/" if normalize(directory) else ""
        for path, text in self._overrides.items():
            inside = path.startswith(prefix) and (recurse or "/" not in path[len(prefix) :])
            if not inside:
                continue
            if text is None:
                found.pop(path, None)
            else:
                found[path] = "override"
        return found


def _write_overrides(copy: Path, directory: str, overrides: dict[str, str | None]) -> None:
    prefix = f"{normalize(directory)}/" if normalize(directory) else ""
    for path, text in overrides.items():
        relative = normalize(path)[len(prefix) :]
        target = copy / relative
        if text is None:
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)


def _safe(path: str) -> bool:
    try:
        normalize(path)
    except ValueError:
        return False
    return True


def _unchanged(kept: RenderResult, source: Source, changed: set[str]) -> bool:
    """Whether a source's last render still stands: the same source, nothing it reads
    (its own manifest included) changed, and it rendered (a failure is tried again)."""
    return kept.source == source and not kept.error and not kept.reads_any(changed)


def _tree_of(repo: pygit2.Repository, commit: str | None) -> str | None:
    return str(repo[commit].peel(pygit2.Tree).id) if commit else None


_SOURCE_KINDS = frozenset(
    {
        "Application",
        "ApplicationSet",
        "Kustomization",
        "HelmRelease",
        "GitRepository",
        "ArtifactGenerator",
    }
)


def _argo_hook(source: Source, obj: dict[str, Any]) -> bool:
    """Argo CD runs hooks (its own annotation, or Helm's) at sync, whatever the tool;
    Flux's kustomize-controller applies every object."""
    return source.flavour == "argo" and is_hook(obj)


def _source_kind(obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return None
    kind = obj.get("kind")
    if kind not in _SOURCE_KINDS:  # most documents: called for each on every commit
        return None
    group, _ = split_api_version(str(obj.get("apiVersion", "")))
    if group == "argoproj.io" and kind in ("Application", "ApplicationSet"):
        return str(kind)
    if group == "kustomize.toolkit.fluxcd.io" and kind == "Kustomization":
        return "Kustomization"
    if group == "helm.toolkit.fluxcd.io" and kind == "HelmRelease":
        return "HelmRelease"
    if group == "source.toolkit.fluxcd.io" and kind == "GitRepository":
        return "GitRepository"
    if group == ARTIFACT_GROUP and kind == "ArtifactGenerator":
        return "ArtifactGenerator"
    return None


def _with_namespace(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    meta = mapping(obj.get("metadata"))
    if meta.get("namespace") or not namespace:
        return obj
    return {**obj, "metadata": {**meta, "namespace": namespace}}


def _crd_scope(obj: Any) -> tuple[str, str] | None:
    if not isinstance(obj, dict) or obj.get("kind") != "CustomResourceDefinition":
        return None
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    if (
        spec.get("scope") == "Cluster"
        and isinstance(spec.get("group"), str)
        and isinstance(names.get("kind"), str)
    ):
        return (spec["group"], names["kind"])
    return None


def _referenced(
    documents: list[tuple[str, dict[str, Any]]],
    source: Source,
    reference: dict[str, Any],
    field_name: str,
) -> tuple[str, dict[str, Any]] | None:
    """The ConfigMap or Secret a Flux reference names, as the repository declares it
    (None: an optional one that is not there; else a missing one is the render's error)."""
    kind, name = str(reference.get("kind")), str(reference.get("name"))
    found = _repository_object(documents, kind, source.ref.namespace, name, source.ref.declared_in)
    if found is None and not reference.get("optional"):
        raise RenderError(f"{field_name} {kind} {name} is not in the repository")
    return found


def _repository_object(
    documents: list[tuple[str, dict[str, Any]]], kind: str, namespace: str, name: str, near: str
) -> tuple[str, dict[str, Any]] | None:
    """The ConfigMap or Secret a Flux object reads from the cluster, as the repository
    declares it; several (one per cluster directory): the one nearest `near`'s file."""
    found = [
        (path, obj)
        for path, obj in documents
        if obj.get("kind") == kind
        and obj.get("apiVersion") == "v1"
        and mapping(obj.get("metadata")).get("name") == name
        and (mapping(obj.get("metadata")).get("namespace") or namespace) == namespace
    ]
    if not found:
        return None
    return max(found, key=lambda item: shared_directories(item[0], near))


def _object_data(obj: dict[str, Any], path: str) -> dict[str, str]:
    import base64  # noqa: PLC0415
    import binascii  # noqa: PLC0415

    if obj.get("kind") == "Secret":
        if "sops" in obj:
            raise RenderError(f"{path}: a SOPS-encrypted Secret cannot be decrypted offline")
        data: dict[str, str] = {}
        for key, value in mapping(obj.get("data")).items():
            try:
                data[str(key)] = base64.b64decode(str(value)).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise RenderError(f"{path}: data[{key}] is not base64 text") from None
        data.update({str(k): str(v) for k, v in mapping(obj.get("stringData")).items()})
        return data
    return {str(k): str(v) for k, v in mapping(obj.get("data")).items()}


def _yaml_map(text: str, path: str) -> dict[str, Any]:
    try:
        values = load_yaml(text)
    except LoadError as exc:
        raise RenderError(f"{path}: {exc}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise RenderError(f"{path}: values must be a map")
    return values


def _set_path(values: dict[str, Any], path: str, value: Any) -> None:
    """Helm's `--set a.b=v` for a valuesFrom targetPath (dotted keys only)."""
    parts = path.split(".")
    current = values
    for part in parts[:-1]:
        current = (
            current.setdefault(part, {})
            if isinstance(current.get(part), dict) or part not in current
            else current[part]
        )
    current[parts[-1]] = value


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


__all__ = ["Conflict", "DesiredState", "Engine", "Settings", "join"]
