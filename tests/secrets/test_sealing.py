"""Sealing a Secret as kubeseal does, checked by two decryptions that share no code with it."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from kubesealpy import SealedSecret, Unsealer  # type: ignore[import-untyped]
from kubesealpy.exceptions import DecryptionError  # type: ignore[import-untyped]

from apiserver.secrets.sealing import (
    CLUSTER_WIDE,
    NAMESPACE_WIDE,
    Scope,
    SealingError,
    encryption_label,
    scope_of,
    seal,
)
from tests.secrets.keys import KeyPair, controller_label, unseal

PASSWORD = "s3cr3t-P@ssw0rd-42"
TOKEN = b"\x00\x01binary\xfftoken"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def secret(annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/basic-auth",
        "metadata": {
            "name": "db",
            "namespace": "shop",
            "labels": {"app": "web"},
            "annotations": {
                "team": "payments",
                LAST_APPLIED: f'{{"stringData":{{"password":"{PASSWORD}"}}}}',
                **(annotations or {}),
            },
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u"}],
            "uid": "1234",
            "resourceVersion": "99",
        },
        "data": {"token": base64.b64encode(TOKEN).decode()},
        "stringData": {"password": PASSWORD},
    }


SCOPES = {
    Scope.STRICT: {},
    Scope.NAMESPACE_WIDE: {NAMESPACE_WIDE: "true"},
    Scope.CLUSTER_WIDE: {CLUSTER_WIDE: "true"},
}


def moved(sealed: dict[str, Any], namespace: str, name: str) -> dict[str, Any]:
    other = copy.deepcopy(sealed)
    other["metadata"]["namespace"] = namespace
    other["metadata"]["name"] = name
    return other


@pytest.mark.parametrize("scope", list(Scope))
def test_round_trip_with_an_independent_decryption(controller_key: KeyPair, scope: Scope) -> None:
    sealed = seal(secret(SCOPES[scope]), controller_key.private_key.public_key())
    assert unseal(controller_key.private_key, sealed) == {
        "token": TOKEN,
        "password": PASSWORD.encode(),
    }
    assert controller_label(sealed) == encryption_label("shop", "db", scope)


@pytest.mark.parametrize("scope", list(Scope))
def test_round_trip_with_kubesealpy(controller_key: KeyPair, scope: Scope) -> None:
    sealed = seal(secret(SCOPES[scope]), controller_key.private_key.public_key())
    unsealer = Unsealer.from_private_key(controller_key.private_key)
    # kubesealpy takes the scope from the SealedSecret's own annotations, like the controller.
    plain = unsealer.unseal(SealedSecret.model_validate(sealed))
    assert base64.b64decode(plain.data["token"]) == TOKEN
    assert base64.b64decode(plain.data["password"]) == PASSWORD.encode()
    assert plain.type == "kubernetes.io/basic-auth"
    assert plain.metadata.labels == {"app": "web"}


@pytest.mark.parametrize(
    ("scope", "namespace", "name", "opens"),
    [
        (Scope.STRICT, "shop", "other", False),
        (Scope.STRICT, "elsewhere", "db", False),
        (Scope.NAMESPACE_WIDE, "shop", "other", True),
        (Scope.NAMESPACE_WIDE, "elsewhere", "db", False),
        (Scope.CLUSTER_WIDE, "elsewhere", "other", True),
    ],
)
def test_a_moved_value_opens_only_where_its_scope_allows(
    controller_key: KeyPair, scope: Scope, namespace: str, name: str, opens: bool
) -> None:
    sealed = moved(
        seal(secret(SCOPES[scope]), controller_key.private_key.public_key()), namespace, name
    )
    unsealer = Unsealer.from_private_key(controller_key.private_key)
    if opens:
        assert unseal(controller_key.private_key, sealed)["password"] == PASSWORD.encode()
        unsealer.unseal(SealedSecret.model_validate(sealed))
    else:
        with pytest.raises(ValueError):  # OAEP refuses the wrong label
            unseal(controller_key.private_key, sealed)
        with pytest.raises(DecryptionError):
            unsealer.unseal(SealedSecret.model_validate(sealed))


def test_a_tampered_value_is_refused(controller_key: KeyPair) -> None:
    sealed = seal(secret(), controller_key.private_key.public_key())
    raw = bytearray(base64.b64decode(sealed["spec"]["encryptedData"]["password"]))
    raw[-1] ^= 1
    sealed["spec"]["encryptedData"]["password"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(InvalidTag):
        unseal(controller_key.private_key, sealed)


def test_the_sealed_secret_is_shaped_as_kubeseal_makes_it(controller_key: KeyPair) -> None:
    sealed = seal(secret(SCOPES[Scope.NAMESPACE_WIDE]), controller_key.private_key.public_key())
    assert sealed["apiVersion"] == "bitnami.com/v1alpha1"
    assert sealed["kind"] == "SealedSecret"
    assert sealed["metadata"] == {
        "name": "db",
        "namespace": "shop",
        "annotations": {NAMESPACE_WIDE: "true"},
    }
    template = sealed["spec"]["template"]
    assert template["type"] == "kubernetes.io/basic-auth"
    assert template["metadata"] == {
        "name": "db",
        "namespace": "shop",
        "labels": {"app": "web"},
        "annotations": {"team": "payments", NAMESPACE_WIDE: "true"},
    }
    assert sorted(sealed["spec"]["encryptedData"]) == ["password", "token"]
    text = repr(sealed)
    assert PASSWORD not in text
    assert base64.b64encode(PASSWORD.encode()).decode() not in text


def test_each_value_gets_its_own_session_key(controller_key: KeyPair) -> None:
    twice = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a", "namespace": "n"}}
    twice["stringData"] = {"one": "same", "two": "same"}
    sealed = seal(twice, controller_key.private_key.public_key())
    values = sealed["spec"]["encryptedData"]
    assert values["one"] != values["two"]
    again = seal(twice, controller_key.private_key.public_key())
    assert again["spec"]["encryptedData"]["one"] != values["one"]


def test_the_namespace_submitted_to_is_used_when_the_secret_names_none(
    controller_key: KeyPair,
) -> None:
    bare = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}}
    bare["stringData"] = {"password": PASSWORD}
    sealed = seal(bare, controller_key.private_key.public_key(), "shop")
    assert sealed["metadata"]["namespace"] == "shop"
    assert sealed["spec"]["template"]["metadata"]["namespace"] == "shop"
    assert unseal(controller_key.private_key, sealed) == {"password": PASSWORD.encode()}


def test_scope_needs_exactly_true() -> None:
    assert scope_of({"annotations": {CLUSTER_WIDE: "True"}}) is Scope.STRICT
    assert scope_of({"annotations": {NAMESPACE_WIDE: "yes"}}) is Scope.STRICT
    both = {"annotations": {CLUSTER_WIDE: "true", NAMESPACE_WIDE: "true"}}
    assert scope_of(both) is Scope.CLUSTER_WIDE


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"data": {"token": "not base64!"}}, "data[token]"),
        ({"stringData": {"port": 5432}}, "stringData[port]"),
        ({"metadata": {"name": "db"}}, "metadata.namespace"),
    ],
)
def test_what_cannot_be_sealed_is_named_without_its_value(
    controller_key: KeyPair, change: dict[str, Any], field: str
) -> None:
    broken = {**secret(), **change}
    with pytest.raises(SealingError) as caught:
        seal(broken, controller_key.private_key.public_key())
    assert caught.value.field == field
    assert "not base64!" not in str(caught.value)
    assert "5432" not in str(caught.value)
