"""The hot path's shortcuts give exactly the answers of the general code they bypass."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pytest
from webhook_reviews import (
    ALICE,
    ARGOCD,
    annotated,
    desired_state,
    edited,
    live_deployment,
    namespace,
    review,
)

from kube import quantity
from kube.admission import (
    API_VERSIONS,
    AdmissionResponse,
    AdmissionReviewError,
    UserInfo,
    allowed_review,
    encode_review,
    parse_review,
    render_review,
)
from webhook import config as config_module
from webhook.config import WebhookConfig
from webhook.decide import Decision, decide
from webhook.respond import encode_answer, to_response

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
UIDS = ["705ab4f5-6393-11e8-b7cc-42010a800002", 'quote"back\\slash', "tab\tnewline\n", "ü-☃-𝄞"]


def general(response: AdmissionResponse, api_version: str) -> bytes:
    return json.dumps(render_review(response, api_version)).encode()


@pytest.mark.parametrize("uid", UIDS)
@pytest.mark.parametrize("api_version", API_VERSIONS)
def test_allowed_template_is_byte_for_byte_the_rendered_review(uid: str, api_version: str) -> None:
    expected = general(AdmissionResponse(uid=uid, allowed=True), api_version)
    assert allowed_review(uid, api_version) == expected
    assert encode_review(AdmissionResponse(uid=uid, allowed=True), api_version) == expected
    assert json.loads(expected)["response"] == {"uid": uid, "allowed": True}


@pytest.mark.parametrize(
    "response",
    [
        AdmissionResponse(uid="u", allowed=True, warnings=("careful",)),
        AdmissionResponse(uid="u", allowed=True, patch=[{"op": "remove", "path": "/a"}]),
        AdmissionResponse(uid="u", allowed=True, audit_annotations={"drift": "spec.replicas"}),
        AdmissionResponse(uid="u", allowed=False, code=403, reason="Forbidden", message="no"),
    ],
)
def test_other_answers_are_rendered_in_full(response: AdmissionResponse) -> None:
    assert encode_review(response, API_VERSIONS[1]) == general(response, API_VERSIONS[1])


def decision_bytes(sent: dict[str, Any], config: WebhookConfig, *, mutating: bool) -> bytes:
    request = parse_review(sent)
    decision = decide(request, desired_state(), config, mutating=mutating, now=NOW)
    fast = encode_answer(request.uid, decision, request.api_version, mutating=mutating)
    slow = general(to_response(request.uid, decision, mutating=mutating), request.api_version)
    assert fast == slow
    return fast


DRIFTED = edited(live_deployment(), {"spec.replicas": 5})
STALE = annotated(live_deployment("warned"), {"gitplane.io/drift": "spec.replicas"})


@pytest.mark.parametrize("mutating", [False, True])
@pytest.mark.parametrize(
    ("sent", "allowed"),
    [
        (review("UPDATE", live_deployment(), live_deployment()), True),  # matches Git
        (review("UPDATE", DRIFTED, live_deployment()), False),  # denied
        (review("UPDATE", DRIFTED, live_deployment(), user=ARGOCD), True),  # exempt
        (review("UPDATE", live_deployment("elsewhere"), live_deployment("elsewhere")), True),
        (review("UPDATE", edited(live_deployment("warned"), {"spec.replicas": 5})), True),
        (review("UPDATE", STALE, STALE), True),  # patch on /mutate, plain on /validate
        (review("UPDATE", live_deployment("typo"), live_deployment("typo")), True),  # warning
        (review("CONNECT", live_deployment()), True),
    ],
)
def test_encoded_answers_equal_the_general_rendering(
    sent: dict[str, Any], allowed: bool, mutating: bool
) -> None:
    body = json.loads(decision_bytes(sent, WebhookConfig(), mutating=mutating))
    assert body["response"]["allowed"] is allowed
    assert body["response"]["uid"] == sent["request"]["uid"]


def test_plain_allowed_decisions_are_shared_and_equal_to_fresh_ones() -> None:
    state, config = desired_state(), WebhookConfig()
    request = parse_review(review("UPDATE", live_deployment(), live_deployment()))
    first = decide(request, state, config, mutating=False, now=NOW)
    again = decide(request, state, config, mutating=True, now=NOW)
    assert first is again
    assert first == Decision(True, "allowed", "enforce")


def test_an_allowed_review_in_a_namespace_with_an_unknown_mode_still_warns() -> None:
    request = parse_review(review("UPDATE", live_deployment("typo"), live_deployment("typo")))
    decision = decide(request, desired_state(), WebhookConfig(), mutating=False, now=NOW)
    assert (decision.allowed, decision.result, decision.mode) == (True, "allowed", "enforce")
    assert decision.warnings == (
        "gitplane: namespace typo declares unknown mode 'enforcing'; enforcing",
    )


def test_a_namespace_is_governed_by_its_own_policy() -> None:
    # The Namespace fast path compares kinds through a cached GroupKind.
    obj = annotated(namespace("locked", "enforce"), {"gitplane.io/mode": "off"})
    sent = review(
        "UPDATE",
        obj,
        namespace("locked", "enforce"),
        gvk={"group": "", "version": "v1", "kind": "Namespace"},
        gvr={"group": "", "version": "v1", "resource": "namespaces"},
        namespace="",
    )
    request = parse_review(sent)
    decision = decide(request, desired_state(), WebhookConfig(), mutating=False, now=NOW)
    assert (decision.allowed, decision.result) == (False, "denied")
    assert 'metadata.annotations[gitplane.io/mode]: git "enforce", request "off"' in (
        decision.message
    )


def test_exemption_answers_are_cached_per_identity_and_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(config_module, "_MAX_CACHED_IDENTITIES", 3)
    config = WebhookConfig.with_additions(exempt_users=["ci-bot"])
    node = UserInfo(username="system:node:worker-1", groups=("system:nodes",))
    alice = UserInfo(username="alice@example.com", groups=("devs", "system:authenticated"))
    via_group = UserInfo(username="kubelet", groups=("system:nodes",))
    for _ in range(2):
        assert config.is_exempt(node)
        assert not config.is_exempt(alice)
        assert config.is_exempt(UserInfo(username="ci-bot"))
        assert config.is_exempt(via_group)  # a fourth identity: the table starts over
        assert len(config._exempt) <= 3
    # Same name, other groups: a separate answer.
    assert not config.is_exempt(UserInfo(username="kubelet", groups=("devs",)))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("kind", {"group": "apps", "version": "v1"}, "request.kind.kind must be a non-empty"),
        ("kind", {"group": 7, "version": "v1", "kind": "D"}, "request.kind.group must be a string"),
        ("kind", "apps/v1", "request.kind must be a JSON object, got a string"),
        ("resource", {"resource": ""}, "request.resource.resource must be a non-empty string"),
        ("resource", {"version": 1, "resource": "x"}, "request.resource.version must be a"),
    ],
)
def test_kind_and_resource_errors_name_the_field(field: str, value: Any, message: str) -> None:
    sent = review("UPDATE", live_deployment(), live_deployment())
    sent["request"][field] = value
    with pytest.raises(AdmissionReviewError, match=message):
        parse_review(sent)


def test_kind_and_resource_accept_null_group_and_version() -> None:
    sent = review("UPDATE", live_deployment(), live_deployment())
    sent["request"]["kind"] = {"group": None, "version": None, "kind": "Deployment"}
    request = parse_review(sent)
    assert (request.kind.group, request.kind.version, request.kind.kind) == ("", "", "Deployment")


@pytest.mark.parametrize(
    ("extra", "ok"),
    [
        ({"scopes": ["a", "b"]}, True),
        ({"scopes": "a"}, False),
        ({"scopes": ["a", 1]}, False),
        (["scopes"], False),
    ],
)
def test_user_extra_is_checked(extra: Any, ok: bool) -> None:
    sent = review("UPDATE", live_deployment(), live_deployment())
    sent["request"]["userInfo"] = {**ALICE, "extra": extra}
    if ok:
        assert parse_review(sent).user.extra == {"scopes": ("a", "b")}
    else:
        with pytest.raises(AdmissionReviewError, match="extra must map strings to lists"):
            parse_review(sent)


def test_cached_integer_quantities_keep_their_meaning() -> None:
    assert quantity.parse(1) == Fraction(1)
    assert quantity.equal(1, "1")
    assert quantity.equal(1, "1000m")
    assert not quantity.equal(2, "1")
    assert quantity.parse_with_format(1073741824) == (Fraction(1073741824), "DecimalSI")
    with pytest.raises(quantity.QuantityError):
        quantity.parse(True)  # True == 1 must not hit the cached 1
