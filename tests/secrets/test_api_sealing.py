"""Plain Secrets through the real API server and kubectl: sealed, or refused; never in Git."""

from __future__ import annotations

import base64
import json
import textwrap
from typing import Any

import pytest
from kubesealpy import SealedSecret, Unsealer  # type: ignore[import-untyped]

from tests.apiserver.harness import Server
from tests.secrets.keys import KeyPair, controller_label, unseal
from tests.store.conftest import run_git

PASSWORD = "Sup3r-Secret-Passw0rd"
TOKEN = b"raw-token-bytes-\x01\x02"
API_KEY = "api-key-in-a-changeset"
TOKEN_B64 = base64.b64encode(TOKEN).decode()
VALUES = (PASSWORD, API_KEY, "raw-token-bytes")
ENCODED = (
    base64.b64encode(PASSWORD.encode()).decode(),
    base64.b64encode(API_KEY.encode()).decode(),
    TOKEN_B64,
)

MANIFEST = textwrap.dedent(f"""\
    apiVersion: gitplane.io/v1alpha1
    kind: Manifest
    metadata: {{name: secret.db, namespace: shop}}
    spec:
      object:
        apiVersion: v1
        kind: Secret
        type: Opaque
        metadata:
          name: db
          namespace: shop
          labels: {{app: web}}
          annotations: {{argocd.argoproj.io/sync-wave: "1"}}
        data: {{token: "{TOKEN_B64}"}}
        stringData: {{password: "{PASSWORD}"}}
    """)


def changeset(name: str, scope: str) -> str:
    annotation = f"sealedsecrets.bitnami.com/{scope}"
    return textwrap.dedent(f"""\
        apiVersion: gitplane.io/v1alpha1
        kind: ChangeSet
        metadata: {{name: {name}, namespace: shop}}
        spec:
          message: add the {scope} API key
          put:
          - apiVersion: v1
            kind: Secret
            metadata:
              name: api-{scope}
              annotations: {{{annotation}: "true"}}
            stringData: {{key: "{API_KEY}"}}
          - apiVersion: v1
            kind: ConfigMap
            metadata: {{name: settings-{scope}}}
            data: {{mode: production}}
        """)


def assert_never_in(text: str) -> None:
    for value in VALUES + ENCODED:
        assert value not in text, "a Secret value leaked"


def whole_history(api: Server) -> str:
    return api.git("log", "-p", "--all", "--format=%H%n%B")


def stored_sealed(api: Server, name: str) -> dict[str, Any]:
    api.store.refresh()
    for item in api.store.list_objects("shop").items:
        if item.key.kind == "SealedSecret" and item.key.name == name:
            return item.obj
    raise AssertionError(f"no SealedSecret {name} stored")


async def test_a_plain_secret_manifest_is_stored_sealed(
    sealing_api: Server, controller_key: KeyPair
) -> None:
    api = sealing_api
    applied = await api.ok("apply", "-f", "-", "-o", "json", stdin=MANIFEST)
    answer = applied.json()
    assert answer["metadata"]["name"] == "sealedsecret.db"
    assert answer["spec"]["object"]["kind"] == "SealedSecret"
    assert_never_in(applied.out + applied.err)
    got = await api.ok("get", "mf", "sealedsecret.db", "-n", "shop", "-o", "yaml")
    assert_never_in(got.out)
    sealed = stored_sealed(api, "db")
    assert sealed["spec"]["template"] == {
        "metadata": {
            "name": "db",
            "namespace": "shop",
            "labels": {"app": "web"},
            "annotations": {"argocd.argoproj.io/sync-wave": "1"},
        },
        "type": "Opaque",
    }
    assert unseal(controller_key.private_key, sealed) == {
        "token": TOKEN,
        "password": PASSWORD.encode(),
    }
    assert [p for p in api.git("ls-files").split() if "secret" in p] == [
        "shop/sealedsecret-db.yaml"
    ]
    assert_never_in(whole_history(api))
    rotated = MANIFEST.replace(PASSWORD, "Rotated-Passw0rd")
    again = await api.ok("apply", "-f", "-", "-o", "json", stdin=rotated)  # sealed again
    assert again.json()["metadata"]["name"] == "sealedsecret.db"
    assert unseal(controller_key.private_key, stored_sealed(api, "db"))["password"] == (
        b"Rotated-Passw0rd"
    )
    assert "Rotated-Passw0rd" not in whole_history(api)


async def test_every_scope_through_a_changeset(
    sealing_api: Server, controller_key: KeyPair
) -> None:
    api = sealing_api
    unsealer = Unsealer.from_private_key(controller_key.private_key)
    for index, scope in enumerate(("strict", "namespace-wide", "cluster-wide")):
        made = await api.ok("create", "-f", "-", "-o", "json", stdin=changeset(f"c{index}", scope))
        assert_never_in(made.out + made.err)
        answer = made.json()
        assert [p["kind"] for p in answer["spec"]["put"]] == ["SealedSecret", "ConfigMap"]
        sealed = stored_sealed(api, f"api-{scope}")
        expected = {"strict": b"shop/api-strict", "namespace-wide": b"shop", "cluster-wide": b""}
        assert controller_label(sealed) == expected[scope]
        assert unseal(controller_key.private_key, sealed) == {"key": API_KEY.encode()}
        opened = unsealer.unseal(SealedSecret.model_validate(sealed))
        assert base64.b64decode(opened.data["key"]) == API_KEY.encode()
        annotations = sealed["spec"]["template"]["metadata"]["annotations"]
        assert annotations == {f"sealedsecrets.bitnami.com/{scope}": "true"}
    strict = stored_sealed(api, "api-strict")
    strict["metadata"]["name"] = "api-copied"  # moved by hand: the controller cannot open it
    with pytest.raises(ValueError):
        unseal(controller_key.private_key, strict)
    assert_never_in(whole_history(api))


async def test_a_plain_secret_without_sealing_is_invalid_and_nothing_is_committed(
    plain_api: Server,
) -> None:
    api = plain_api
    refused = await api.kubectl("apply", "-f", "-", stdin=MANIFEST)
    assert refused.code == 1
    assert 'The Manifest "secret.db" is invalid' in refused.err
    assert "spec.object.data: Forbidden: a plain Secret is never written to Git" in refused.err
    assert "--sealing-cert" in refused.err
    assert "SealedSecret" in refused.err and "ExternalSecret" in refused.err
    assert_never_in(refused.err + refused.out)
    again = await api.kubectl("create", "-f", "-", stdin=changeset("c", "strict"))
    assert again.code == 1
    assert "spec.put[0].stringData: Forbidden" in again.err
    assert_never_in(again.err + again.out)
    assert api.store.refresh().commit_id is None


async def test_a_direct_422_body_names_fields_never_values(plain_api: Server) -> None:
    api = plain_api
    body = json.dumps(
        {
            "apiVersion": "gitplane.io/v1alpha1",
            "kind": "Manifest",
            "metadata": {"name": "secret.db", "namespace": "shop"},
            "spec": {
                "object": {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": "db", "namespace": "shop"},
                    "stringData": {"password": 1234567},
                }
            },
        }
    )
    result = await api.kubectl(
        "create",
        "--raw",
        "/apis/gitplane.io/v1alpha1/namespaces/shop/manifests",
        "-f",
        "-",
        stdin=body,
    )
    assert result.code == 1
    assert "1234567" not in result.err + result.out


def commit_a_plaintext_secret_from_outside(api: Server) -> None:
    """What gitplane never writes: a person's plain Secret, with a copy of itself."""
    copied = json.dumps({"stringData": {"password": PASSWORD}})
    leak = api.repo / "shop" / "secret-db.yaml"
    leak.parent.mkdir(parents=True, exist_ok=True)
    leak.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\n"
        f"  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{copied}'\n"
        f"data:\n  token: {TOKEN_B64}\nstringData:\n  password: {PASSWORD}\n"
    )
    run_git(api.repo, "add", "-A")
    run_git(api.repo, "commit", "-qm", "pushed from outside")
    api.store.refresh()


async def test_revision_diffs_served_by_the_api_redact_secret_values(plain_api: Server) -> None:
    api = plain_api
    commit_a_plaintext_secret_from_outside(api)
    commit = api.git("rev-parse", "HEAD").strip()
    shown = await api.ok("get", "rev", commit[:12], "-n", "shop", "-o", "json")
    diff = shown.json()["spec"]["diff"]
    assert "+  password: <redacted>" in diff
    assert_never_in(shown.out)


async def test_a_plaintext_secret_from_outside_is_served_redacted(plain_api: Server) -> None:
    api = plain_api
    commit_a_plaintext_secret_from_outside(api)
    shown = await api.ok("get", "mf", "secret.db", "-n", "shop", "-o", "json")
    manifest = shown.json()
    served = manifest["spec"]["object"]
    assert served["stringData"] == {"password": "<redacted>"}
    assert served["data"] == {"token": "<redacted>"}
    last_applied = "kubectl.kubernetes.io/last-applied-configuration"
    assert served["metadata"]["annotations"][last_applied] == "<redacted>"
    assert manifest["metadata"]["annotations"]["gitplane.io/redacted"] == (
        f"data[token], stringData[password], metadata.annotations[{last_applied}]"
    )
    listed = await api.ok("get", "mf", "-n", "shop", "-o", "yaml")
    watched = await api.ok(
        "get",
        "--raw",
        "/apis/gitplane.io/v1alpha1/namespaces/shop/manifests?watch=1&timeoutSeconds=1",
    )
    for text in (shown.out, listed.out, watched.out):
        assert_never_in(text)
    assert "<redacted>" in watched.out
    assert PASSWORD in api.git("show", "HEAD:shop/secret-db.yaml")  # Git itself is untouched


async def test_a_served_placeholder_is_never_sealed_as_a_value(sealing_api: Server) -> None:
    api = sealing_api
    commit_a_plaintext_secret_from_outside(api)
    before = api.git("rev-parse", "HEAD").strip()
    served = (await api.ok("get", "mf", "secret.db", "-n", "shop", "-o", "json")).out
    refused = await api.kubectl("replace", "-f", "-", stdin=served)
    assert refused.code == 1
    assert "stringData[password]" in refused.err and "is the placeholder" in refused.err
    assert api.git("rev-parse", "HEAD").strip() == before
    assert_never_in(refused.err + refused.out)
