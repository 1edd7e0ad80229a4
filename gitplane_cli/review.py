"""`kubectl gitplane review -f OBJECT`: would the webhook admit this change?

It builds the AdmissionReview kube-apiserver would send for the change (UPDATE of the
object, or DELETE), sends it to the running webhook, and prints the decision, the
warnings and the fields that drift from Git. With `gitplane up` the webhook is found
from DIR/endpoints.json beside the kubeconfig; elsewhere pass --webhook and --ca.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import json
import os
import ssl
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from store.documents import load_documents

DRIFT_ANNOTATION = "gitplane.io/drift"


def add_parser(sub: Any) -> None:
    review = sub.add_parser(
        "review",
        help="ask the webhook whether a change to a live object would be admitted",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    review.add_argument("-f", "--filename", required=True, help="the object after the change")
    review.add_argument("--old", help="the object as it is now (default: the same object)")
    review.add_argument("--delete", action="store_true", help="review deleting the object")
    review.add_argument("--as", dest="user", default=getpass.getuser(), help="who changes it")
    review.add_argument(
        "--as-group", action="append", default=[], help="a group of that user (repeatable)"
    )
    review.add_argument("--webhook", help="the webhook's URL (default: from gitplane up)")
    review.add_argument("--ca", help="CA certificate the webhook's is signed by")


def run(args: argparse.Namespace, kubeconfig: str | None, namespace: str | None) -> int:
    obj = _one_object(Path(args.filename))
    old = _one_object(Path(args.old)) if args.old else obj
    url, ca = _webhook(args, kubeconfig)
    request = admission_review(obj, old, args.user, args.as_group, namespace, delete=args.delete)
    response = _send(url, ca, request)
    print_decision(response, sys.stdout)
    return 0 if response.get("allowed") else 1


def admission_review(
    obj: dict[str, Any],
    old: dict[str, Any],
    user: str,
    groups: list[str],
    namespace: str | None,
    *,
    delete: bool,
) -> dict[str, Any]:
    """The AdmissionReview kube-apiserver sends for an update (or delete) of `obj`."""
    api_version = str(obj.get("apiVersion", ""))
    group, _, version = api_version.rpartition("/")
    kind = str(obj.get("kind", ""))
    meta = obj.get("metadata") or {}
    gvk = {"group": group, "version": version, "kind": kind}
    gvr = {"group": group, "version": version, "resource": _plural(kind)}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "name": meta.get("name", ""),
            "namespace": meta.get("namespace") or namespace or "",
            "operation": "DELETE" if delete else "UPDATE",
            "userInfo": {"username": user, "groups": [*groups, "system:authenticated"]},
            "object": None if delete else obj,
            "oldObject": old,
            "dryRun": True,
            "options": {
                "apiVersion": "meta.k8s.io/v1",
                "kind": "DeleteOptions" if delete else "UpdateOptions",
            },
        },
    }


def print_decision(response: dict[str, Any], out: Any) -> None:
    """The decision, the warnings, and the drifting fields, for a person."""
    state = response.get("status") or {}
    if response.get("allowed"):
        print("admitted", file=out)
    else:
        print(f"denied ({state.get('code', 403)}):", file=out)
        for line in str(state.get("message", "")).splitlines():
            print(f"  {line}", file=out)
    warnings = response.get("warnings") or []
    if warnings:
        print("warnings:", file=out)
        for warning in warnings:
            print(f"  - {warning}", file=out)
    drift = _drift_annotation(response)
    if drift:
        print(f"drifting from Git: {drift}", file=out)


def _drift_annotation(response: dict[str, Any]) -> str:
    patch = response.get("patch")
    if not patch:
        return ""
    try:
        operations = json.loads(base64.b64decode(patch))
    except ValueError:
        return ""
    for op in operations if isinstance(operations, list) else []:
        value = op.get("value")
        if op.get("path", "").endswith(DRIFT_ANNOTATION.replace("/", "~1")):
            return str(value)
        if isinstance(value, dict) and DRIFT_ANNOTATION in value:
            return str(value[DRIFT_ANNOTATION])
    return ""


def _one_object(path: Path) -> dict[str, Any]:
    docs = [d for d in load_documents(path.read_text()) if d is not None]
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise ValueError(f"{path}: review takes one object (found {len(docs)} documents)")
    return docs[0]


def _webhook(args: argparse.Namespace, kubeconfig: str | None) -> tuple[str, str | None]:
    if args.webhook:
        return args.webhook.rstrip("/") + (
            "" if args.webhook.endswith("/mutate") else "/mutate"
        ), args.ca
    config = kubeconfig or (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0]
    endpoints = Path(config).parent / "endpoints.json" if config else None
    if endpoints is None or not endpoints.is_file():
        raise ValueError(
            "cannot find the webhook: pass --webhook URL (and --ca FILE); `gitplane up` writes"
            " DIR/endpoints.json beside DIR/kubeconfig"
        )
    found = json.loads(endpoints.read_text())
    return f"https://127.0.0.1:{found['webhook']}/mutate", args.ca or found.get("ca")


def _send(url: str, ca: str | None, review: dict[str, Any]) -> dict[str, Any]:
    if not url.startswith("https://"):
        raise ValueError(f"the webhook is served over HTTPS only, not at {url}")
    context = ssl.create_default_context(cafile=ca)
    request = urllib.request.Request(  # noqa: S310 - https only (checked above)
        url,
        data=json.dumps(review).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:  # noqa: S310
            body = json.loads(answer.read())
    except (urllib.error.URLError, OSError) as exc:
        raise ValueError(f"the webhook cannot be reached at {url}: {exc}") from None
    response = body.get("response") if isinstance(body, dict) else None
    if not isinstance(response, dict):
        raise ValueError(f"the webhook at {url} did not answer with an AdmissionReview")
    return response


def _plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith("s"):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"
