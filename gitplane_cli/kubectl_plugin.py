"""`kubectl gitplane`: everyday Git operations through the gitplane.io API.

    kubectl gitplane apply -f FILE|DIR [-m MESSAGE]   plain manifests as one ChangeSet (one commit)
    kubectl gitplane log                              revisions of the namespace, newest first
    kubectl gitplane diff REV                         what REV changed in the namespace
    kubectl gitplane revert REV [-m MESSAGE]          undo REV in the namespace only
    kubectl gitplane rollback REV [-m MESSAGE]        set the namespace back to REV
    kubectl gitplane review -f OBJECT [--old FILE] [--as USER]
                                                      would the webhook admit this change?

It runs kubectl itself, so the current context, KUBECONFIG and -n/--namespace apply.
`apply -f DIR` takes the YAML and JSON files of a plain directory (kustomize and Helm
configuration files are skipped, as the store skips them); a directory that holds a
kustomization is rendered with kubectl's own kustomize first, as `kubectl apply -k` would.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gitplane_cli import review
from store.documents import is_list, load_documents
from store.layout import Layout

API_VERSION = "gitplane.io/v1alpha1"
KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kubectl gitplane",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: kubectl's)")
    sub = parser.add_subparsers(dest="command", required=True)
    apply = sub.add_parser("apply", help="plain manifests as one ChangeSet")
    apply.add_argument("-f", "--filename", action="append", required=True)
    apply.add_argument("-m", "--message")
    sub.add_parser("log", help="revisions of the namespace")
    for name in ("diff", "revert", "rollback"):
        p = sub.add_parser(name)
        p.add_argument("revision")
        if name != "diff":
            p.add_argument("-m", "--message")
    review.add_parser(sub)
    args = parser.parse_args(argv)
    kubectl = _kubectl(args)
    try:
        if args.command == "review":
            return review.run(args, args.kubeconfig, args.namespace)
        namespace = args.namespace or _current_namespace(kubectl)
        if args.command == "apply":
            return _apply(kubectl, namespace, args.filename, args.message)
        if args.command == "log":
            return _run([*kubectl, "-n", namespace, "get", "revisions"])
        if args.command == "diff":
            return _run(
                [
                    *kubectl,
                    "-n",
                    namespace,
                    "get",
                    "revision",
                    args.revision,
                    "-o",
                    "jsonpath={.spec.diff}",
                ]
            )
        kind = "Revert" if args.command == "revert" else "Rollback"
        spec: dict[str, Any] = {"revision": args.revision}
        if args.message:
            spec["message"] = args.message
        body = {
            "apiVersion": API_VERSION,
            "kind": kind,
            "metadata": {"generateName": f"{args.command}-", "namespace": namespace},
            "spec": spec,
        }
        return _create(kubectl, body)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _kubectl(args: argparse.Namespace) -> list[str]:
    binary = shutil.which("kubectl")
    if binary is None:
        raise SystemExit("error: kubectl is not on PATH")
    return [binary, *([f"--kubeconfig={args.kubeconfig}"] if args.kubeconfig else [])]


def _current_namespace(kubectl: list[str]) -> str:
    found = subprocess.run(
        [*kubectl, "config", "view", "--minify", "-o", "jsonpath={..namespace}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return found or "default"


def _apply(kubectl: list[str], namespace: str, names: list[str], message: str | None) -> int:
    objects = [obj for name in names for obj in _read(kubectl, Path(name) if name != "-" else None)]
    if not objects:
        raise ValueError("no objects found in the given files")
    spec: dict[str, Any] = {"put": objects}
    if message:
        spec["message"] = message
    body = {
        "apiVersion": API_VERSION,
        "kind": "ChangeSet",
        "metadata": {"generateName": "apply-", "namespace": namespace},
        "spec": spec,
    }
    return _create(kubectl, body)


def _read(kubectl: list[str], path: Path | None) -> list[dict[str, Any]]:
    """Objects in a file, a directory of YAML/JSON files (sorted), or stdin."""
    if path is not None and path.is_dir():
        if any((path / name).is_file() for name in KUSTOMIZATIONS):
            return _objects(_kustomize(kubectl, path), path)
        if (path / "Chart.yaml").is_file():
            raise ValueError(
                f"{path} is a Helm chart: render it first (helm template ... | kubectl gitplane"
                " apply -f -), or commit the chart to Git as it is"
            )
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and not p.is_symlink() and Layout().holds_objects(p.as_posix())
        )
        return [obj for file in files for obj in _read(kubectl, file)]
    text = sys.stdin.read() if path is None else path.read_text()
    return _objects(text, path)


def _objects(text: str, path: Path | None) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for doc in load_documents(text):
        if is_list(doc):
            objects.extend(doc["items"])
        elif isinstance(doc, dict):
            objects.append(doc)
        elif doc is not None:
            raise ValueError(f"{path or 'stdin'}: a document is not a Kubernetes object")
    return objects


def _kustomize(kubectl: list[str], path: Path) -> str:
    """The directory as kustomize builds it (kubectl's own kustomize)."""
    built = subprocess.run(
        [*kubectl, "kustomize", str(path)], capture_output=True, text=True, check=False
    )
    if built.returncode != 0:
        raise ValueError(f"kustomize could not build {path}: {built.stderr.strip()}")
    return built.stdout


def _create(kubectl: list[str], body: dict[str, Any]) -> int:
    result = subprocess.run(
        [*kubectl, "create", "-f", "-", "-o", "json"],
        input=json.dumps(body),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.stderr.write(_unreachable(kubectl, result.stderr) or result.stderr)
        return result.returncode
    created = json.loads(result.stdout)
    state = created.get("status", {})
    what = f"{created['kind'].lower()} {created['metadata']['name']}"
    if not state.get("commit"):
        print(f"{what}: unchanged (nothing to commit)")
        return 0
    print(f"{what}: commit {state['commit'][:12]}")
    for change in state.get("changes", []):
        print(f"  {change['type'].lower():8} {change['manifest']}")
    return 0


_UNREACHABLE = (
    "connection refused",
    "Unable to connect to the server",
    "failed to download openapi",
    "no such host",
    "i/o timeout",
)


def _unreachable(kubectl: list[str], stderr: str) -> str | None:
    """One line saying the gitplane API cannot be reached, and where it was looked for,
    instead of kubectl's error about the OpenAPI document it could not download."""
    if not any(sign in stderr for sign in _UNREACHABLE):
        return None
    server = subprocess.run(
        [*kubectl, "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    where = server or "the server of the current kubeconfig context"
    return (
        f"error: the gitplane API cannot be reached at {where} (is `gitplane up` running,"
        " or the APIService available?)\n"
    )


def _run(command: list[str]) -> int:
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
