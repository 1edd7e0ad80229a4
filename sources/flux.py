"""Flux: Kustomizations (kustomize-controller) and HelmReleases (helm-controller) whose
source is this repository, rendered as the controllers render them.

A Kustomization's fields are written into its kustomization (or the one generated for a
path that has none), it is built with no load restriction, and `postBuild` variables are
then substituted in each object. A HelmRelease whose chart lives in a GitRepository is
templated with the values Flux merges: the chart's, then `valuesFrom`, then `values`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sources.argo import Target
from sources.artifacts import Generated
from sources.gittree import normalize, shared_directories
from sources.helm import HelmInvocation
from sources.model import RenderError, Source, SourceRef, mapping

DEFAULT_NAMESPACE = "flux-system"
SUBSTITUTE_DISABLED = "kustomize.toolkit.fluxcd.io/substitute"
_VAR = r"[_a-zA-Z][_a-zA-Z0-9]*"
_EXPRESSION = re.compile(r"\$(\$?)\{([^{}]*)\}")
_FORM = re.compile(rf"^({_VAR})(?:(:?[-=])(.*))?$", re.DOTALL)
_MAX_RELEASE = 53


def kustomization_source(
    doc: dict[str, Any],
    declared_in: str,
    repositories: dict[tuple[str, str], dict[str, Any]],
    target: Target,
    parent: SourceRef | None,
    artifacts: Mapping[tuple[str, str], list[Generated]] | None = None,
) -> Source:
    meta = mapping(doc.get("metadata"))
    namespace = str(meta.get("namespace") or DEFAULT_NAMESPACE)
    ref = SourceRef("Kustomization", namespace, str(meta.get("name", "")), declared_in)
    spec = mapping(doc.get("spec"))
    options: dict[str, Any] = {
        "flux": {k: spec.get(k) for k in _KUSTOMIZATION_FIELDS if spec.get(k) is not None}
    }
    source_ref = spec.get("sourceRef")
    if isinstance(source_ref, dict) and source_ref.get("kind") == "ExternalArtifact":
        reason, artifact = _artifact_problem(
            source_ref, namespace, declared_in, artifacts or {}, repositories, target
        )
        if artifact is not None:
            options["artifact"] = artifact
    else:
        reason = _source_problem(source_ref, namespace, repositories, target)
    path = str(spec.get("path") or "")
    try:
        directory = normalize(path)
    except ValueError:
        directory, reason = "", reason or f"path {path!r} leaves the repository"
    destination = str(spec.get("targetNamespace") or "")
    return Source(ref, "kustomize", directory, destination, options, "flux", parent, reason)


_KUSTOMIZATION_FIELDS = (
    "targetNamespace",
    "namePrefix",
    "nameSuffix",
    "patches",
    "images",
    "components",
    "postBuild",
    "commonMetadata",
)


def helmrelease_source(
    doc: dict[str, Any],
    declared_in: str,
    repositories: dict[tuple[str, str], dict[str, Any]],
    target: Target,
    parent: SourceRef | None,
) -> Source:
    meta = mapping(doc.get("metadata"))
    namespace = str(meta.get("namespace") or DEFAULT_NAMESPACE)
    name = str(meta.get("name", ""))
    ref = SourceRef("HelmRelease", namespace, name, declared_in)
    spec = mapping(doc.get("spec"))
    chart = (
        (mapping(spec.get("chart")).get("spec") or {})
        if isinstance(spec.get("chart"), dict)
        else {}
    )
    release_namespace = str(spec.get("targetNamespace") or namespace)
    reason = ""
    if spec.get("chartRef"):
        reason = "the chart comes from an OCIRepository or HelmChart: it cannot be rendered offline"
    elif mapping(chart.get("sourceRef")).get("kind") != "GitRepository":
        kind = mapping(chart.get("sourceRef")).get("kind", "no source")
        reason = f"the chart comes from a {kind}: it cannot be rendered offline"
    else:
        reason = _source_problem(chart.get("sourceRef"), namespace, repositories, target)
    if spec.get("postRenderers"):
        reason = reason or "post-renderers are not rendered by gitplane yet"
    try:
        path = normalize(str(chart.get("chart") or ""))
    except ValueError:
        path, reason = "", reason or "the chart path leaves the repository"
    options: dict[str, Any] = {
        "release": release_name(spec, name),
        "values": mapping(spec.get("values")),
        "valuesFrom": spec.get("valuesFrom") or [],
        "valuesFiles": chart.get("valuesFiles") or [],
        "crds": (mapping(spec.get("install")).get("crds") or "Create"),
    }
    return Source(
        ref, "helm", path, release_namespace, {"flux_helm": options}, "flux", parent, reason
    )


def release_name(spec: dict[str, Any], name: str) -> str:
    """helm-controller's release name: releaseName, else [targetNamespace-]name, shortened
    past 53 characters."""
    import hashlib  # noqa: PLC0415

    if spec.get("releaseName"):
        return str(spec["releaseName"])
    full = f"{spec['targetNamespace']}-{name}" if spec.get("targetNamespace") else name
    if len(full) <= _MAX_RELEASE:
        return full
    return f"{full[:40]}-{hashlib.sha256(full.encode()).hexdigest()[:12]}"


def _artifact_problem(
    source_ref: dict[str, Any],
    namespace: str,
    declared_in: str,
    artifacts: Mapping[tuple[str, str], list[Generated]],
    repositories: dict[tuple[str, str], dict[str, Any]],
    target: Target,
) -> tuple[str, dict[str, Any] | None]:
    """Why an ExternalArtifact cannot be laid out from this repository ("" when it can),
    and what its generator says of it (the render's input, sources.artifacts). Several
    generators make it (one per cluster directory): the one nearest the Kustomization."""
    key = (str(source_ref.get("namespace") or namespace), str(source_ref.get("name", "")))
    makers = artifacts.get(key)
    if not makers:
        return f"ExternalArtifact {key[0]}/{key[1]} is made by no ArtifactGenerator here", None
    generated = max(makers, key=lambda g: shared_directories(g.declared_in, declared_in))
    generator_namespace = generated.generator.split("/")[0]
    used = {str(op.get("from", "")).removeprefix("@").split("/")[0] for op in generated.copy}
    for alias in sorted(used):
        reference = generated.sources.get(alias)
        if reference is None:
            continue  # the render says so
        if reference.get("kind") != "GitRepository":
            return (
                f"ExternalArtifact {key[0]}/{key[1]} copies from {reference.get('kind')}"
                f" {reference.get('name')}, which cannot be read offline",
                None,
            )
        problem = _source_problem(reference, generator_namespace, repositories, target)
        if problem:
            return f"ExternalArtifact {key[0]}/{key[1]}: {problem}", None
    return "", {
        "name": f"{key[0]}/{key[1]}",
        "generator": generated.generator,
        "declared_in": generated.declared_in,
        "aliases": sorted(generated.sources),
        "copy": [dict(op) for op in generated.copy],
    }


def _source_problem(
    source_ref: Any,
    namespace: str,
    repositories: dict[tuple[str, str], dict[str, Any]],
    target: Target,
) -> str:
    if not isinstance(source_ref, dict) or source_ref.get("kind") != "GitRepository":
        kind = source_ref.get("kind") if isinstance(source_ref, dict) else None
        return f"its source is a {kind or 'missing sourceRef'}, not this Git repository"
    key = (str(source_ref.get("namespace") or namespace), str(source_ref.get("name", "")))
    repository = repositories.get(key)
    if repository is None:
        return (
            ""
            if not target.repo_urls
            else f"GitRepository {key[0]}/{key[1]} is not in the repository"
        )
    spec = repository.get("spec") or {}
    if not target.is_this_repository(spec.get("url")):
        return f"GitRepository {key[0]}/{key[1]} ({spec.get('url')}) is not this repository"
    reference = spec.get("ref") or {}
    branch = reference.get("branch") if isinstance(reference, dict) else None
    if branch and not target.is_served_revision(branch):
        return f"GitRepository {key[0]}/{key[1]} follows branch {branch}, not {target.branch}"
    return ""


def kustomize_edit(options: dict[str, Any]) -> Any:
    """kustomize-controller's GenerateManifest: the Kustomization's fields written into
    the kustomization, in its order."""

    def edit(config: dict[str, Any], _directory: Any) -> None:
        if options.get("targetNamespace"):
            config["namespace"] = options["targetNamespace"]
        if options.get("namePrefix"):
            config["namePrefix"] = options["namePrefix"]
        if options.get("nameSuffix"):
            config["nameSuffix"] = options["nameSuffix"]
        if options.get("patches"):
            config["patches"] = [*(config.get("patches") or []), *options["patches"]]
        if options.get("components"):
            config["components"] = [*(config.get("components") or []), *options["components"]]
        for image in options.get("images") or []:
            if not isinstance(image, dict) or not image.get("name"):
                continue
            images = [i for i in config.get("images") or [] if isinstance(i, dict)]
            for existing in images:
                if existing.get("name") == image["name"]:
                    existing.update({k: v for k, v in image.items() if v not in (None, "")})
                    break
            else:
                images.append(dict(image))
            config["images"] = images

    return edit


def substitute(obj: dict[str, Any], variables: dict[str, str], *, strict: bool) -> dict[str, Any]:
    """`postBuild` substitution of one object, as Flux's envsubst does it: `${var}`,
    `${var:-default}`, `${var-default}`, `${var:=default}`, `${var=default}`; `$${var}` is
    a literal `${var}`; an object labelled or annotated `substitute: disabled` is left.
    The substituted text is read again, so a value may change type, as in Flux."""
    from store.loader import LoadError, load_yaml  # noqa: PLC0415
    from store.yamledit import dump_document  # noqa: PLC0415

    meta = mapping(obj.get("metadata"))
    for field in ("labels", "annotations"):
        values = meta.get(field) or {}
        if isinstance(values, dict) and values.get(SUBSTITUTE_DISABLED) == "disabled":
            return obj
    text = dump_document(obj)

    def replace(match: re.Match[str]) -> str:
        if match.group(1):  # $${var}: a literal ${var}
            return "${" + match.group(2) + "}"
        found = _FORM.match(match.group(2))
        if found is None:
            raise RenderError(
                f"postBuild: ${{{match.group(2)}}} is not a substitution gitplane renders"
            )
        name, operator, default = found.group(1), found.group(2), found.group(3)
        value = variables.get(name)
        if operator in (":-", ":=") and not value:
            return default or ""
        if operator in ("-", "=") and value is None:
            return default or ""
        if value is None:
            if strict:
                raise RenderError(f"postBuild: variable {name} is not set (strict substitution)")
            return ""
        return value

    substituted = _EXPRESSION.sub(replace, text)
    if substituted == text:
        return obj
    try:
        result = load_yaml(substituted)
    except LoadError as exc:
        raise RenderError(f"postBuild substitution made YAML that does not load: {exc}") from None
    if not isinstance(result, dict):
        raise RenderError("postBuild substitution did not leave an object")
    return result


def helm_invocation(
    options: dict[str, Any],
    namespace: str,
    merged_values: dict[str, Any],
    declared_in: str,
    extra_files: tuple[str, ...],
) -> HelmInvocation:
    return HelmInvocation(
        release=str(options["release"]),
        namespace=namespace,
        value_files=tuple(options.get("resolved_value_files") or ()),
        inline_values=merged_values or None,
        inline_from=declared_in,
        include_crds=options.get("crds") != "Skip",
        extra_files=extra_files,
    )


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Helm's values merge: maps merge, anything else is replaced."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
