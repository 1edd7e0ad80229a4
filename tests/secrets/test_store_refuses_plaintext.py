"""The store's own rule: no plaintext Secret value is committed, whoever asks."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from store.errors import Invalid
from store.history import History
from store.model import Delete, Put, Requester
from store.repo import GitStore
from store.secrets import plaintext_fields, plaintext_secret_problems
from tests.store.conftest import run_git

ALICE = Requester("alice")
PASSWORD = "hunter2-plaintext"
SOPS_VALUE = "ENC[AES256_GCM,data:Zm9vYmFy,iv:aXZpdml2aXZpdml2,tag:dGFndGFndGFn,type:str]"
SOPS_META = {"mac": "ENC[AES256_GCM,data:bWFj,iv:aXY=,tag:dGFn,type:str]", "version": "3.9.0"}


def secret(**fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop"},
        **fields,
    }


def configmap() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "shop"},
        "data": {"password": PASSWORD},  # not a Secret: not this rule's business
    }


@pytest.fixture
def store(tmp_path: Path) -> GitStore:
    return GitStore.init(tmp_path / "repo")


@pytest.mark.parametrize(
    ("obj", "fields"),
    [
        (secret(stringData={"password": PASSWORD}), ["stringData[password]"]),
        (secret(data={"p": base64.b64encode(b"x").decode(), "e": ""}), ["data[p]"]),
        (secret(data={"port": 5432}), ["data[port]"]),
        (secret(data="opaque blob"), ["data"]),
        (secret(type="kubernetes.io/service-account-token"), []),
        (secret(data={}, stringData={"empty": ""}), []),
        (secret(sops=SOPS_META, data={"p": SOPS_VALUE}), []),
        (secret(sops=SOPS_META, data={"p": SOPS_VALUE, "q": PASSWORD}), ["data[q]"]),
        (secret(sops={"version": "3.9.0"}, data={"p": SOPS_VALUE}), ["data[p]"]),
        (secret(data={"p": SOPS_VALUE}), ["data[p]"]),  # ENC values without sops metadata
        (configmap(), []),
        ({**secret(stringData={"p": "x"}), "apiVersion": "example.com/v1"}, []),
    ],
)
def test_what_counts_as_plaintext(obj: dict[str, Any], fields: list[str]) -> None:
    assert plaintext_fields(obj) == fields
    causes = plaintext_secret_problems(obj)
    assert [c.field for c in causes] == fields
    assert all(PASSWORD not in c.message for c in causes)


def test_the_store_refuses_a_plaintext_secret_and_commits_nothing(store: GitStore) -> None:
    store.create(configmap(), ALICE)
    tip = store.head.commit_id
    with pytest.raises(Invalid) as caught:
        store.apply(
            [
                Put(configmap() | {"data": {"k": "v"}}),
                Put(secret(stringData={"password": PASSWORD})),
            ],
            ALICE,
        )
    assert [c.field for c in caught.value.causes] == ["stringData[password]"]
    assert caught.value.causes[0].type == "FieldValueForbidden"
    assert PASSWORD not in caught.value.message
    assert "SealedSecret" in caught.value.message
    assert store.refresh().commit_id == tip
    with pytest.raises(Invalid):  # a dry run is refused the same way
        store.create(secret(data={"p": base64.b64encode(b"x").decode()}), ALICE, dry_run=True)


def test_sops_secrets_and_value_less_secrets_are_stored(store: GitStore) -> None:
    store.create(secret(sops=SOPS_META, stringData={"password": SOPS_VALUE}), ALICE)
    store.create(
        secret(type="kubernetes.io/service-account-token")
        | {"metadata": {"name": "t", "namespace": "shop"}},
        ALICE,
    )
    assert len(store.list_objects("shop").items) == 2


def test_a_plaintext_secret_pushed_from_outside_can_be_deleted_not_restored(
    store: GitStore, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    (repo / "shop").mkdir()
    (repo / "shop" / "secret-db.yaml").write_text(
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\n"
        f"stringData:\n  password: {PASSWORD}\n"
    )
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-qm", "leak")
    added = run_git(repo, "rev-parse", "HEAD").strip()
    store.refresh()
    [stored] = store.list_objects("shop").items
    store.apply([Delete(stored.key)], ALICE)
    with pytest.raises(Invalid):  # undoing the delete would write the value again
        History(store).rollback(added, "shop", ALICE)
