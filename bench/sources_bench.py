"""Rendered sources benchmark (issue 19): APPS applications x 3 environments, each over its
own base, one Argo CD Application per environment; every figure a ratio against a
baseline measured in the same run.

Targets:
  cold render of the whole repository (reported, with the kustomize runs it took);
  warm restart (renders from the cache on disk) within 2x of today's cold list of the
    same objects without rendering (a plain-layout repository holding them, parsed cold);
  a commit touching one overlay re-renders only that source;
  a write into an overlay's own file within 2x of today's write of the same object
    (also against its floor: today's write plus one `kubectl kustomize` of the overlay,
    the check no write into an overlay can skip);
  webhook decision time flat in the number of sources (APPS/10 vs APPS);
  RSS of a server process that serves the rendered repository.

Run: python bench/sources_bench.py [--apps 200] [--writes 20]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pygit2  # noqa: E402
import yaml  # noqa: E402

from gitplane_cli.examples import DEPLOYMENT, SERVICE, application  # noqa: E402
from kube.admission import decode_review  # noqa: E402
from sources.options import desired_store  # noqa: E402
from store.model import Put, Requester  # noqa: E402
from store.repo import GitStore  # noqa: E402
from webhook.config import WebhookConfig  # noqa: E402
from webhook.decide import decide  # noqa: E402
from webhook.git_desired import GitDesiredState  # noqa: E402

ENVS = ("dev", "staging", "prod")
WHO = Requester("bench", ("devs",))


def files_of(apps: int) -> dict[str, str]:
    files: dict[str, str] = {}
    for i in range(apps):
        app = f"app-{i:03d}"
        files[f"{app}/base/deployment.yaml"] = DEPLOYMENT.replace("my-app", app)
        files[f"{app}/base/service.yaml"] = SERVICE.replace("my-app", app)
        files[f"{app}/base/kustomization.yaml"] = "resources: [deployment.yaml, service.yaml]\n"
        for env in ENVS:
            overlay = f"{app}/overlays/{env}"
            files[f"{overlay}/kustomization.yaml"] = (
                "resources: [../../base, configmap.yaml]\n"
                f"images: [{{name: registry.example.com/{app}, newTag: '1.0.{i}'}}]\n"
            )
            files[f"{overlay}/configmap.yaml"] = (
                f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {app}-settings}}\n"
                f"data: {{environment: {env}}}\n"
            )
            files[f"argocd/{app}-{env}.yaml"] = application(f"{app}-{env}", overlay, f"{app}-{env}")
    return files


def write_repo(path: Path, files: dict[str, str]) -> None:
    """One commit holding `files`, written straight into the object database."""
    repo = pygit2.init_repository(str(path), bare=True, initial_head="main")
    index = pygit2.Index()
    for name, text in sorted(files.items()):
        blob = repo.create_blob(text.encode())
        index.add(pygit2.IndexEntry(name, blob, pygit2.GIT_FILEMODE_BLOB))
    tree = index.write_tree(repo)
    who = pygit2.Signature("bench", "bench@example.com")
    repo.create_commit("refs/heads/main", who, who, "gitops", tree, [])


def plain_files(state: Any) -> dict[str, str]:
    """The rendered objects as today's layout holds them: a directory per namespace."""
    out: dict[str, str] = {}
    for key, rendered in state.objects.items():
        folder = key.namespace or "_cluster"
        out[f"{folder}/{key.kind.lower()}-{key.name}.yaml"] = yaml.safe_dump(rendered.obj)
    return out


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def review(obj: dict[str, Any]) -> Any:
    group, _, version = obj["apiVersion"].rpartition("/")
    body = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "1",
            "kind": {"group": group, "version": version, "kind": obj["kind"]},
            "resource": {"group": group, "version": version, "resource": "deployments"},
            "name": obj["metadata"]["name"],
            "namespace": obj["metadata"]["namespace"],
            "operation": "UPDATE",
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": obj,
            "oldObject": obj,
        },
    }
    return decode_review(json.dumps(body).encode())


def decision_seconds(rendered: Any, calls: int = 5000) -> float:
    desired = GitDesiredState(rendered)
    deployment = next(
        r.obj for k, r in rendered.current.desired.objects.items() if k.kind == "Deployment"
    )
    request = review(json.loads(json.dumps(deployment)))
    now = datetime.now(UTC)
    config = WebhookConfig()
    start = time.perf_counter()
    for _ in range(calls):
        decide(request, desired, config, mutating=False, now=now)
    return (time.perf_counter() - start) / calls


def kustomize_seconds(checkout: Path, runs: int) -> list[float]:
    """`kubectl kustomize` of one overlay, as a write's check runs it."""
    for path, text in files_of(1).items():
        (checkout / path).parent.mkdir(parents=True, exist_ok=True)
        (checkout / path).write_text(text)
    command = [
        shutil.which("kubectl") or "kubectl",
        "kustomize",
        str(checkout / "app-000/overlays/prod"),
    ]
    return [
        timed(lambda: subprocess.run(command, capture_output=True, check=True))[0]
        for _ in range(runs)
    ]


def rss(repo: Path) -> None:
    """Child process: open the repository as a server does, print peak RSS in MB."""
    rendered, _ = desired_store(GitStore(str(repo), branch="main"))
    assert rendered.rendering
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def measure(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="gitplane-sources-") as tmp:
        repo = Path(tmp) / "gitops.git"
        write_repo(repo, files_of(args.apps))
        cold, (rendered, _) = timed(lambda: desired_store(GitStore(str(repo), branch="main")))
        renders = rendered.engine.renders
        state = rendered.current.desired
        warm, (again, _) = timed(lambda: desired_store(GitStore(str(repo), branch="main")))
        assert again.engine.renders == 0 and len(again.current.desired.objects) == len(
            state.objects
        )
        plain = Path(tmp) / "plain.git"
        write_repo(plain, plain_files(state))
        plain_cold, plain_store = timed(
            lambda: GitStore(str(plain), branch="main", persist_parse_cache=False)
        )
        assert plain_store.head.snapshot.count() == len(state.objects)
        # One overlay's own file changed, through the rendered view, then today's write.
        before = again.engine.renders
        rendered_writes, plain_writes = [], []
        for i in range(args.writes):
            key = next(
                k
                for k in again.current.desired.objects
                if k.kind == "ConfigMap" and k.namespace == "app-000-prod"
            )
            obj = json.loads(json.dumps(again.current.desired.objects[key].obj))
            obj["data"]["round"] = str(i)
            seconds, _ = timed(
                lambda obj=obj, ns=key.namespace: again.apply([Put(obj, ns, "update")], WHO)
            )
            rendered_writes.append(seconds)
            plain_obj = json.loads(json.dumps(plain_store.get(key).obj))
            plain_obj["data"]["round"] = str(i)
            seconds, _ = timed(
                lambda o=plain_obj, ns=key.namespace: plain_store.apply([Put(o, ns, "update")], WHO)
            )
            plain_writes.append(seconds)
        per_write_renders = (again.engine.renders - before) / args.writes
        build = statistics.median(kustomize_seconds(Path(tmp) / "checkout", args.writes))
        small = Path(tmp) / "small.git"
        write_repo(small, files_of(max(1, args.apps // 10)))
        few, _ = desired_store(GitStore(str(small), branch="main"))
        decision_few, decision_many = decision_seconds(few), decision_seconds(again)
        server_rss = float(
            subprocess.run(
                [sys.executable, __file__, "--rss", str(repo)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    sources = len(state.results)
    print(
        f"{args.apps} apps x 3 environments = {sources} sources, {len(state.objects)} rendered objects"
    )
    print(
        f"  cold render of the repository: {cold:.1f} s ({renders} kustomize runs, {cold / renders * 1000:.0f} ms each)"
    )
    print(
        f"  warm restart, renders from the cache: {warm:.2f} s; today's cold list of the same objects: {plain_cold:.2f} s; ratio {warm / plain_cold:.2f} (target <= 2)"
    )
    median_r, median_p = statistics.median(rendered_writes), statistics.median(plain_writes)
    print(
        f"  a write to an overlay's own file: {median_r * 1000:.0f} ms (median of {args.writes}), today's write {median_p * 1000:.0f} ms; ratio {median_r / median_p:.2f} (target <= 2); renders per write {per_write_renders:.1f} (the check, then the commit's one source)"
    )
    floor = median_p + build
    print(
        f"  its floor, today's write + one kubectl kustomize of the overlay ({build * 1000:.0f} ms): {floor * 1000:.0f} ms; ratio {median_r / floor:.2f}"
    )
    print(
        f"  webhook decision: {decision_few * 1e6:.0f} us with {len(few.results())} sources, {decision_many * 1e6:.0f} us with {sources}; ratio {decision_many / decision_few:.2f} (target flat)"
    )
    print(f"  peak RSS of a process serving it: {server_rss:.0f} MB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--writes", type=int, default=20)
    parser.add_argument("--rss", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss:
        rss(Path(args.rss))
    else:
        measure(args)


if __name__ == "__main__":
    main()
