"""Discovery and OpenAPI documents: their shapes, ETags, and the real kubectl reading them from
a server that serves nothing else (api-resources, api-versions, explain)."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from apiserver import discovery, openapi
from apiserver.discovery_routes import discovery_routes, openapi_routes
from apiserver.etag import body_hash, etag, etag_matches
from apiserver.resources.info import ALL, GROUP_VERSION, MANIFESTS, ResourceInfo, Subresource
from kube.negotiation import aggregated_discovery_content_type
from pki.authority import CertificateAuthority, create_authority
from pki.issue import issue_client_certificate, issue_serving_certificate
from pki.kubeconfig import build_kubeconfig, write_kubeconfig

AGGREGATED_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)
V3_PATH = "/openapi/v3/apis/gitplane.io/v1alpha1"


def _routes(*, aggregated: bool = True) -> list[web.RouteDef]:
    return [*discovery_routes(ALL, aggregated=aggregated), *openapi_routes(ALL)]


@pytest.fixture
async def client(aiohttp_client: Any) -> TestClient[web.Request, web.Application]:
    app = web.Application()
    app.add_routes(_routes())
    result: TestClient[web.Request, web.Application] = await aiohttp_client(app)
    return result


# --- documents --------------------------------------------------------------------------------


def test_legacy_resource_list_describes_every_kind() -> None:
    body = discovery.api_resource_list(ALL)
    assert body["groupVersion"] == GROUP_VERSION
    by_name = {r["name"]: r for r in body["resources"]}
    assert set(by_name) == {i.plural for i in ALL}
    manifests = by_name["manifests"]
    assert manifests["kind"] == "Manifest"
    assert manifests["singularName"] == "manifest"
    assert manifests["namespaced"] is True
    assert manifests["shortNames"] == ["mf"]
    assert manifests["categories"] == ["gitplane"]
    assert {"get", "list", "watch", "create", "update", "patch", "delete"} <= set(
        manifests["verbs"]
    )
    assert by_name["clustermanifests"]["namespaced"] is False
    assert by_name["changesets"]["verbs"] == ["create"]
    # discovery.StorageVersionHash("gitplane.io", "v1alpha1", "Manifest"), as Go computes it
    assert manifests["storageVersionHash"] == discovery.storage_version_hash("Manifest")
    assert len(manifests["storageVersionHash"]) == 12


def test_subresources_are_listed_as_plural_slash_name_with_the_parent_scope() -> None:
    info = ResourceInfo(
        "widgets", "widget", "Widget", True, ("get", "list"), subresources=(Subresource("status"),)
    )
    legacy = discovery.api_resource_list([info])["resources"]
    assert legacy[1] == {
        "name": "widgets/status",
        "singularName": "",
        "namespaced": True,
        "kind": "Widget",
        "verbs": ["get", "patch", "update"],
    }
    aggregated = discovery.aggregated_discovery([info])["items"][0]["versions"][0]["resources"]
    assert aggregated[0]["subresources"] == [
        {
            "subresource": "status",
            "responseKind": {"group": "gitplane.io", "version": "v1alpha1", "kind": "Widget"},
            "verbs": ["get", "patch", "update"],
        }
    ]
    paths = {item.path for item in openapi.path_items(info)}
    assert "/apis/gitplane.io/v1alpha1/namespaces/{namespace}/widgets/{name}/status" in paths


def test_aggregated_discovery_shape() -> None:
    body = discovery.aggregated_discovery(ALL, "v2")
    assert body["apiVersion"] == "apidiscovery.k8s.io/v2"
    (group,) = body["items"]
    assert group["metadata"] == {"name": "gitplane.io"}
    (version,) = group["versions"]
    assert version["version"] == "v1alpha1"
    assert version["freshness"] == "Current"
    revisions = next(r for r in version["resources"] if r["resource"] == "revisions")
    assert revisions == {
        "resource": "revisions",
        "responseKind": {"group": "gitplane.io", "version": "v1alpha1", "kind": "Revision"},
        "scope": "Namespaced",
        "singularResource": "revision",
        "verbs": ["get", "list", "watch"],
        "shortNames": ["rev"],
        "categories": ["gitplane"],
    }
    assert discovery.aggregated_discovery(ALL, "v2beta1")["apiVersion"] == (
        "apidiscovery.k8s.io/v2beta1"
    )


def test_version_info_follows_the_kubernetes_release() -> None:
    info = discovery.version_info()
    assert (info["major"], info["minor"], info["gitVersion"]) == ("1", "37", "v1.37.0")
    assert info["platform"].count("/") == 1


@pytest.mark.parametrize(
    ("agent", "told"),
    [
        ("kubectl/v1.32.4 (linux/amd64) kubernetes/abc", "v1.32.0+gitplane.0.1.0"),
        ("kubectl/v1.37.1 (linux/amd64) kubernetes/abc", "v1.37.0+gitplane.0.1.0"),
        ("kubectl/v1.28.0 (linux/amd64) kubernetes/abc", "v1.37.0+gitplane.0.1.0"),
        ("kopf/1.37", "v1.37.0+gitplane.0.1.0"),
        (None, "v1.37.0+gitplane.0.1.0"),
    ],
)
def test_a_standalone_server_tells_each_supported_kubectl_its_own_release(
    agent: str | None, told: str
) -> None:
    info = discovery.version_for_client(agent, "0.1.0")
    assert info["gitVersion"] == told
    assert (info["minCompatibilityMajor"], info["minCompatibilityMinor"]) == ("1", "32")


def test_etags_match_if_none_match_forms() -> None:
    tag = etag(b"{}")
    assert tag == f'"{body_hash(b"{}")}"'
    assert etag_matches(tag, tag)
    assert etag_matches(f'"other", W/{tag}', tag)
    assert etag_matches("*", tag)
    assert not etag_matches('"other"', tag)
    assert not etag_matches(None, tag)


def _v3() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(openapi.encode(openapi.openapi_v3(ALL)))
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method != "parameters"
    ]


def test_v3_schemas_carry_their_group_version_kind() -> None:
    schemas = _v3()["components"]["schemas"]
    manifest = schemas["io.gitplane.v1alpha1.Manifest"]
    assert manifest["x-kubernetes-group-version-kind"] == [
        {"group": "gitplane.io", "kind": "Manifest", "version": "v1alpha1"}
    ]
    assert set(manifest["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert manifest["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    ]
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in schemas
    items = schemas["io.gitplane.v1alpha1.ManifestList"]["properties"]["items"]["items"]
    assert items == {"$ref": "#/components/schemas/io.gitplane.v1alpha1.Manifest"}
    for info in ALL:
        assert f"io.gitplane.v1alpha1.{info.kind}" in schemas


def test_v3_operations_follow_the_verbs_and_tag_their_kind() -> None:
    operations = _operations(_v3())
    by_id = {op["operationId"]: (path, method, op) for path, method, op in operations}
    for _, _, op in operations:
        if op["operationId"] != "getGitplaneIoV1alpha1APIResources":
            assert op["x-kubernetes-group-version-kind"]["group"] == "gitplane.io"
            assert op["x-kubernetes-action"]
    path, method, patch = by_id["patchGitplaneIoV1alpha1NamespacedManifest"]
    assert (path, method) == (
        "/apis/gitplane.io/v1alpha1/namespaces/{namespace}/manifests/{name}",
        "patch",
    )
    # No strategic merge: kubectl apply then sends merge patches (checklist 20).
    assert sorted(patch["requestBody"]["content"]) == [
        "application/apply-patch+yaml",
        "application/json-patch+json",
        "application/merge-patch+json",
    ]
    # kubectl sends fieldValidation only if the PATCH operation itself lists it (25).
    assert {"dryRun", "fieldManager", "fieldValidation", "force"} <= {
        p["name"] for p in patch["parameters"] if p["in"] == "query"
    }
    assert "listGitplaneIoV1alpha1ManifestForAllNamespaces" in by_id
    assert "watchGitplaneIoV1alpha1ClusterManifestList" in by_id
    assert ("deleteGitplaneIoV1alpha1CollectionNamespacedManifest" in by_id) == (
        "deletecollection" in MANIFESTS.verbs
    )
    assert "watchGitplaneIoV1alpha1NamespacedRevisionList" in by_id
    # Read-only and create-only kinds have exactly their verbs.
    revision_methods = {
        m
        for _, m, op in operations
        if op.get("x-kubernetes-group-version-kind", {}).get("kind") == "Revision"
    }
    assert revision_methods == {"get"}
    changeset_ops = [
        (m, op["x-kubernetes-action"])
        for _, m, op in operations
        if op.get("x-kubernetes-group-version-kind", {}).get("kind") == "ChangeSet"
    ]
    assert changeset_ops == [("post", "post")]


def test_v3_document_is_valid_openapi() -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.OpenAPIV30SpecValidator(_v3()).validate()


def test_v2_document_is_valid_swagger() -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    document = json.loads(openapi.encode(openapi.openapi_v2(ALL)))
    validator.OpenAPIV2SpecValidator(document).validate()
    patch = document["paths"]["/apis/gitplane.io/v1alpha1/namespaces/{namespace}/manifests/{name}"][
        "patch"
    ]
    assert "application/strategic-merge-patch+json" not in patch["consumes"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Manifest"


def test_documents_are_deterministic() -> None:
    assert openapi.encode(openapi.openapi_v3(ALL)) == openapi.encode(openapi.openapi_v3(ALL))
    assert openapi.encode(openapi.openapi_v2(ALL)) == openapi.encode(openapi.openapi_v2(ALL))


# --- HTTP -------------------------------------------------------------------------------------


async def test_apis_negotiates_aggregated_or_legacy(
    client: TestClient[web.Request, web.Application],
) -> None:
    response = await client.get("/apis", headers={"Accept": AGGREGATED_ACCEPT})
    assert response.status == 200
    assert response.headers["Content-Type"] == aggregated_discovery_content_type("v2")
    assert (await response.json())["kind"] == "APIGroupDiscoveryList"

    beta = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
    response = await client.get("/apis", headers={"Accept": beta})
    assert response.headers["Content-Type"] == aggregated_discovery_content_type("v2beta1")

    response = await client.get("/apis", headers={"Accept": "application/json"})
    assert response.headers["Content-Type"].startswith("application/json")
    assert (await response.json())["kind"] == "APIGroupList"

    response = await client.get("/api", headers={"Accept": AGGREGATED_ACCEPT})
    assert (await response.json())["items"] == []
    assert (await (await client.get("/api")).json())["versions"] == []


async def test_etag_revalidation_gets_304(
    client: TestClient[web.Request, web.Application],
) -> None:
    for path, accept in (
        ("/apis", AGGREGATED_ACCEPT),
        ("/apis/gitplane.io/v1alpha1", ""),
        ("/openapi/v3", ""),
        (V3_PATH, ""),
        ("/openapi/v2", ""),
    ):
        first = await client.get(path, headers={"Accept": accept} if accept else {})
        assert first.status == 200, path
        tag = first.headers["ETag"]
        assert tag == etag(await first.read())
        again = await client.get(
            path, headers={"If-None-Match": tag, **({"Accept": accept} if accept else {})}
        )
        assert again.status == 304, path
        assert await again.read() == b""


async def test_openapi_v3_index_pins_the_document_hash(
    client: TestClient[web.Request, web.Application],
) -> None:
    index = await (await client.get("/openapi/v3")).json()
    url = index["paths"]["apis/gitplane.io/v1alpha1"]["serverRelativeURL"]
    pinned = await client.get(url)
    assert pinned.status == 200
    assert pinned.headers["Cache-Control"] == "public, immutable"
    body = await pinned.read()
    assert url.endswith(f"?hash={body_hash(body)}")
    stale = await client.get(f"{V3_PATH}?hash=0BAD", allow_redirects=False)
    assert stale.status == 301
    assert stale.headers["Location"] == url


async def test_openapi_v2_other_than_json_or_gnostic_protobuf_is_not_acceptable(
    client: TestClient[web.Request, web.Application],
) -> None:
    # gnostic protobuf is served too: see test_openapi_proto.py
    protobuf = "application/vnd.kubernetes.protobuf"
    response = await client.get("/openapi/v2", headers={"Accept": protobuf})
    assert response.status == 406
    assert (await response.json())["reason"] == "NotAcceptable"
    response = await client.get("/openapi/v2", headers={"Accept": f"{protobuf},application/json"})
    assert (await response.json())["swagger"] == "2.0"


# --- the real kubectl -------------------------------------------------------------------------

KUBECTL = shutil.which("kubectl") or str(Path(sys.executable).with_name("kubectl"))
needs_kubectl = pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl not installed")


@pytest.fixture(scope="session")
def discovery_ca() -> CertificateAuthority:
    return create_authority("gitplane-apiserver-test-ca")


@dataclass
class Kubectl:
    """Runs the real kubectl against one server, with its own HOME (so its own cache)."""

    kubeconfig: Path
    home: Path

    async def __call__(self, *args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            KUBECTL,
            *args,
            f"--kubeconfig={self.kubeconfig}",
            "--request-timeout=20s",
            env={"HOME": str(self.home), "PATH": "/usr/bin:/bin"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()


StartServer = Callable[[Sequence[web.RouteDef]], Awaitable[tuple[str, Kubectl]]]


@pytest.fixture
async def https_server(
    discovery_ca: CertificateAuthority, tmp_path: Path
) -> AsyncIterator[StartServer]:
    """A factory: serve these routes over HTTPS (client certificates required) and return
    (base URL, Kubectl bound to a kubeconfig for it). Every server is stopped at teardown."""
    runners: list[web.AppRunner] = []
    serving = issue_serving_certificate(discovery_ca, ["localhost", "127.0.0.1"])
    serving.save(tmp_path / "tls.crt", tmp_path / "tls.key")
    client = issue_client_certificate(discovery_ca, "admin", ["system:masters"])

    async def start(routes: Sequence[web.RouteDef]) -> tuple[str, Kubectl]:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=discovery_ca.cert_pem.decode())
        app = web.Application()
        app.add_routes(routes)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
        url = f"https://127.0.0.1:{runner.addresses[0][1]}"
        home = tmp_path / f"home{len(runners)}"
        home.mkdir()
        kubeconfig = home / "kubeconfig"
        write_kubeconfig(
            kubeconfig,
            build_kubeconfig(url, discovery_ca.cert_pem, client.cert_pem, client.key_pem),
        )
        return url, Kubectl(kubeconfig, home)

    try:
        yield start
    finally:
        for runner in runners:
            await runner.cleanup()


def _api_resources_rows(out: str) -> dict[str, list[str]]:
    lines = out.strip().splitlines()
    header = lines[0].split()
    assert header == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"], header
    rows: dict[str, list[str]] = {}
    for line in lines[1:]:
        cells = line.split()
        if len(cells) == 4:  # no short names
            cells.insert(1, "")
        rows[cells[0]] = cells
    return rows


@needs_kubectl
@pytest.mark.parametrize("aggregated", [True, False], ids=["aggregated", "legacy"])
async def test_kubectl_api_resources_lists_every_kind(
    https_server: StartServer, aggregated: bool
) -> None:
    _, kubectl = await https_server(_routes(aggregated=aggregated))
    code, out, err = await kubectl("api-resources", "--api-group=gitplane.io")
    assert code == 0, err
    rows = _api_resources_rows(out)
    assert set(rows) == {info.plural for info in ALL}
    for info in ALL:
        _, short, api_version, namespaced, kind = rows[info.plural]
        assert short == ",".join(info.short_names)
        assert api_version == GROUP_VERSION
        assert namespaced == str(info.namespaced).lower()
        assert kind == info.kind
    assert "couldn't get" not in err and "unable to retrieve" not in err, err


@needs_kubectl
async def test_kubectl_api_versions_and_categories(https_server: StartServer) -> None:
    _, kubectl = await https_server(_routes())
    code, out, err = await kubectl("api-versions")
    assert code == 0, err
    assert "gitplane.io/v1alpha1" in out.split()
    code, out, err = await kubectl("api-resources", "--categories=gitplane", "-o", "name")
    assert code == 0, err
    assert sorted(out.split()) == sorted(f"{i.plural}.gitplane.io" for i in ALL)
    code, out, err = await kubectl("version", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["serverVersion"]["gitVersion"] == "v1.37.0+gitplane.0.1.0"


@needs_kubectl
async def test_kubectl_explain_reads_the_v3_document(https_server: StartServer) -> None:
    _, kubectl = await https_server(_routes())
    code, out, err = await kubectl("explain", "manifests.spec")
    assert code == 0, err
    assert "GROUP:      gitplane.io" in out
    assert "KIND:       Manifest" in out
    assert "Desired state declared in Git." in out
    assert "object\t<Object> -required-" in out

    code, out, err = await kubectl("explain", "manifests.spec.object")
    assert code == 0, err
    assert "The Kubernetes object as declared in Git." in out

    code, out, err = await kubectl("explain", "mf.metadata.labels")
    assert code == 0, err
    assert "Map of string keys and values" in out

    code, out, err = await kubectl("explain", "revisions")
    assert code == 0, err
    assert "A commit that changed the namespace's desired state." in out
    for field in ("apiVersion", "kind", "metadata", "spec"):
        assert f"\n  {field}\t" in out, out

    code, out, err = await kubectl("explain", "clustermanifests.status.revision")
    assert code == 0, err
    assert "Last commit that changed the object." in out

    code, out, err = await kubectl("explain", "changesets.spec.put", "--recursive")
    assert code == 0, err
    assert "Objects to create or replace." in out


@needs_kubectl
async def test_kubectl_apply_chooses_merge_patch_and_server_side_field_validation(
    https_server: StartServer, tmp_path: Path
) -> None:
    """Checklist 20 and 25, decided by kubectl from our OpenAPI v3 alone: no strategic merge
    listed → merge patch; fieldValidation listed → sent, with no client-side validation."""
    declared = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 1},
    }
    applied = {
        "apiVersion": GROUP_VERSION,
        "kind": "Manifest",
        "metadata": {"name": "deployment.web", "namespace": "default"},
        "spec": {"object": declared},
    }
    stored = json.loads(json.dumps(applied))
    stored["metadata"].update(
        resourceVersion="7",
        annotations={"kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied)},
    )
    patches: list[tuple[str, dict[str, str], Any]] = []
    item = f"/apis/{GROUP_VERSION}/namespaces/default/manifests/deployment.web"

    async def get_manifest(request: web.Request) -> web.Response:
        return web.json_response(stored)

    async def patch_manifest(request: web.Request) -> web.Response:
        patches.append((request.content_type, dict(request.query), await request.json()))
        return web.json_response(stored)

    _, kubectl = await https_server(
        [*_routes(), web.get(item, get_manifest), web.patch(item, patch_manifest)]
    )
    changed = json.loads(json.dumps(applied))
    changed["spec"]["object"]["spec"]["replicas"] = 2
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(changed))
    code, out, err = await kubectl("apply", "-f", str(path))
    assert code == 0, err
    assert "manifest.gitplane.io/deployment.web configured" in out
    ((content_type, query, body),) = patches
    assert content_type == "application/merge-patch+json"
    assert query["fieldValidation"] == "Strict"
    assert query["fieldManager"] == "kubectl-client-side-apply"
    assert body["spec"] == {"object": {"spec": {"replicas": 2}}}
