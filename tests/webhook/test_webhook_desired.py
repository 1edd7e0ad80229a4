"""InMemoryDesiredState: identity of declared objects and managed namespaces."""

from __future__ import annotations

import pytest
from webhook_reviews import git_deployment, namespace

from webhook.desired import InMemoryDesiredState, group_of


def test_group_of_api_version() -> None:
    assert (group_of("apps/v1"), group_of("v1"), group_of("gitplane.io/v1alpha1")) == (
        "apps",
        "",
        "gitplane.io",
    )


def test_a_namespace_is_managed_while_git_declares_something_in_it() -> None:
    state = InMemoryDesiredState()
    assert not state.is_managed("team-a")
    state.put(git_deployment(), "apps/web.yaml", "abc1234")
    state.put(git_deployment(), "apps/web.yaml", "def5678")  # same object, new revision
    assert state.is_managed("team-a")
    found = state.declared("apps", "Deployment", "team-a", "web")
    assert found is not None
    assert (found.path, found.revision) == ("apps/web.yaml", "def5678")
    state.remove(git_deployment())
    assert not state.is_managed("team-a")
    assert state.declared("apps", "Deployment", "team-a", "web") is None


def test_a_declared_namespace_is_managed_even_when_empty_and_carries_the_mode() -> None:
    state = InMemoryDesiredState()
    state.put(namespace("team-b", "warn"), "namespaces/team-b.yaml", "abc1234")
    assert state.is_managed("team-b")
    assert state.namespace_mode("team-b") == "warn"
    assert state.declared("", "Namespace", "", "team-b") is not None
    assert state.namespace_mode("team-c") is None


def test_cluster_scoped_objects_do_not_make_a_namespace_managed() -> None:
    state = InMemoryDesiredState()
    state.put(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "viewer"},
        },
        "rbac/viewer.yaml",
        "abc1234",
    )
    assert not state.is_managed("")
    assert state.declared("rbac.authorization.k8s.io", "ClusterRole", "", "viewer") is not None


def test_objects_without_identity_are_refused() -> None:
    with pytest.raises(ValueError, match=r"apiVersion, kind and metadata\.name"):
        InMemoryDesiredState().put({"kind": "ConfigMap", "metadata": {}}, "x.yaml", "abc1234")
