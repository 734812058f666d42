"""Principals and the scope policy: pure values and rules, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from trainer_ops.access.places import EMPTY_INDEX, PlaceIndex, most_specific, within


class Role(StrEnum):
    ADMIN = "admin"
    REGION = "region"
    COUNTRY = "country"
    BRANCH = "branch"
    # Step 1's lowest scope level; it never has more rights than branch.
    TEAM = "team"
    # Engines and gateway callers: read the snapshot, call the gateway, never change ops settings.
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    role: Role
    region: str | None = None
    country: str | None = None
    branch: str | None = None
    # How the caller proved who they are: "token", "jwt" or "headers".
    via: str = "token"

    @property
    def place(self) -> str | None:
        """The most specific place the caller carries: what its feature values resolve for (ADR 0027)."""
        return most_specific(region=self.region, country=self.country, branch=self.branch)

    @property
    def scope(self) -> dict[str, str]:
        """The scope attributes that are set, as recorded in audit entries."""
        out: dict[str, str] = {}
        if self.region:
            out["region"] = self.region
        if self.country:
            out["country"] = self.country
        if self.branch:
            out["branch"] = self.branch
        return out


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str = ""
    # What part of a resource the caller may see, for operations whose answer depends on the role.
    view: str = "full"


@dataclass(frozen=True, slots=True)
class Approvals:
    """A write under this rule waits for `min_approvals` approvals by roles in `approvers` (ADR 0026)."""

    min_approvals: int
    approvers: frozenset[Role]
    self_approval: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    view: str = "full"
    conditions: tuple[str, ...] = ()
    engine_in: frozenset[str] | None = None
    approvals: Approvals | None = None


CONDITIONS = frozenset({"own_region", "region_overridable", "own_scope"})


@dataclass(frozen=True)
class Policy:
    """The scope matrix as data: operation -> role -> rule. Anything not listed is denied."""

    version: int
    rules: dict[str, dict[Role, Rule]] = field(default_factory=dict)
    # The places catalogue in force: `own_scope` asks it what lies under the caller's place (ADR 0023).
    places: PlaceIndex = EMPTY_INDEX

    @classmethod
    def from_document(
        cls, document: dict[str, Any], *, version: int, places: PlaceIndex = EMPTY_INDEX
    ) -> Policy:
        rules: dict[str, dict[Role, Rule]] = {}
        for operation, by_role in document["operations"].items():
            parsed: dict[Role, Rule] = {}
            for role_name, raw in by_role.items():
                raw = raw or {}
                conditions = tuple(raw.get("conditions", ()))
                unknown = set(conditions) - CONDITIONS
                if unknown:
                    raise ValueError(f"policy: unknown condition(s) {sorted(unknown)} in {operation}")
                engines = raw.get("engineIn")
                parsed[Role(role_name)] = Rule(
                    view=raw.get("view", "full"),
                    conditions=conditions,
                    engine_in=frozenset(engines) if engines is not None else None,
                    approvals=_approvals(raw.get("approvals")),
                )
            rules[operation] = parsed
        return cls(version=version, rules=rules, places=places)

    def operations(self) -> list[str]:
        return sorted(self.rules)

    def view_for(self, principal: Principal, operation: str) -> str | None:
        """The view the caller's role gets for `operation` (None: no rule), before any condition."""
        role = Role.BRANCH if principal.role is Role.TEAM else principal.role
        rule = self.rules.get(operation, {}).get(role)
        return rule.view if rule else None

    def approvals_for(self, principal: Principal, operation: str) -> Approvals | None:
        """The approvals the caller's writes of `operation` wait for (None: applied at once)."""
        role = Role.BRANCH if principal.role is Role.TEAM else principal.role
        rule = self.rules.get(operation, {}).get(role)
        return rule.approvals if rule else None

    def decide(self, principal: Principal, operation: str, **attrs: Any) -> Decision:
        """Allow or deny `operation` for `principal`, given the attributes of the resource touched.

        attrs: `region` (the place a feature change or read is for, inside the caller's region for
        `own_region`), `overridable` (feature marked
        region-overridable), `engine` (engine type), `scope` (a scope value a reload is limited to).
        """
        by_role = self.rules.get(operation)
        if by_role is None:
            return Decision(False, f"operation {operation!r} is not in the policy")
        role = Role.BRANCH if principal.role is Role.TEAM else principal.role
        rule = by_role.get(role)
        if rule is None:
            return Decision(False, f"role {principal.role.value!r} may not {operation}")
        if rule.engine_in is not None and attrs.get("engine") not in rule.engine_in:
            allowed = ", ".join(sorted(rule.engine_in)) or "none"
            return Decision(False, f"role {principal.role.value!r} may {operation} only for: {allowed}")
        for condition in rule.conditions:
            failure = _check(condition, principal, attrs, self.places)
            if failure:
                return Decision(False, failure)
        return Decision(True, view=rule.view)


def _approvals(raw: Any) -> Approvals | None:
    if not raw:
        return None
    return Approvals(
        min_approvals=int(raw.get("minApprovals", 1)),
        approvers=frozenset(Role(r) for r in raw.get("approvers", ("admin",))),
        self_approval=bool(raw.get("selfApproval", False)),
    )


def _check(condition: str, principal: Principal, attrs: dict[str, Any], places: PlaceIndex) -> str:
    if condition == "own_region":
        region = attrs.get("region")
        if not principal.region:
            return "the caller has no region in scope"
        # The place a feature read or override is for (ADR 0027): the caller's region or a country or
        # branch the catalogue puts under it, by the one containment rule.
        if region is not None and not within(
            Role.REGION.value,
            region,
            places,
            region=principal.region,
            country=principal.country,
            branch=principal.branch,
        ):
            return f"place {region!r} is outside the caller's scope (region {principal.region!r})"
    elif condition == "region_overridable":
        if not attrs.get("overridable"):
            return "this feature is not region-overridable; only an admin may change it"
    elif condition == "own_scope":
        scope = attrs.get("scope")
        if scope and not contains(principal, scope, places):
            own = ", ".join(f"{k} {v}" for k, v in principal.scope.items()) or "no place"
            return f"scope {scope!r} is wider than or outside the caller's scope ({own})"
    return ""


def contains(principal: Principal, scope: str, places: PlaceIndex) -> bool:
    """Is `scope` inside the caller's own place? Admins hold every place; see access.places.within."""
    if principal.role is Role.ADMIN:
        return True
    return within(
        principal.role.value,
        scope,
        places,
        region=principal.region,
        country=principal.country,
        branch=principal.branch,
    )


# The default policy (design.md, spec section 8). Stored as version 1 of the policy document.
DEFAULT_POLICY: dict[str, Any] = {
    "operations": {
        "model_config.read": {"admin": {}},
        "model_config.update": {"admin": {}},
        "features.read": {
            "admin": {},
            "region": {"view": "own_region", "conditions": ["own_region"]},
        },
        "features.create": {"admin": {}},
        "features.history": {"admin": {}},
        "features.update": {
            "admin": {},
            "region": {"view": "own_region", "conditions": ["own_region", "region_overridable"]},
        },
        "limits.read": {"admin": {}},
        "limits.update": {"admin": {}},
        "hot_reload": {
            "admin": {},
            "region": {"engineIn": ["content", "missions", "gamification"], "conditions": ["own_scope"]},
            "country": {"engineIn": ["content", "missions"], "conditions": ["own_scope"]},
        },
        "releases.read": {"admin": {}},
        "release.create": {"admin": {}},
        "release.rollback": {"admin": {}},
        "health.read": {
            "admin": {"view": "full"},
            "region": {"view": "engines"},
            "country": {"view": "engines"},
            "branch": {"view": "status"},
        },
        "diagnostics.read": {"admin": {}},
        "audit.read": {"admin": {}},
        "audit.verify": {"admin": {}},
        "audit.checkpoint": {"admin": {}},
        # What an outside witness reads (ADR 0030): signed checkpoints and consistency proofs. They hold
        # hashes and sizes, never an entry, so every role may read them: the more witnesses, the better.
        "audit.witness": {"admin": {}, "region": {}, "country": {}, "branch": {}, "service": {}},
        "artifacts.read": {"admin": {}},
        "artifacts.write": {"admin": {}},
        "tokens.manage": {"admin": {}},
        "policy.read": {"admin": {}},
        "places.read": {"admin": {}},
        "places.update": {"admin": {}},
        # Replacing the policy (PUT /operator/ops/policy); the lock-out guard keeps some role able to.
        "policy.update": {"admin": {}},
        # Change requests (ADR 0026): who may list and read them, and approve or reject them (the rule
        # under an operation's `approvals` names the roles whose approval counts). The emergency bypass
        # is granted to nobody by default: an admin grants it on purpose.
        "change_requests.read": {"admin": {}},
        "change_requests.review": {"admin": {}},
        "change_requests.bypass": {},
        # Signing in to the operator console (ADR 0021): operators of every scope (team counts as
        # branch), never engines: a service token is a machine's credential, not a person's.
        "console.use": {"admin": {}, "region": {}, "country": {}, "branch": {}},
        "snapshot.read": {"admin": {}, "service": {}},
        "engines.instance": {"admin": {}, "service": {}},
        # Engines (service) and end users of every scope call the AI runtime; ops settings still apply.
        "gateway.call": {"admin": {}, "service": {}, "region": {}, "country": {}, "branch": {}},
        # Uploads (POST /v1/files) bring content in to be transformed into training material: the
        # content pipeline's work (engines, as service) and admins', not every trainee's. Each upload
        # may be up to fileUploadLimitMb and is kept on disk. Grant region or country operators in the
        # stored policy where they curate content.
        "gateway.upload": {"admin": {}, "service": {}},
    }
}
