"""What the reconcilers apply, served to the real kubectl: Manifests per destination
namespace, Sources, revisions per namespace, writes that land in the overlay or are
refused naming the files, and the webhook judging against the rendered objects."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kube.admission import decode_review
from sources.engine import Settings
from sources.options import desired_store
from store.repo import GitStore
from tests.apiserver.harness import Server, start_server
from tests.sources import fixtures
from webhook.config import WebhookConfig
from webhook.decide import decide
from webhook.git_desired import GitDesiredState


@pytest.fixture
async def overlays(tmp_path: Path) -> AsyncIterator[Server]:
    repo = tmp_path / "repo"
    fixtures.base_and_overlays(repo)
    server, runner = await start_server(tmp_path / "server", store=GitStore(repo))
    try:
        yield server
    finally:
        await runner.cleanup()


def names(result: Any) -> list[str]:
    return sorted(item["metadata"]["name"] for item in result.json()["items"])


async def test_each_destination_namespace_serves_its_rendered_objects(overlays: Server) -> None:
    api = overlays
    for env in ("dev", "staging", "prod"):
        listed = await api.ok("get", "mf", "-n", f"my-app-{env}", "-o", "json")
        assert names(listed) == ["configmap.my-app-settings", "deployment.my-app", "service.my-app"]
    assert (await api.ok("get", "mf", "-n", "my-app", "-o", "json")).json()["items"] == []
    wide = await api.ok("get", "mf", "-n", "my-app-prod", "-o", "wide")
    row = next(line for line in wide.out.splitlines() if line.startswith("deployment.my-app"))
    assert "Application argocd/my-app-prod" in row
    assert "my-app/base/deployment.yaml,my-app/overlays/prod/kustomization.yaml" in row
    got = (await api.ok("get", "mf", "deployment.my-app", "-n", "my-app-prod", "-o", "json")).json()
    assert got["spec"]["object"]["spec"]["replicas"] == 3
    assert got["status"]["files"][-1] == "my-app/overlays/prod/kustomization.yaml"
    sources = await api.ok("get", "sources")
    lines = sources.out.splitlines()
    assert lines[0].split()[:5] == ["NAME", "KIND", "PATH", "TOOL", "DESTINATION"]
    assert any("application.argocd.my-app-prod" in line and "Rendered" in line for line in lines)


async def test_revisions_are_the_commits_that_changed_what_a_namespace_renders(
    overlays: Server,
) -> None:
    api = overlays
    dev = fixtures.commit_files(
        api.repo,
        {
            "my-app/overlays/dev/replicas.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: my-app}\nspec: {replicas: 4}\n"
        },
        "dev: four",
    )
    base = fixtures.commit_files(
        api.repo,
        {"my-app/base/service.yaml": fixtures.SERVICE.replace("port: 80", "port: 8080")},
        "base: port",
    )
    api.store.refresh()
    for env, expected in (("dev", {dev, base}), ("staging", {base}), ("prod", {base})):
        listed = (await api.ok("get", "rev", "-n", f"my-app-{env}", "-o", "json")).json()["items"]
        commits = {item["spec"]["commit"] for item in listed}
        assert expected <= commits and (env == "dev" or dev not in commits), env
    shown = (await api.ok("get", "rev", dev[:12], "-n", "my-app-dev", "-o", "json")).json()
    assert "replicas: 4" in shown["spec"]["diff"]
    assert [c["name"] for c in shown["spec"]["changes"]] == ["my-app"]
    served = (
        await api.ok("get", "mf", "deployment.my-app", "-n", "my-app-dev", "-o", "json")
    ).json()
    assert served["spec"]["object"]["spec"]["replicas"] == 4


async def test_an_overlays_own_resource_is_edited_in_its_file_and_a_bases_is_refused(
    overlays: Server,
) -> None:
    api = overlays
    patched = await api.kubectl(
        "patch", "mf", "configmap.my-app-settings", "-n", "my-app-prod", "--type", "merge",
        "-p", '{"spec":{"object":{"data":{"environment":"production"}}}}',
    )  # fmt: skip
    assert patched.code == 0, patched.err
    assert "environment: production" in api.git("show", "HEAD:my-app/overlays/prod/configmap.yaml")
    assert "environment: dev" in api.git("show", "HEAD:my-app/overlays/dev/configmap.yaml")
    assert api.git("log", "-1", "--format=%an").strip() == "gitplane-admin"
    head = api.git("rev-parse", "HEAD")
    refused = await api.kubectl(
        "patch", "mf", "deployment.my-app", "-n", "my-app-prod", "--type", "merge",
        "-p", '{"spec":{"object":{"spec":{"replicas":9}}}}',
    )  # fmt: skip
    assert refused.code != 0
    assert "my-app/base/deployment.yaml" in refused.err and "is invalid" in refused.err
    assert api.git("rev-parse", "HEAD") == head  # nothing written to the base


async def test_controllers_keep_bookkeeping_on_a_bases_objects_without_touching_git(
    overlays: Server,
) -> None:
    """A finalizer and a controller's annotation on an object a base renders change no
    file (they are bookkeeping); a deletion that could never be committed is refused
    when asked for, not when the controller removes its finalizer."""
    api = overlays
    head = api.git("rev-parse", "HEAD")
    where = ("-n", "my-app-prod")
    await api.ok("annotate", "mf", "deployment.my-app", *where, "kopf.zalando.org/done=yes")
    await api.ok(
        "patch", "mf", "deployment.my-app", *where, "--type", "merge",
        "-p", '{"metadata":{"finalizers":["example.com/cleanup"]}}',
    )  # fmt: skip
    got = (await api.ok("get", "mf", "deployment.my-app", *where, "-o", "json")).json()
    assert got["metadata"]["finalizers"] == ["example.com/cleanup"]
    assert got["metadata"]["annotations"]["kopf.zalando.org/done"] == "yes"
    assert api.git("rev-parse", "HEAD") == head
    assert len(api.git("rev-list", "refs/gitplane/bookkeeping/main").split()) == 2
    refused = await api.kubectl("delete", "mf", "deployment.my-app", *where, "--wait=false")
    assert refused.code != 0 and "kustomization" in refused.err, refused.err
    got = (await api.ok("get", "mf", "deployment.my-app", *where, "-o", "json")).json()
    assert "deletionTimestamp" not in got["metadata"]
    await api.ok(
        "patch", "mf", "deployment.my-app", *where, "--type", "json",
        "-p", '[{"op":"remove","path":"/metadata/finalizers"}]',
    )  # fmt: skip
    assert api.git("rev-parse", "HEAD") == head


def history_object(kind: str, name: str, namespace: str, revision: str) -> str:
    return (
        f"apiVersion: gitplane.io/v1alpha1\nkind: {kind}\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\nspec: {{revision: '{revision}'}}\n"
    )


async def test_revert_and_rollback_change_one_overlay_and_refuse_a_shared_base(
    overlays: Server,
) -> None:
    """A namespace's revert and rollback write the files its source renders: its overlay,
    never the base other namespaces render too (that is refused, naming them)."""
    api = overlays
    first = api.git("rev-parse", "HEAD").strip()
    replicas = api.git("show", "HEAD:my-app/overlays/prod/replicas.yaml")
    prod = fixtures.commit_files(
        api.repo,
        {"my-app/overlays/prod/replicas.yaml": replicas.replace("replicas: 3", "replicas: 5")},
        "prod: five replicas",
    )
    settings = api.git("show", "HEAD:my-app/overlays/dev/configmap.yaml")
    fixtures.commit_files(
        api.repo,
        {"my-app/overlays/dev/configmap.yaml": settings.replace("dev", "development")},
        "dev: renamed",
    )
    await api.ok("create", "-f", "-", stdin=history_object("Rollback", "dev", "my-app-dev", first))
    assert api.git("show", "HEAD:my-app/overlays/dev/configmap.yaml") == settings
    assert "replicas: 5" in api.git("show", "HEAD:my-app/overlays/prod/replicas.yaml")
    fixtures.commit_files(
        api.repo,
        {"my-app/base/service.yaml": fixtures.SERVICE.replace("port: 80", "port: 8080")},
        "base: port 8080",
    )
    await api.ok("create", "-f", "-", stdin=history_object("Revert", "undo", "my-app-prod", prod))
    assert "replicas: 3" in api.git("show", "HEAD:my-app/overlays/prod/replicas.yaml")
    assert api.git("show", "--stat", "--format=", "HEAD").split()[0] == (
        "my-app/overlays/prod/replicas.yaml"
    )
    got = (await api.ok("get", "mf", "deployment.my-app", "-n", "my-app-prod", "-o", "json")).json()
    assert got["spec"]["object"]["spec"]["replicas"] == 3
    head = api.git("rev-parse", "HEAD")
    refused = await api.kubectl(
        "create", "-f", "-", stdin=history_object("Rollback", "back", "my-app-dev", first)
    )
    assert (
        refused.code != 0
        and "my-app/base/service.yaml (also my-app-prod, my-app-staging)" in refused.err
    )
    assert api.git("rev-parse", "HEAD") == head


async def test_a_failing_commit_is_reported_and_the_last_good_render_stays(
    overlays: Server,
) -> None:
    api = overlays
    fixtures.commit_files(
        api.repo,
        {"my-app/overlays/prod/kustomization.yaml": "resources: [missing/]\n"},
        "break prod",
    )
    api.store.refresh()
    listed = await api.ok("get", "mf", "-n", "my-app-prod", "-o", "json")
    assert "deployment.my-app" in names(listed)  # still served, as the cluster still has it
    sources = (
        await api.ok("get", "sources", "application.argocd.my-app-prod", "-o", "json")
    ).json()
    assert sources["status"]["phase"] == "Stale"
    assert sources["status"]["error"].startswith("kustomize:")


def review(obj: dict[str, Any], user: str = "alice") -> Any:
    group, _, version = obj["apiVersion"].rpartition("/")
    gvk = {"group": group, "version": version, "kind": obj["kind"]}
    body = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "1",
            "kind": gvk,
            "resource": {"group": group, "version": version, "resource": obj["kind"].lower() + "s"},
            "name": obj["metadata"]["name"],
            "namespace": obj["metadata"]["namespace"],
            "operation": "UPDATE",
            "userInfo": {"username": user, "groups": ["system:authenticated"]},
            "object": obj,
            "oldObject": obj,
        },
    }
    return decode_review(json.dumps(body).encode())


def test_the_webhook_judges_the_rendered_objects(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    fixtures.base_and_overlays(repo)
    rendered, _ = desired_store(GitStore(repo))
    desired = GitDesiredState(rendered)
    now = datetime.now(UTC)
    prod = rendered.provenance(
        next(
            k
            for k in rendered.current.desired.objects
            if k.namespace == "my-app-prod" and k.kind == "Deployment"
        )
    )  # type: ignore[union-attr]
    assert prod is not None
    live = json.loads(json.dumps(prod.obj))
    assert decide(review(live), desired, WebhookConfig(), mutating=False, now=now).allowed
    live["spec"]["template"]["spec"]["containers"][0]["image"] = (
        "registry.example.com/my-app:hotfix"
    )
    denied = decide(review(live), desired, WebhookConfig(), mutating=False, now=now)
    assert not denied.allowed
    assert "my-app/overlays/prod/kustomization.yaml" in denied.message
    assert desired.is_managed("my-app-staging") and not desired.is_managed("my-app")


def test_flux_staging_helmrelease_as_rendered_is_admitted_unchanged(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    fixtures.flux_example(repo)
    rendered, _ = desired_store(GitStore(repo), Settings(flux_paths=("clusters/staging",)))
    desired = GitDesiredState(rendered)
    now = datetime.now(UTC)
    release = next(
        r for k, r in rendered.current.desired.objects.items() if k.kind == "HelmRelease"
    )  # type: ignore[union-attr]
    assert release.obj["spec"]["values"]["host"] == "podinfo.staging"
    assert decide(
        review(json.loads(json.dumps(release.obj))),
        desired,
        WebhookConfig(),
        mutating=False,
        now=now,
    ).allowed
    base = json.loads(json.dumps(release.obj))
    base["spec"]["values"] = {
        "redis": {"enabled": True}
    }  # the base's values: not what Flux applies
    assert not decide(review(base), desired, WebhookConfig(), mutating=False, now=now).allowed
