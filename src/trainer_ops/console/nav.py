"""The console's navigation: its pages in order, each with the policy operation whose rule decides
whether the caller sees it listed. A page still authorizes on its own; the list only hides dead ends."""

from __future__ import annotations

from dataclasses import dataclass

from trainer_ops.access.types import Policy, Principal


@dataclass(frozen=True)
class NavItem:
    key: str  # message key of the link text
    path: str
    operation: str


NAV = (
    NavItem("nav.overview", "/console", "health.read"),
    NavItem("nav.model_config", "/console/model-config", "model_config.read"),
    NavItem("nav.features", "/console/features", "features.read"),
    NavItem("nav.limits", "/console/limits", "limits.read"),
    NavItem("nav.engines", "/console/engines", "hot_reload"),
    NavItem("nav.releases", "/console/releases", "releases.read"),
    NavItem("nav.audit", "/console/audit", "audit.read"),
    NavItem("nav.tokens", "/console/tokens", "tokens.manage"),
    NavItem("nav.places", "/console/places", "places.read"),
    NavItem("nav.policy", "/console/policy", "policy.read"),
    NavItem("nav.change_requests", "/console/change-requests", "change_requests.read"),
)


def nav_for(policy: Policy, who: Principal) -> list[NavItem]:
    return [item for item in NAV if policy.view_for(who, item.operation) is not None]
