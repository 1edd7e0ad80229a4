"""Object names as kube-apiserver validates them, and a bad one costs others nothing.

A name that passed validation but could not be committed (a NUL in a Role's name) was
tried 64 times over 4 s as "the branch kept moving", leaving commits behind, while the
valid writes queued behind it waited.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from store.errors import Invalid
from store.repo import GitStore
from tests.store.conftest import ALICE, GitRunner, configmap, unreachable_commits

BAD_SEGMENT_NAMES = [
    "a\x00b",
    "a\x01b",
    "two\nlines",
    "tab\there",
    "a\x7fb",
    "a/b",
    "a%b",
    ".",
    "..",
]


def rbac(kind: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name},
    }
    if not kind.startswith("Cluster"):
        obj["metadata"]["namespace"] = "shop"
    if kind.endswith("Binding"):
        obj["roleRef"] = {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "view",
        }
    else:
        obj["rules"] = []
    return obj


@pytest.mark.parametrize("name", BAD_SEGMENT_NAMES)
@pytest.mark.parametrize("kind", ["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"])
def test_a_path_segment_name_with_a_control_character_or_separator_is_invalid(
    store: GitStore, git: GitRunner, kind: str, name: str
) -> None:
    store.create(configmap("first"), ALICE)
    objects = git("count-objects")
    with pytest.raises(Invalid) as refused:
        store.create(rbac(kind, name), ALICE)
    assert [c.field for c in refused.value.causes] == ["metadata.name"]
    assert git("count-objects") == objects and git("rev-list", "--count", "HEAD") == "1\n"


def test_path_segment_names_kube_apiserver_takes_are_taken(store: GitStore, git: GitRunner) -> None:
    store.create(rbac("ClusterRole", "system:aggregate-to-admin"), ALICE)
    store.create(rbac("RoleBinding", "Mixed Case:with spaces"), ALICE)
    assert git("status", "--porcelain") == ""


def test_a_bad_write_among_concurrent_ones_costs_them_nothing(
    store: GitStore, git: GitRunner, moves: list[str]
) -> None:
    store.create(configmap("first"), ALICE)
    writes = [rbac("Role", "bad\x00name") if i % 4 == 0 else configmap(f"c{i}") for i in range(13)]

    def write(obj: dict[str, Any]) -> str:
        try:
            store.create(obj, ALICE)
        except Invalid:
            return "invalid"
        return "created"

    with ThreadPoolExecutor(len(writes)) as pool:
        outcomes = list(pool.map(write, writes))
    assert outcomes.count("invalid") == 4 and outcomes.count("created") == 9
    # One compare-and-swap per commit: nothing was tried again, no commit left dangling.
    assert len(moves) == 1 + 9
    assert git("rev-list", "--count", "HEAD") == "10\n"
    assert unreachable_commits(git) == []


@pytest.mark.parametrize(
    ("kind", "name"),
    [("Service", "Web"), ("Service", "9lives"), ("Service", "a.b"), ("Namespace", "a.b")],
)
def test_services_and_namespaces_are_dns_labels(store: GitStore, kind: str, name: str) -> None:
    obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}
    if kind == "Service":
        obj["metadata"]["namespace"] = "shop"
    with pytest.raises(Invalid) as refused:
        store.create(obj, ALICE)
    assert [c.field for c in refused.value.causes] == ["metadata.name"]
