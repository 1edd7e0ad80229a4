"""Client certificates from the cluster's client CA and bearer tokens (TokenReview)."""

from __future__ import annotations

from tests.cluster.conftest import GV, Cluster

LIST = f"{GV}/namespaces/team-a/manifests"
SERVICE_ACCOUNT = {
    "username": "system:serviceaccount:ci:deployer",
    "uid": "2b7c4d3e-1111-4000-8000-000000000002",
    "groups": ["system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"],
    "extra": {"authentication.kubernetes.io/pod-name": ["deployer-7f9c"]},
}


async def test_a_client_certificate_names_user_and_groups(cluster: Cluster) -> None:
    response = await cluster.call("GET", LIST, cert=cluster.client("bob", ("team-a", "ops")))

    assert response.status == 200
    (spec,) = cluster.kube.reviews
    assert spec["user"] == "bob"
    assert spec["groups"] == ["team-a", "ops", "system:authenticated"]
    assert cluster.kube.calls["tokenreviews"] == 0


async def test_a_bearer_token_is_reviewed_once_within_the_cache_time(cluster: Cluster) -> None:
    cluster.kube.tokens["ci-token"] = SERVICE_ACCOUNT

    first = await cluster.call("GET", LIST, token="ci-token")
    second = await cluster.call("GET", f"{GV}/namespaces/team-a/revisions", token="ci-token")

    assert (first.status, second.status) == (200, 200)
    assert cluster.kube.calls["tokenreviews"] == 1
    assert cluster.kube.token_reviews == [{"token": "ci-token"}]
    spec = cluster.kube.reviews[0]
    assert spec["user"] == SERVICE_ACCOUNT["username"]
    assert spec["uid"] == SERVICE_ACCOUNT["uid"]
    assert spec["groups"] == SERVICE_ACCOUNT["groups"]
    assert spec["extra"] == SERVICE_ACCOUNT["extra"]


async def test_an_unknown_token_is_401_and_the_answer_is_cached(cluster: Cluster) -> None:
    first = await cluster.call("GET", LIST, token="stolen")
    second = await cluster.call("GET", LIST, token="stolen")

    assert (first.status, second.status) == (401, 401)
    assert first.body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
    assert cluster.kube.calls["tokenreviews"] == 1
    assert cluster.kube.reviews == []


async def test_a_client_certificate_wins_over_a_token(cluster: Cluster) -> None:
    cluster.kube.tokens["ci-token"] = SERVICE_ACCOUNT

    response = await cluster.call("GET", LIST, cert=cluster.client("bob"), token="ci-token")

    assert response.status == 200
    assert cluster.users_reviewed() == ["bob"]
    assert cluster.kube.calls["tokenreviews"] == 0


async def test_no_credentials_at_all_is_401(cluster: Cluster) -> None:
    response = await cluster.call("GET", LIST)

    assert response.status == 401
    assert cluster.kube.calls["tokenreviews"] == 0


async def test_a_token_cannot_be_reviewed_when_the_api_refuses_us(cluster: Cluster) -> None:
    cluster.kube.tokens["ci-token"] = SERVICE_ACCOUNT
    cluster.kube.service_account_token = "rotated"  # our token no longer works

    response = await cluster.call("GET", LIST, token="ci-token")

    assert response.status == 401
