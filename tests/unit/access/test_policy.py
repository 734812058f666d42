"""Policy.decide: every rule and condition of the scope policy, on hand-written documents and the default."""

from __future__ import annotations

from typing import Any

import pytest

from trainer_ops.access.places import PlaceIndex
from trainer_ops.access.types import DEFAULT_POLICY, Policy, Principal, Role

ADMIN = Principal(user_id="a", role=Role.ADMIN)
REGION_EU = Principal(user_id="r", role=Role.REGION, region="EU")
REGION_NONE = Principal(user_id="r0", role=Role.REGION)
COUNTRY_KR = Principal(user_id="c", role=Role.COUNTRY, region="APAC", country="KR")
BRANCH_B1 = Principal(user_id="b", role=Role.BRANCH, country="KR", branch="B1")
TEAM_B1 = Principal(user_id="t", role=Role.TEAM, branch="B1")
SERVICE = Principal(user_id="s", role=Role.SERVICE)


def policy(operations: dict[str, Any]) -> Policy:
    return Policy.from_document({"operations": operations}, version=7)


DEFAULT = Policy.from_document(DEFAULT_POLICY, version=1)


def test_from_document_keeps_version_and_sorts_operations() -> None:
    parsed = policy({"b.op": {"admin": {}}, "a.op": {"admin": None}})

    assert parsed.version == 7
    assert parsed.operations() == ["a.op", "b.op"]


def test_decide_allows_role_with_plain_rule_and_returns_full_view() -> None:
    decision = policy({"op": {"admin": {}}}).decide(ADMIN, "op")

    assert decision.allowed
    assert decision.view == "full"


def test_decide_null_rule_is_an_unconditional_allow() -> None:
    assert policy({"op": {"region": None}}).decide(REGION_EU, "op").allowed


def test_decide_returns_the_view_named_by_the_rule() -> None:
    decision = policy({"op": {"branch": {"view": "status"}}}).decide(BRANCH_B1, "op")

    assert decision.allowed
    assert decision.view == "status"


def test_decide_denies_unknown_operation() -> None:
    decision = policy({"op": {"admin": {}}}).decide(ADMIN, "no.such.op")

    assert not decision.allowed
    assert "no.such.op" in decision.reason


def test_decide_denies_role_missing_from_operation() -> None:
    decision = policy({"op": {"admin": {}}}).decide(COUNTRY_KR, "op")

    assert not decision.allowed
    assert decision.reason == "role 'country' may not op"


@pytest.mark.parametrize(
    ("requested", "allowed"),
    [("EU", True), (None, True), ("US", False), ("eu", False)],
)
def test_own_region_allows_only_the_callers_region(requested: str | None, allowed: bool) -> None:
    rules = policy({"op": {"region": {"conditions": ["own_region"]}}})

    decision = rules.decide(REGION_EU, "op", region=requested)

    assert decision.allowed is allowed
    if not allowed:
        assert "outside the caller's scope" in decision.reason


def test_own_region_denies_caller_without_a_region() -> None:
    decision = policy({"op": {"region": {"conditions": ["own_region"]}}}).decide(REGION_NONE, "op")

    assert not decision.allowed
    assert decision.reason == "the caller has no region in scope"


@pytest.mark.parametrize(
    ("attrs", "allowed"), [({"overridable": True}, True), ({"overridable": False}, False), ({}, False)]
)
def test_region_overridable_needs_the_resource_marked_overridable(
    attrs: dict[str, Any], allowed: bool
) -> None:
    decision = policy({"op": {"region": {"conditions": ["region_overridable"]}}}).decide(
        REGION_EU, "op", **attrs
    )

    assert decision.allowed is allowed


@pytest.mark.parametrize(
    ("scope", "allowed"),
    [(None, True), ("", True), ("KR", True), ("APAC", False), ("JP", False), ("B1", False)],
)
def test_own_scope_allows_the_callers_place_never_its_parent(scope: str | None, allowed: bool) -> None:
    decision = policy({"op": {"country": {"conditions": ["own_scope"]}}}).decide(
        COUNTRY_KR, "op", scope=scope
    )

    assert decision.allowed is allowed


@pytest.mark.parametrize(
    ("engine", "allowed"), [("content", True), ("missions", True), ("prompt", False), (None, False)]
)
def test_engine_in_limits_the_engine_types(engine: str | None, allowed: bool) -> None:
    rules = policy({"reload": {"country": {"engineIn": ["content", "missions"]}}})

    decision = rules.decide(COUNTRY_KR, "reload", engine=engine)

    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason == "role 'country' may reload only for: content, missions"


def test_empty_engine_in_denies_every_engine() -> None:
    decision = policy({"reload": {"country": {"engineIn": []}}}).decide(
        COUNTRY_KR, "reload", engine="content"
    )

    assert not decision.allowed
    assert decision.reason.endswith("only for: none")


def test_conditions_are_all_required_and_the_first_failure_is_reported() -> None:
    rules = policy({"op": {"region": {"conditions": ["own_region", "region_overridable"]}}})

    outside = rules.decide(REGION_EU, "op", region="US", overridable=False)
    not_overridable = rules.decide(REGION_EU, "op", region="EU", overridable=False)
    both_hold = rules.decide(REGION_EU, "op", region="EU", overridable=True)

    assert "outside the caller's scope" in outside.reason
    assert "not region-overridable" in not_overridable.reason
    assert both_hold.allowed


def test_team_is_treated_as_branch() -> None:
    rules = policy({"op": {"branch": {"view": "status"}}})

    decision = rules.decide(TEAM_B1, "op")

    assert decision.allowed
    assert decision.view == "status"
    assert rules.view_for(TEAM_B1, "op") == "status"


def test_team_never_gets_a_rule_written_for_team_itself() -> None:
    # Team has no more rights than branch: a rule for "team" alone grants nothing.
    rules = policy({"op": {"team": {}}})

    assert not rules.decide(TEAM_B1, "op").allowed
    assert rules.view_for(TEAM_B1, "op") is None


def test_view_for_ignores_conditions_and_is_none_without_a_rule() -> None:
    rules = policy({"op": {"region": {"view": "own_region", "conditions": ["own_region"]}}})

    assert rules.view_for(REGION_NONE, "op") == "own_region"
    assert rules.view_for(COUNTRY_KR, "op") is None
    assert rules.view_for(ADMIN, "missing") is None


def test_unknown_condition_in_a_document_raises() -> None:
    with pytest.raises(ValueError, match="unknown condition"):
        policy({"op": {"region": {"conditions": ["own_region", "own_galaxy"]}}})


def test_unknown_role_in_a_document_raises() -> None:
    with pytest.raises(ValueError, match="superuser"):
        policy({"op": {"superuser": {}}})


def test_principal_scope_holds_only_the_attributes_set() -> None:
    assert COUNTRY_KR.scope == {"region": "APAC", "country": "KR"}
    assert ADMIN.scope == {}


# The default policy: design.md's matrix, decided directly (the HTTP matrix is tests/contract).


@pytest.mark.parametrize(
    "operation",
    [
        "model_config.read",
        "model_config.update",
        "limits.read",
        "limits.update",
        "diagnostics.read",
        "audit.read",
        "features.create",
        "features.history",
        "release.create",
        "release.rollback",
    ],
)
@pytest.mark.parametrize("who", [REGION_EU, COUNTRY_KR, BRANCH_B1, TEAM_B1, SERVICE], ids=lambda p: p.role)
def test_default_policy_keeps_admin_only_operations_for_admins(operation: str, who: Principal) -> None:
    assert DEFAULT.decide(ADMIN, operation).allowed
    assert not DEFAULT.decide(who, operation).allowed


@pytest.mark.parametrize(
    ("who", "view"),
    [
        (ADMIN, "full"),
        (REGION_EU, "engines"),
        (COUNTRY_KR, "engines"),
        (BRANCH_B1, "status"),
        (TEAM_B1, "status"),
        (SERVICE, None),
    ],
    ids=["admin", "region", "country", "branch", "team", "service"],
)
def test_default_policy_health_view_per_role(who: Principal, view: str | None) -> None:
    decision = DEFAULT.decide(who, "health.read")

    assert decision.allowed is (view is not None)
    if view is not None:
        assert decision.view == view


def test_default_policy_region_updates_only_overridable_features_of_its_own_region() -> None:
    assert DEFAULT.decide(REGION_EU, "features.update", region="EU", overridable=True).allowed
    assert not DEFAULT.decide(REGION_EU, "features.update", region="EU", overridable=False).allowed
    assert not DEFAULT.decide(REGION_EU, "features.update", region="US", overridable=True).allowed
    assert DEFAULT.decide(REGION_EU, "features.read", region="EU").view == "own_region"
    assert not DEFAULT.decide(COUNTRY_KR, "features.read").allowed


@pytest.mark.parametrize(
    ("who", "engines"),
    [(REGION_EU, {"content", "missions", "gamification"}), (COUNTRY_KR, {"content", "missions"})],
    ids=["region", "country"],
)
def test_default_policy_hot_reload_engine_types(who: Principal, engines: set[str]) -> None:
    every = {"scenario", "prompt", "difficulty", "content", "gamification", "missions", "upm", "insights"}

    allowed = {engine for engine in every if DEFAULT.decide(who, "hot_reload", engine=engine).allowed}

    assert allowed == engines
    assert not DEFAULT.decide(BRANCH_B1, "hot_reload", engine="content").allowed
    assert DEFAULT.decide(ADMIN, "hot_reload", engine="prompt").allowed


def test_default_policy_service_reads_snapshot_and_calls_gateway_only() -> None:
    assert DEFAULT.decide(SERVICE, "snapshot.read").allowed
    assert DEFAULT.decide(SERVICE, "gateway.call").allowed
    assert not DEFAULT.decide(SERVICE, "features.update", overridable=True).allowed


def test_default_policy_lets_only_admins_and_engines_upload_but_everyone_call_the_gateway() -> None:
    uploaders = {p.role for p in (ADMIN, REGION_EU, COUNTRY_KR, BRANCH_B1, TEAM_B1, SERVICE)
                 if DEFAULT.decide(p, "gateway.upload").allowed}  # fmt: skip

    assert uploaders == {Role.ADMIN, Role.SERVICE}
    assert all(DEFAULT.decide(p, "gateway.call").allowed for p in (REGION_EU, COUNTRY_KR, BRANCH_B1, TEAM_B1))


def test_own_region_admits_the_countries_and_branches_the_catalogue_puts_under_the_region() -> None:
    index = PlaceIndex.from_document(
        {
            "regions": [
                {
                    "code": "EU",
                    "name": "Europe",
                    "countries": [
                        {"code": "DE", "name": "Germany", "branches": [{"code": "DE-1", "name": "B"}]}
                    ],
                },
                {"code": "US", "name": "Americas", "countries": [{"code": "CA", "name": "Canada"}]},
            ]
        },
        version=1,
    )
    rules = Policy.from_document(
        {"operations": {"op": {"region": {"conditions": ["own_region"]}}}}, version=1, places=index
    )

    allowed = {
        code: rules.decide(REGION_EU, "op", region=code).allowed for code in ("EU", "DE", "DE-1", "CA", "US")
    }

    assert allowed == {"EU": True, "DE": True, "DE-1": True, "CA": False, "US": False}
