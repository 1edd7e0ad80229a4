"""Argo CD Applications: which of them apply to this cluster from this repository, and how
their sources are rendered (the kustomize edits and the helm invocation its repo-server
makes, in its order)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sources.closure import kustomization_file
from sources.gittree import GitTree, join, normalize
from sources.helm import HelmInvocation
from sources.model import Source, SourceRef, Tool, mapping

IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
IN_CLUSTER_NAME = "in-cluster"
DEFAULT_NAMESPACE = "argocd"
_REF = re.compile(r"^\$([a-zA-Z0-9_-]+)/(.*)$")


@dataclass(frozen=True)
class Target:
    """What this gitplane guards: a cluster, a branch, and which repoURLs are this repo."""

    cluster_name: str = IN_CLUSTER_NAME
    cluster_server: str = IN_CLUSTER_SERVER
    branch: str = "main"
    repo_urls: tuple[str, ...] = ()  # empty: any repoURL counts

    def is_this_repository(self, url: Any) -> bool:
        if not self.repo_urls:
            return True
        return isinstance(url, str) and _canonical(url) in {_canonical(u) for u in self.repo_urls}

    def is_served_revision(self, revision: Any) -> bool:
        if revision in (None, "", "HEAD"):
            return True
        name = str(revision).removeprefix("refs/heads/")
        return name == self.branch


def _canonical(url: str) -> str:
    url = url.strip().rstrip("/").removesuffix(".git").lower()
    url = re.sub(r"^[a-z+]+://", "", url)  # the scheme
    url = re.sub(r"^[^@/]+@", "", url)  # a user (git@ of scp-like addresses)
    return re.sub(r":(\d+/)?", "/", url, count=1)  # host:path, host:port/path


def application_sources(
    app: dict[str, Any], declared_in: str, tree: GitTree, target: Target, parent: SourceRef | None
) -> list[Source]:
    """The Application's sources, rendered or with the reason they are not."""
    meta = mapping(app.get("metadata"))
    ref = SourceRef(
        "Application",
        str(meta.get("namespace") or DEFAULT_NAMESPACE),
        str(meta.get("name", "")),
        declared_in,
    )
    spec = mapping(app.get("spec"))
    destination = mapping(spec.get("destination"))
    namespace = str(destination.get("namespace") or "")
    listed: list[Any] = (
        spec["sources"] if isinstance(spec.get("sources"), list) else [spec.get("source")]
    )
    entries: list[dict[str, Any]] = [e for e in listed if isinstance(e, dict)]
    why_not = _destination_problem(destination, target)

    def skipped(reason: str, index: int = 0, path: str = "") -> Source:
        return Source(ref, "directory", path, namespace, {"index": index}, "argo", parent, reason)

    if why_not:
        return [skipped(why_not)]
    if not entries:
        return [skipped("the Application has no source")]
    refs: dict[str, dict[str, Any]] = {
        e["ref"]: e for e in entries if isinstance(e.get("ref"), str)
    }
    found: list[Source] = []
    for index, entry in enumerate(entries):
        path = entry.get("path")
        if entry.get("chart"):
            found.append(
                skipped("a chart from a Helm repository cannot be rendered offline", index)
            )
            continue
        if not isinstance(path, str):
            continue  # a ref-only source renders nothing
        if not target.is_this_repository(entry.get("repoURL")):
            found.append(skipped(f"repoURL {entry.get('repoURL')} is not this repository", index))
            continue
        if not target.is_served_revision(entry.get("targetRevision")):
            found.append(
                skipped(
                    f"targetRevision {entry.get('targetRevision')} is not the served branch"
                    f" {target.branch}",
                    index,
                )
            )
            continue
        try:
            directory = normalize(path)
        except ValueError:
            found.append(skipped(f"path {path!r} leaves the repository", index))
            continue
        tool, reason = _tool(entry, tree, directory)
        options: dict[str, Any] = {"index": index}
        if tool == "helm":
            try:
                call = _helm_call(entry, ref, namespace, directory, refs, target)
            except _NotRendered as exc:
                found.append(skipped(str(exc), index, directory))
                continue
            options["helm"] = call.__dict__
        elif tool == "kustomize":
            options["kustomize"] = entry.get("kustomize") or {}
        else:
            options["directory"] = entry.get("directory") or {}
        found.append(Source(ref, tool, directory, namespace, options, "argo", parent, reason))
    return found or [skipped("the Application has no source with a path")]


def _destination_problem(destination: dict[str, Any], target: Target) -> str:
    server, name = destination.get("server"), destination.get("name")
    if server and name:
        return "the destination sets both name and server"
    if not server and not name:
        return "the destination has no server and no name"
    if server and str(server).rstrip("/") != target.cluster_server.rstrip("/"):
        return f"the destination is another cluster ({server})"
    if name and name != target.cluster_name:
        return f"the destination is another cluster ({name})"
    return ""


def _tool(entry: dict[str, Any], tree: GitTree, directory: str) -> tuple[Tool, str]:
    """The source type as Argo CD detects it; an explicit block forces it."""
    explicit = [
        name for name in ("kustomize", "helm", "directory", "plugin") if _non_empty(entry.get(name))
    ]
    if len(explicit) > 1:
        return "directory", f"multiple application sources defined: {', '.join(explicit)}"
    if explicit == ["plugin"]:
        return "directory", "config management plugins cannot be rendered offline"
    if not tree.is_dir(directory) and directory:
        return "directory", ""  # rendering reports the missing path
    if explicit:
        return explicit[0], ""  # type: ignore[return-value]
    if kustomization_file(tree, directory) is not None:
        return "kustomize", ""
    if tree.is_file(join(directory, "Chart.yaml") if directory else "Chart.yaml"):
        return "helm", ""
    return "directory", ""


def _non_empty(value: Any) -> bool:
    return isinstance(value, dict) and any(
        v not in (None, "", [], {}, False) for v in value.values()
    )


def _helm_call(
    entry: dict[str, Any],
    ref: SourceRef,
    namespace: str,
    directory: str,
    refs: dict[str, dict[str, Any]],
    target: Target,
) -> HelmInvocation:
    helm = mapping(entry.get("helm"))
    files: list[str] = []
    for value_file in helm.get("valueFiles") or []:
        if isinstance(value_file, str):
            files.append(_value_file(value_file, directory, refs, target))
    inline: Any = helm.get("valuesObject")
    if inline is None and isinstance(helm.get("values"), str):
        from store.loader import LoadError, load_yaml  # noqa: PLC0415 - rarely needed

        try:
            inline = load_yaml(helm["values"])
        except LoadError as exc:
            raise _NotRendered(f"helm.values is not valid YAML: {exc}") from None
    parameters = tuple(
        (
            "--set-string" if p.get("forceString") else "--set",
            str(p.get("name")),
            str(p.get("value", "")),
        )
        for p in helm.get("parameters") or []
        if isinstance(p, dict) and p.get("name")
    )
    return HelmInvocation(
        release=str(helm.get("releaseName") or ref.name),
        namespace=str(helm.get("namespace") or namespace),
        value_files=tuple(files),
        inline_values=inline if isinstance(inline, dict) else None,
        inline_from=ref.declared_in,
        parameters=parameters,
        include_crds=not helm.get("skipCrds"),
    )


class _NotRendered(Exception):
    """Why a source is reported rather than rendered (never guessed without a file)."""


def _value_file(
    value_file: str, directory: str, refs: dict[str, dict[str, Any]], target: Target
) -> str:
    """The repository path of a values file, as Argo CD resolves it (absolute paths
    from the repository's root, `$ref/...` from the source named `ref`)."""
    found = _REF.match(value_file)
    try:
        if found:
            source = refs.get(found.group(1))
            if source is None:
                raise _NotRendered(f"values file {value_file}: no source has ref {found.group(1)}")
            if not target.is_this_repository(source.get("repoURL")):
                raise _NotRendered(
                    f"values file {value_file} is in another repository, which cannot be"
                    " read offline"
                )
            return normalize(found.group(2))
        return join(directory, value_file)
    except ValueError:
        raise _NotRendered(f"values file {value_file} leaves the repository") from None


def kustomize_edit(options: dict[str, Any]) -> Any:
    """The `kustomize edit` commands Argo CD runs for `spec.source.kustomize`, in its
    order, as a function that changes a kustomization's configuration."""

    def edit(config: dict[str, Any], _directory: Any) -> None:
        if options.get("namePrefix"):
            config["namePrefix"] = options["namePrefix"]
        if options.get("nameSuffix"):
            config["nameSuffix"] = options["nameSuffix"]
        for image in options.get("images") or []:
            set_image(config, str(image))
        for replica in options.get("replicas") or []:
            if isinstance(replica, dict) and replica.get("name"):
                _set_by_name(
                    config,
                    "replicas",
                    {"name": replica["name"], "count": int(replica.get("count", 0))},
                )
        labels = options.get("commonLabels")
        if isinstance(labels, dict) and labels:
            if options.get("labelWithoutSelector"):
                pairs = {"pairs": dict(labels), "includeSelectors": False}
                if options.get("labelIncludeTemplates"):
                    pairs["includeTemplates"] = True
                config.setdefault("labels", []).append(pairs)
            else:
                _add_map(
                    config, "commonLabels", labels, force=bool(options.get("forceCommonLabels"))
                )
        annotations = options.get("commonAnnotations")
        if isinstance(annotations, dict) and annotations:
            _add_map(
                config,
                "commonAnnotations",
                annotations,
                force=bool(options.get("forceCommonAnnotations")),
            )
        if options.get("namespace"):
            config["namespace"] = options["namespace"]
        if options.get("patches"):
            config["patches"] = [*(config.get("patches") or []), *options["patches"]]
        if options.get("components"):
            config["components"] = [*(config.get("components") or []), *options["components"]]

    return edit


def set_image(config: dict[str, Any], spec: str) -> None:
    """`kustomize edit set image SPEC`: `name=new:tag`, `name:tag`, `name@digest`..."""
    name, _, new = spec.partition("=") if "=" in spec else ("", "", spec)
    image: dict[str, Any] = {}
    target = new
    digest = ""
    if "@" in target:
        target, _, digest = target.partition("@")
    tag = ""
    if ":" in target.rsplit("/", 1)[-1]:
        target, _, tag = target.rpartition(":")
    if not name:
        name = target
    elif target and target != name:
        image["newName"] = target
    image["name"] = name
    if tag:
        image["newTag"] = tag
    if digest:
        image["digest"] = digest
    _set_by_name(config, "images", image)


def _set_by_name(config: dict[str, Any], field: str, entry: dict[str, Any]) -> None:
    entries = [e for e in config.get(field) or [] if isinstance(e, dict)]
    for index, existing in enumerate(entries):
        if existing.get("name") == entry["name"]:
            entries[index] = {
                "name": entry["name"],
                **{k: v for k, v in entry.items() if k != "name"},
            }
            break
    else:
        entries.append(entry)
    config[field] = entries


def _add_map(config: dict[str, Any], field: str, values: dict[str, Any], *, force: bool) -> None:
    current = dict(config.get(field) or {})
    for key, value in values.items():
        if key in current and current[key] != value and not force:
            from sources.model import RenderError  # noqa: PLC0415

            raise RenderError(
                f"{field} {key} is already in the kustomization (Argo CD would need force)"
            )
        current[key] = str(value)
    config[field] = current


def application_docs(objects: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        o
        for o in objects
        if o.get("kind") == "Application"
        and str(o.get("apiVersion", "")).startswith("argoproj.io/")
    ]
