"""The policy the strategies apply to each submitted object, and the reference checks."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from apiserver.secrets.certificate import FileCertificate
from apiserver.secrets.policy import HOW_TO_SEAL, SecretPolicy, secret_safe
from apiserver.secrets.sealing import seal
from apiserver.validation import object_validator
from kube import status
from tests.secrets.keys import KeyPair, unseal

PASSWORD = "correct-horse-battery"
SOPS_VALUE = "ENC[AES256_GCM,data:Zm9vYmFy,iv:aXZpdml2aXZpdml2,tag:dGFndGFndGFn,type:str]"


def plain() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "stringData": {"password": PASSWORD},
    }


def external(api_version: str = "external-secrets.io/v1", **spec: Any) -> dict[str, Any]:
    base = {
        "secretStoreRef": {"name": "vault", "kind": "ClusterSecretStore"},
        "data": [{"secretKey": "password", "remoteRef": {"key": "db/password"}}],
    }
    return {
        "apiVersion": api_version,
        "kind": "ExternalSecret",
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {**base, **spec},
    }


def invalid(obj: dict[str, Any], policy: SecretPolicy | None = None) -> list[str]:
    with pytest.raises(status.Invalid) as caught:
        (policy or SecretPolicy())(obj, "spec.object", "shop")
    text = str(caught.value) + repr(caught.value.status())
    assert PASSWORD not in text
    return [f"{e.field}: {e.body()}" for e in caught.value.errors]


def test_without_sealing_a_plain_secret_is_invalid_with_the_how_to() -> None:
    errors = invalid(plain())
    assert errors == [f"spec.object.stringData: Forbidden: {HOW_TO_SEAL}"]
    assert "--sealing-cert" in HOW_TO_SEAL
    assert "SealedSecret" in HOW_TO_SEAL
    assert "ExternalSecret" in HOW_TO_SEAL


def test_with_sealing_a_plain_secret_becomes_a_sealed_secret(
    controller_key: KeyPair, tmp_path: Any
) -> None:
    policy = SecretPolicy(FileCertificate(controller_key.write(tmp_path / "cert.pem")))
    sealed = policy(plain(), "spec.object", "shop")
    assert sealed["kind"] == "SealedSecret"
    assert sealed["metadata"] == {"name": "db", "namespace": "shop"}
    assert unseal(controller_key.private_key, sealed) == {"password": PASSWORD.encode()}
    with pytest.raises(status.Invalid) as caught:
        policy({**plain(), "data": {"x": "%%%"}}, "spec.put[0]", "shop")
    assert [e.field for e in caught.value.errors] == ["spec.put[0].data[x]"]


def test_objects_without_values_pass_unchanged() -> None:
    policy = SecretPolicy()
    token = {**plain(), "type": "kubernetes.io/service-account-token"}
    del token["stringData"]
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}
    for obj in (token, cm):
        assert policy(obj, "spec.object", "shop") is obj


def test_sealed_secrets_are_kept_when_well_formed(controller_key: KeyPair) -> None:
    sealed = seal(plain(), controller_key.private_key.public_key(), "shop")
    assert SecretPolicy()(sealed, "spec.object", "shop") is sealed
    broken = {**sealed, "spec": {"encryptedData": {"password": "bm90IHNlYWxlZA==", "b@d": "x"}}}
    assert invalid(broken) == [
        "spec.object.spec.encryptedData[password]: Invalid value: must be a value sealed by"
        " kubeseal: standard base64 of a 2-byte length equal to the RSA key size, the RSA"
        " ciphertext and the AES-GCM ciphertext",
        'spec.object.spec.encryptedData[b@d]: Invalid value: "b@d": a valid config key must'
        " consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME', "
        " or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
        "spec.object.spec.encryptedData[b@d]: Invalid value: must be a value sealed by kubeseal:"
        " standard base64 of a 2-byte length equal to the RSA key size, the RSA ciphertext and"
        " the AES-GCM ciphertext",
    ]
    assert invalid({**sealed, "spec": {}}) == [
        "spec.object.spec.encryptedData: Required value: the sealed values, by key"
    ]
    legacy = {**sealed, "spec": {"data": "AAAA"}}
    assert [e.split(":")[0] for e in invalid(legacy)] == ["spec.object.spec.data"]


@pytest.mark.parametrize("version", ["external-secrets.io/v1", "external-secrets.io/v1beta1"])
def test_external_secrets_are_kept_when_valid(version: str) -> None:
    obj = external(version)
    assert SecretPolicy()(obj, "spec.object", "shop") is obj
    from_only = external(version, data=None, dataFrom=[{"extract": {"key": "db"}}])
    assert SecretPolicy()(from_only, "spec.object", "shop") is from_only


def test_external_secret_errors_are_all_reported() -> None:
    obj = external(
        secretStoreRef={"kind": "Vault"},
        data=[
            {"secretKey": "password", "remoteRef": {"key": "a"}},
            {"secretKey": "password", "remoteRef": {"key": "b"}},
            {"secretKey": "../etc", "remoteRef": {}},
        ],
        dataFrom=[{"rewrite": []}],
    )
    fields = [e.split(": ")[0] for e in invalid(obj)]
    assert fields == [
        "spec.object.spec.secretStoreRef.name",
        "spec.object.spec.secretStoreRef.kind",
        "spec.object.spec.data[1].secretKey",
        "spec.object.spec.data[2].secretKey",
        "spec.object.spec.data[2].secretKey",
        "spec.object.spec.data[2].remoteRef.key",
        "spec.object.spec.dataFrom[0]",
    ]
    nothing = external(data=[], dataFrom=None)
    assert invalid(nothing) == [
        "spec.object.spec.data: Required value: an ExternalSecret must set data or dataFrom"
    ]
    assert invalid(external(secretStoreRef=None))[0].startswith(
        "spec.object.spec.secretStoreRef: Required value"
    )


def test_sops_secrets_are_kept_never_decrypted() -> None:
    sops = {"mac": SOPS_VALUE, "version": "3.9.0"}
    obj = {**plain(), "stringData": {"password": SOPS_VALUE}, "sops": sops}
    assert SecretPolicy()(obj, "spec.object", "shop") is obj
    half = {**obj, "data": {"token": base64.b64encode(PASSWORD.encode()).decode()}}
    assert [e.split(":")[0] for e in invalid(half)] == ["spec.object.data[token]"]
    no_mac = {**obj, "sops": {"version": "3.9.0"}}
    assert invalid(no_mac) == [
        "spec.object.sops.mac: Required value: SOPS metadata must carry the document's mac"
    ]


def test_schema_errors_never_quote_a_secret_value() -> None:
    validate = secret_safe(object_validator("Strict"))
    bad = {**plain(), "stringData": {"password": 12345}, "data": {"token": PASSWORD}}
    errors = validate(bad, "spec.object")
    assert errors, "the schema should find these values invalid"
    text = " ".join(str(e) for e in errors)
    assert PASSWORD not in text
    assert "12345" not in text
    unguarded = object_validator("Strict")(bad, "spec.object")
    assert "12345" in " ".join(str(e) for e in unguarded)  # what the guard is for
    assert [e.field for e in unguarded] == [e.field for e in errors]
