"""Writes are commits: one per write, minimal diffs, typed failures, nothing half-done."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from store.errors import AlreadyExists, Conflict, Invalid, NotFound
from store.keys import ObjectKey
from store.model import Delete, Put, Requester
from store.repo import CommitIdentity, GitStore
from tests.store.conftest import ALICE, GitRunner, configmap, deployment, write_files
from tests.store.realistic_repo import FILES

WEB = ObjectKey("apps", "Deployment", "shop", "web")


def _imported(repo_path: Path, git: GitRunner) -> GitStore:
    store = GitStore.init(repo_path)
    write_files(repo_path, FILES)
    git("add", "-A")
    git("commit", "-qm", "import")
    store.refresh()
    return store


def test_create_writes_one_commit_authored_by_the_user(store: GitStore, git: GitRunner) -> None:
    result = store.create(deployment(), ALICE, message=None, request_id="req-1")
    assert result.commit_id is not None
    log = git("log", "--format=%an|%ae|%cn|%s", "-1")
    assert (
        log.strip()
        == "alice|alice@users.gitplane.invalid|gitplane|create apps/v1 Deployment shop/web"
    )
    trailers = git("log", "-1", "--format=%(trailers:only,unfold)")
    assert "Gitplane-User: alice" in trailers
    assert "Gitplane-Groups: devs, system:authenticated" in trailers
    assert "Gitplane-Request-Id: req-1" in trailers
    assert git("show", "HEAD:shop/deployment-web.yaml").startswith(
        "apiVersion: apps/v1\nkind: Deployment\n"
    )
    assert git("rev-list", "--count", "HEAD").strip() == "1"


def test_email_template_and_unsafe_usernames(repo_path: Path, git: GitRunner) -> None:
    store = GitStore.init(repo_path, identity=CommitIdentity(email_template="{user}@corp.example"))
    store.create(configmap("a"), Requester("system:serviceaccount:ci:deployer"))
    assert git("log", "-1", "--format=%an <%ae>").strip() == (
        "system:serviceaccount:ci:deployer <system-serviceaccount-ci-deployer@corp.example>"
    )


def test_update_of_one_field_is_a_one_line_diff_and_keeps_comments(
    repo_path: Path, git: GitRunner
) -> None:
    store = _imported(repo_path, git)
    current = store.get(WEB)
    changed = copy.deepcopy(current.obj)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = (
        "registry.example.com/shop/web:1.5.0"
    )
    store.update(changed, ALICE, expect_rv=current.resource_version)
    diff = git("diff", "HEAD~1", "HEAD", "--unified=0")
    changed_lines = [
        line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed_lines == [
        '-          image: "registry.example.com/shop/web:1.4.2"   # pinned by release',
        '+          image: "registry.example.com/shop/web:1.5.0"   # pinned by release',
    ]


def test_structural_update_keeps_other_documents_byte_identical(
    repo_path: Path, git: GitRunner
) -> None:
    store = _imported(repo_path, git)
    service = store.get(ObjectKey("", "Service", "shop", "web"))
    changed = copy.deepcopy(service.obj)
    changed["spec"]["ports"].append({"name": "metrics", "port": 9090, "targetPort": 9090})
    changed["metadata"]["annotations"] = {"team": "storefront"}
    store.update(changed, ALICE, namespace="shop")
    before = FILES["shop/app.yaml"].split("\n---\n")
    after = git("show", "HEAD:shop/app.yaml").split("\n---\n")
    assert after[0] == before[0] and after[2] == before[2]  # the Deployment and the ConfigMap
    assert "# Service in front of the pods" in after[1]
    assert "spec:   # namespace comes from the directory" in after[1]
    assert store.get(service.key).obj == changed


def test_delete_removes_only_its_document_then_the_file(repo_path: Path, git: GitRunner) -> None:
    store = _imported(repo_path, git)
    store.delete(ObjectKey("", "Service", "shop", "web"), ALICE)
    text = git("show", "HEAD:shop/app.yaml")
    assert "kind: Service" not in text
    assert text.startswith(FILES["shop/app.yaml"].split("---\n")[0])
    assert text.endswith(FILES["shop/app.yaml"].split("\n---\n")[2])
    store.delete(WEB, ALICE)
    store.delete(ObjectKey("", "ConfigMap", "shop", "web-config"), ALICE)
    assert "shop/app.yaml" not in git("ls-tree", "-r", "--name-only", "HEAD").split()
    assert not (repo_path / "shop" / "app.yaml").exists()  # the checkout follows


def test_object_in_a_list_is_updated_and_removed_in_place(repo_path: Path, git: GitRunner) -> None:
    store = _imported(repo_path, git)
    key = ObjectKey("", "ServiceAccount", "shop", "worker")
    sa = copy.deepcopy(store.get(key).obj)
    sa["metadata"]["labels"] = {"tier": "batch"}
    sa["metadata"]["namespace"] = (
        "shop"  # as the API server sends it; the file keeps leaving it out
    )
    store.update(sa, ALICE)
    assert "namespace" not in git("show", "HEAD:shop/accounts.yaml")
    assert store.get(key).obj["metadata"]["labels"] == {"tier": "batch"}
    assert store.get(key).path == "shop/accounts.yaml"
    store.delete(ObjectKey("", "ServiceAccount", "shop", "web"), ALICE)
    assert [
        o.key.name for o in store.list_objects("shop").items if o.key.kind == "ServiceAccount"
    ] == ["worker"]


def test_json_file_is_updated_as_json(repo_path: Path, git: GitRunner) -> None:
    import json

    store = _imported(repo_path, git)
    key = ObjectKey("", "ConfigMap", "billing", "rates")
    cm = copy.deepcopy(store.get(key).obj)
    cm["data"]["vat"] = "0.21"
    store.update(cm, ALICE)
    assert json.loads(git("show", "HEAD:billing/rates.json"))["data"]["vat"] == "0.21"


def test_typed_failures(store: GitStore) -> None:
    first = store.create(deployment(), ALICE)
    with pytest.raises(AlreadyExists):
        store.create(deployment(), ALICE)
    with pytest.raises(NotFound):
        store.update(deployment("nope"), ALICE)
    with pytest.raises(NotFound):
        store.delete(ObjectKey("apps", "Deployment", "shop", "nope"), ALICE)
    store.update(deployment(replicas=5), ALICE, expect_rv=first.resource_version)
    with pytest.raises(Conflict):
        store.update(deployment(replicas=6), ALICE, expect_rv=first.resource_version)
    with pytest.raises(Conflict):
        store.delete(WEB, ALICE, expect_rv=first.resource_version)


def test_change_set_is_atomic(store: GitStore, git: GitRunner) -> None:
    store.create(configmap("existing"), ALICE)
    with pytest.raises(AlreadyExists):
        store.apply(
            [
                Put(configmap("new-one")),
                Put(deployment(), mode="create"),
                Put(configmap("existing"), mode="create"),
            ],
            ALICE,
        )
    assert git("rev-list", "--count", "HEAD").strip() == "1"
    result = store.apply(
        [
            Put(configmap("a", namespace="shop")),
            Put(configmap("b", namespace="billing")),
            Delete(ObjectKey("", "ConfigMap", "shop", "existing")),
        ],
        ALICE,
        message="reorganise config",
    )
    assert git("rev-list", "--count", "HEAD").strip() == "2"
    assert git("show", "--stat", "--format=%s", "HEAD").splitlines()[0] == "reorganise config"
    assert set(result.objects) == {
        ObjectKey("", "ConfigMap", "shop", "a"),
        ObjectKey("", "ConfigMap", "billing", "b"),
        ObjectKey("", "ConfigMap", "shop", "existing"),
    }


def test_unchanged_write_and_dry_run_make_no_commit(store: GitStore, git: GitRunner) -> None:
    store.create(deployment(), ALICE)
    again = store.update(deployment(), ALICE)
    assert again.commit_id is None
    objects_before = git("count-objects", "-v")
    dry = store.update(deployment(replicas=9), ALICE, dry_run=True)
    assert dry.dry_run and dry.commit_id is None
    assert dry.objects[WEB] is not None and dry.objects[WEB].obj["spec"]["replicas"] == 9
    assert git("rev-list", "--count", "HEAD").strip() == "1"
    assert git("count-objects", "-v") == objects_before  # not even a loose blob
    assert store.get(WEB).obj["spec"]["replicas"] == 2


@pytest.mark.parametrize(
    ("name", "namespace"),
    [
        ("../escape", "shop"),
        ("a/b", "shop"),
        ("web", "../etc"),
        ("web", "/abs"),
        ("UPPER", "shop"),
        ("web", ".git"),
        ("x" * 254, "shop"),
        ("", "shop"),
    ],
)
def test_malicious_names_never_write(
    store: GitStore, repo_path: Path, name: str, namespace: str
) -> None:
    with pytest.raises(Invalid) as failure:
        store.create(configmap(name, namespace=namespace), ALICE)
    assert failure.value.causes and failure.value.causes[0].field.startswith("metadata.")
    assert store.head.commit_id is None
    assert sorted(p.name for p in repo_path.iterdir()) == [".git"]


def test_rbac_names_with_colons_get_a_safe_file_name(store: GitStore, git: GitRunner) -> None:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "system:aggregate-to-view"},
        "rules": [],
    }
    store.create(role, ALICE)
    assert git("ls-tree", "-r", "--name-only", "HEAD").split() == [
        "_cluster/clusterrole-system_aggregate-to-view.yaml"
    ]
    assert store.get(
        ObjectKey("rbac.authorization.k8s.io", "ClusterRole", "", "system:aggregate-to-view")
    )


def test_invalid_objects_list_every_cause(store: GitStore) -> None:
    with pytest.raises(Invalid) as failure:
        store.create({"kind": "Deployment", "metadata": {"name": "Bad_Name"}}, ALICE)
    fields = sorted(c.field for c in failure.value.causes)
    assert fields == ["apiVersion", "metadata.name", "metadata.namespace"]


def test_repository_stays_fsck_clean(store: GitStore, git: GitRunner) -> None:
    for replicas in range(1, 6):
        store.apply([Put(deployment(replicas=replicas))], ALICE)
    git("fsck", "--strict")
    assert git("rev-list", "--count", "HEAD").strip() == "5"
