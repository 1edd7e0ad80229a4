"""Every way a Secret value was once carried into Git by gitplane itself, with sealing
configured, through the real API server and kubectl: each is refused with a 422 that
names the field, nothing is committed, and the value is nowhere in the repository."""

from __future__ import annotations

import base64
import json
import subprocess
import textwrap
from typing import Any

import pytest
import yaml

from apiserver.secrets.sealing import seal
from store.errors import Invalid
from store.model import Put, Requester
from store.repo import GitStore
from tests.apiserver.harness import Server
from tests.secrets.keys import KeyPair

VALUE = "Pl41nT3xt-V4lu3"
B64 = base64.b64encode(VALUE.encode()).decode()
ALICE = Requester("alice", ("devs",))


def manifest(obj: dict[str, Any], name: str | None = None) -> str:
    kind = str(obj.get("kind", "")).lower()
    meta = obj.get("metadata") or {}
    return yaml.safe_dump(
        {
            "apiVersion": "gitplane.io/v1alpha1",
            "kind": "Manifest",
            "metadata": {"name": name or f"{kind}.{meta.get('name', 'x')}", "namespace": "shop"},
            "spec": {"object": obj},
        }
    )


def secret(**fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop"},
        **fields,
    }


def forged_sealed_value() -> str:
    """Base64 of the plaintext shaped to pass a structure check: a 1-byte 'RSA part'."""
    return base64.b64encode(b"\x00\x01x" + VALUE.encode() + b"\x00" * 16).decode()


def padded_sealed_value() -> str:
    """The plaintext after a 512-byte run of one byte: the right size, not random."""
    return base64.b64encode(b"\x02\x00" + b"A" * 512 + VALUE.encode() + b"\x00" * 16).decode()


def sealed_secret(controller_key: KeyPair, **changes: Any) -> dict[str, Any]:
    sealed = seal(secret(stringData={"pw": "real"}), controller_key.private_key.public_key())
    spec = {**sealed["spec"], **changes.pop("spec", {})}
    return {**sealed, **changes, "spec": spec}


def external_secret(template: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {
            "secretStoreRef": {"name": "vault", "kind": "ClusterSecretStore"},
            "data": [{"secretKey": "pw", "remoteRef": {"key": "db/pw"}}],
            "target": {"template": template},
        },
    }


def in_a_list(*objects: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": list(objects)}


def cases(controller_key: KeyPair) -> dict[str, tuple[str, str]]:
    """name -> (the declared object as a Manifest, the field the 422 must name)."""
    copy = json.dumps(secret(stringData={"pw": VALUE}))
    return {
        "a Secret in a List": (
            manifest(in_a_list(secret(stringData={"pw": VALUE})), "list.things"),
            "spec.object.kind",
        ),
        "SealedSecret stringData": (
            manifest(sealed_secret(controller_key, stringData={"pw": VALUE})),
            "spec.object.stringData[pw]",
        ),
        "SealedSecret data": (
            manifest(sealed_secret(controller_key, data={"pw": B64})),
            "spec.object.data[pw]",
        ),
        "SealedSecret template data": (
            manifest(
                sealed_secret(
                    controller_key,
                    spec={"template": {"metadata": {"name": "db"}, "data": {"pw": VALUE}}},
                )
            ),
            "spec.object.spec.template.data[pw]",
        ),
        "SealedSecret forged encryptedData": (
            manifest(
                sealed_secret(controller_key, spec={"encryptedData": {"pw": forged_sealed_value()}})
            ),
            "spec.object.spec.encryptedData[pw]",
        ),
        "SealedSecret padded encryptedData": (
            manifest(
                sealed_secret(controller_key, spec={"encryptedData": {"pw": padded_sealed_value()}})
            ),
            "spec.object.spec.encryptedData[pw]",
        ),
        "kind: secret": (
            manifest({**secret(stringData={"pw": VALUE}), "kind": "secret"}, "secret.db"),
            "spec.object.kind",
        ),
        "apiVersion: core/v1": (
            manifest({**secret(stringData={"pw": VALUE}), "apiVersion": "core/v1"}),
            "spec.object.apiVersion",
        ),
        "apiVersion: v1beta1": (
            manifest({**secret(stringData={"pw": VALUE}), "apiVersion": "v1beta1"}),
            "spec.object.apiVersion",
        ),
        "a Secret's own annotation": (
            manifest(
                {
                    **secret(stringData={"pw": "sealed-anyway"}),
                    "metadata": {"name": "db", "namespace": "shop", "annotations": {"note": VALUE}},
                }
            ),
            "spec.object.metadata.annotations[note]",
        ),
        "ExternalSecret template literal": (
            manifest(external_secret({"data": {"pw": VALUE}})),
            "spec.object.spec.target.template.data[pw]",
        ),
        "ExternalSecret templateFrom literal": (
            manifest(external_secret({"templateFrom": [{"literal": VALUE}]})),
            "spec.object.spec.target.template.templateFrom[0].literal",
        ),
        "a Secret nested in another object": (
            manifest(
                {
                    "apiVersion": "gitplane.io/v1alpha1",
                    "kind": "Manifest",
                    "metadata": {"name": "secret.db", "namespace": "shop"},
                    "spec": {"object": secret(stringData={"pw": VALUE})},
                }
            ),
            "spec.object.spec.object.stringData[pw]",
        ),
        "a ConfigMap's copy of a Secret": (
            manifest(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {
                        "name": "c",
                        "namespace": "shop",
                        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": copy},
                    },
                }
            ),
            "spec.object.metadata.annotations[kubectl.kubernetes.io/last-applied-configuration]",
        ),
        "a Secret field Kubernetes does not have": (
            manifest(secret(Data={"pw": B64})),
            "spec.object",  # Data: an unknown field (the schema), never stored as it is
        ),
    }


def assert_nowhere_in_git(api: Server) -> None:
    """Not in any commit, and not in any object at all (a dangling blob counts)."""
    objects = subprocess.run(
        ["git", "-C", str(api.repo), "cat-file", "--batch-all-objects", "--batch"],
        check=True,
        capture_output=True,
    ).stdout
    assert VALUE.encode() not in objects
    assert B64.encode() not in objects


@pytest.mark.parametrize(
    "case",
    [
        "a Secret in a List",
        "SealedSecret stringData",
        "SealedSecret data",
        "SealedSecret template data",
        "SealedSecret forged encryptedData",
        "SealedSecret padded encryptedData",
        "kind: secret",
        "apiVersion: core/v1",
        "apiVersion: v1beta1",
        "a Secret's own annotation",
        "ExternalSecret template literal",
        "ExternalSecret templateFrom literal",
        "a Secret nested in another object",
        "a ConfigMap's copy of a Secret",
        "a Secret field Kubernetes does not have",
    ],
)
async def test_a_manifest_carrying_a_value_is_refused(
    sealing_api: Server, controller_key: KeyPair, case: str
) -> None:
    text, field = cases(controller_key)[case]
    api = sealing_api
    before = api.git("rev-parse", "HEAD") if api.git("branch", "--list") else ""
    result = await api.kubectl("apply", "-f", "-", stdin=text)
    assert result.code != 0
    assert "is invalid" in result.err, result.err
    assert field in result.err, result.err
    assert VALUE not in result.err + result.out
    after = api.git("rev-parse", "HEAD") if api.git("branch", "--list") else ""
    assert after == before
    assert_nowhere_in_git(api)


async def test_a_changeset_put_of_a_list_is_refused_and_echoes_nothing(sealing_api: Server) -> None:
    api = sealing_api
    changeset = textwrap.dedent(f"""\
        apiVersion: gitplane.io/v1alpha1
        kind: ChangeSet
        metadata: {{name: leak, namespace: shop}}
        spec:
          put:
          - apiVersion: v1
            kind: List
            items:
            - apiVersion: v1
              kind: Secret
              metadata: {{name: db, namespace: shop}}
              stringData: {{pw: {VALUE}}}
        """)
    result = await api.kubectl("create", "-f", "-", "-o", "json", stdin=changeset)
    assert result.code != 0
    assert "spec.put[0].kind" in result.err, result.err
    assert VALUE not in result.err + result.out
    assert_nowhere_in_git(api)


async def test_a_merge_patch_adding_string_data_to_a_sealed_secret_is_refused(
    sealing_api: Server, controller_key: KeyPair
) -> None:
    api = sealing_api
    await api.ok("apply", "-f", "-", stdin=manifest(sealed_secret(controller_key)))
    head = api.git("rev-parse", "HEAD")
    patch = json.dumps({"spec": {"object": {"stringData": {"pw": VALUE}}}})
    result = await api.kubectl(
        "patch", "mf", "sealedsecret.db", "-n", "shop", "--type", "merge", "-p", patch
    )
    assert result.code != 0
    assert "spec.object.stringData[pw]" in result.err, result.err
    assert api.git("rev-parse", "HEAD") == head
    assert_nowhere_in_git(api)


def test_the_store_checks_the_bytes_it_commits_not_the_object_it_was_given(
    tmp_path: Any,
) -> None:
    """A Put restoring exact text (revert, rollback) is checked as that text: a Secret whose
    value hides behind a duplicate key, or one a merge key makes a Secret, never lands."""
    store = GitStore.init(tmp_path / "repo")
    harmless = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    duplicate = f"apiVersion: v1\nkind: Secret\nmetadata: {{name: c}}\nstringData: {{pw: {VALUE}}}\nstringData: {{}}\n"
    merged = f"<<: {{apiVersion: v1, kind: Secret}}\nmetadata: {{name: c}}\nstringData: {{pw: {VALUE}}}\n"
    for text in (duplicate, merged):
        with pytest.raises(Invalid) as caught:
            store.apply([Put(harmless, "shop", "create", text=text)], ALICE)
        assert VALUE not in str(caught.value)
    assert store.refresh().commit_id is None
