"""Revisions, namespace-restricted diffs, revert and rollback."""

from __future__ import annotations

import pytest

from store.errors import Conflict, Invalid, NotFound
from store.history import History
from store.keys import ObjectKey
from store.model import Put
from store.repo import GitStore
from tests.store.conftest import ALICE, GitRunner, configmap, deployment

WEB = ObjectKey("apps", "Deployment", "shop", "web")


def _two_tenants(store: GitStore) -> list[str]:
    """Commits: shop web (1), billing rates (2), both tenants at once (3), shop web again (4)."""
    ids = []
    ids.append(store.create(deployment(), ALICE).commit_id)
    ids.append(store.create(configmap("rates", namespace="billing", vat="0.2"), ALICE).commit_id)
    ids.append(
        store.apply(
            [Put(deployment(replicas=3)), Put(configmap("rates", namespace="billing", vat="0.25"))],
            ALICE,
            message="raise both",
        ).commit_id
    )
    ids.append(store.update(deployment(replicas=4), ALICE).commit_id)
    return [i for i in ids if i]


def test_revisions_of_a_namespace_newest_first_and_paged(store: GitStore) -> None:
    ids = _two_tenants(store)
    history = History(store)
    page = history.revisions("shop", limit=2)
    assert [r.id for r in page.items] == [ids[3], ids[2]]
    assert (
        page.items[1].changes[0].key == WEB and len(page.items[1].changes) == 1
    )  # billing's not shown
    assert page.items[0].author_name == "alice" and page.items[0].parents == (ids[2],)
    rest = history.revisions("shop", limit=2, continue_token=page.continue_token)
    assert [r.id for r in rest.items] == [ids[0]] and rest.continue_token is None
    assert [r.id for r in history.revisions(None).items] == list(reversed(ids))


def test_prefix_resolution(store: GitStore) -> None:
    ids = _two_tenants(store)
    history = History(store)
    assert history.resolve(ids[1][:7]) == ids[1]
    with pytest.raises(Invalid):
        history.resolve(ids[1][:5])
    with pytest.raises(NotFound):
        history.resolve("0000000")


def test_diff_is_restricted_to_the_namespace(store: GitStore, git: GitRunner) -> None:
    ids = _two_tenants(store)
    diff = History(store).diff(ids[2], "shop")
    assert "-  replicas: 2\n+  replicas: 3" in diff and "vat" not in diff
    assert "--- a/shop/deployment-web.yaml" in diff
    # Same hunk header as git's own diff of the file.
    git_diff = git("diff", f"{ids[2]}~1", ids[2], "--", "shop/deployment-web.yaml")
    assert [h for h in diff.splitlines() if h.startswith("@@")] == [
        h for h in git_diff.splitlines() if h.startswith("@@")
    ]


def test_revert_touches_only_the_namespace(store: GitStore, git: GitRunner) -> None:
    ids = _two_tenants(store)
    history = History(store)
    store.update(deployment(replicas=3), ALICE)  # undo commit 4 by hand so commit 3 can be reverted
    result = history.revert(ids[2], "billing", ALICE)
    assert result.commit_id is not None
    assert store.get(ObjectKey("", "ConfigMap", "billing", "rates")).obj["data"]["vat"] == "0.2"
    assert store.get(WEB).obj["spec"]["replicas"] == 3  # shop untouched
    show = git("show", "--stat", "--format=%s%n%b", "HEAD")
    assert show.startswith('Revert "raise both" in namespace billing')
    assert f"Gitplane-Reverts: {ids[2]}" in show and "billing/configmap-rates.yaml" in show
    assert "shop/" not in show.split("Gitplane-")[0].split("only.")[-1]
    assert git("show", "HEAD:billing/configmap-rates.yaml") == git(
        "show", f"{ids[1]}:billing/configmap-rates.yaml"
    )


def test_revert_conflicting_with_later_changes_changes_nothing(
    store: GitStore, git: GitRunner
) -> None:
    ids = _two_tenants(store)
    before = git("rev-parse", "HEAD")
    with pytest.raises(Conflict) as failure:
        History(store).revert(ids[2], "shop", ALICE)
    assert failure.value.objects == (str(WEB),)
    assert str(WEB) in failure.value.message
    assert git("rev-parse", "HEAD") == before


def test_revert_of_an_addition_deletes_and_of_a_deletion_restores(
    store: GitStore, git: GitRunner
) -> None:
    store.create(deployment(), ALICE)
    added = store.create(configmap("settings", a="1"), ALICE).commit_id
    assert added
    History(store).revert(added, "shop", ALICE)
    assert [o.key.kind for o in store.list_objects("shop").items] == ["Deployment"]
    text = git("show", f"{added}:shop/configmap-settings.yaml")
    reverted = git("rev-parse", "HEAD").strip()
    History(store).revert(reverted, "shop", ALICE)
    assert git("show", "HEAD:shop/configmap-settings.yaml") == text  # byte-identical restore


def test_rollback_sets_the_namespace_back(store: GitStore, git: GitRunner) -> None:
    ids = _two_tenants(store)
    store.create(configmap("later"), ALICE)
    result = History(store).rollback(ids[0], "shop", ALICE)
    assert result.commit_id
    assert {
        o.key.name: o.obj["spec"]["replicas"]
        for o in store.list_objects("shop").items
        if o.key.kind == "Deployment"
    } == {"web": 2}
    assert [o.key.name for o in store.list_objects("shop").items] == ["web"]
    assert store.get(ObjectKey("", "ConfigMap", "billing", "rates")).obj["data"]["vat"] == "0.25"
    assert git("log", "-1", "--format=%s").startswith(f"Roll back namespace shop to {ids[0][:12]}")
    again = History(store).rollback(ids[0], "shop", ALICE)
    assert again.commit_id is None  # already there


def test_past_reverts_and_rollbacks_come_from_trailers(store: GitStore) -> None:
    ids = _two_tenants(store)
    history = History(store)
    history.rollback(ids[0], "shop", ALICE)
    assert [r.trailers["Gitplane-Rollback-To"] for r in history.operations("shop", "rollback")] == [
        ids[0]
    ]
    assert history.operations("shop", "revert") == []
