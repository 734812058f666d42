"""The policy document's rules, pure: the policy in force, its JSON Schema, its checks, the lock-out guard."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from trainer_ops.access.types import CONDITIONS, DEFAULT_POLICY, Policy, Principal, Role

KIND = "policy"
UPDATE = "policy.update"
READ = "policy.read"

# The views an operation's handler understands (features: http/guard.scoped_place and the features
# routes; health: HealthService). Any other view would be stored and silently read as "not full".
# Features: `own_place` limits a caller to its own place (ADR 0027); `own_region`, its older name, means
# the same (for a region operator, its region).
VIEWS: dict[str, tuple[str, ...]] = {
    "features.read": ("full", "own_region", "own_place"),
    "features.update": ("full", "own_region", "own_place"),
    "health.read": ("full", "engines", "status"),
}
DEFAULT_VIEWS = ("full",)
# `team` is decided as `branch` (Policy.decide), so a rule written under `team` would never apply.
ROLES = tuple(role.value for role in Role if role is not Role.TEAM)
# The engine type the design spells `mission` in hot reload; `missions` is the canonical name.
ENGINE_ALIASES = {"mission": "missions"}


REVIEW = "change_requests.review"
# The operations whose writes a change request can hold (app._governed_writes and the fleet operations
# of governed.fleet_actions, ADR 0026).
GOVERNED = (
    "model_config.update",
    "limits.update",
    "features.create",
    "features.update",
    "policy.update",
    "places.update",
    "hot_reload",
    "release.create",
    "release.rollback",
)
BYPASS = "change_requests.bypass"
# A write the rule allows waits as a change request for these approvals (ADR 0026). `approvers` are
# roles; a non-admin approver must hold the author's place.
APPROVALS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["minApprovals"],
    "description": "the role's writes wait as change requests for this many approvals",
    "properties": {
        "minApprovals": {"type": "integer", "minimum": 1, "maximum": 10},
        "approvers": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"enum": [r.value for r in Role if r not in (Role.TEAM, Role.SERVICE)]},
            "description": "the roles whose approval counts (default: admin)",
        },
        "selfApproval": {"type": "boolean", "description": "may the author approve (default: false)"},
    },
}


def known_operations() -> list[str]:
    """Read when asked, not at import: an operation added to DEFAULT_POLICY is known at once."""
    return sorted(DEFAULT_POLICY["operations"])


def in_force(stored: dict[str, Any]) -> dict[str, Any]:
    """The stored document's operations over the built-in defaults: an operation added by a newer
    release is governed by its default rule on a store whose policy predates it."""
    return {"operations": {**DEFAULT_POLICY["operations"], **stored.get("operations", {})}}


def schema(engine_types: Collection[str] | None) -> dict[str, Any]:
    """The JSON Schema of a policy document. `engine_types` None: any string (OpenAPI is built without
    the engine registry; GET /operator/ops/policy/schema names the types this server runs)."""
    engines: dict[str, Any] = {"enum": sorted(engine_types)} if engine_types is not None else {}
    operations = {
        op: _by_role(VIEWS.get(op, DEFAULT_VIEWS), engines, approvals=op in GOVERNED)
        for op in known_operations()
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Policy",
        "description": "Who may do what: operation -> role -> rule. An operation left out keeps its "
        "built-in default rule; an operation with no roles (`{}`) is denied to everyone.",
        "type": "object",
        "required": ["operations"],
        "additionalProperties": False,
        "properties": {
            "operations": {
                "type": "object",
                "propertyNames": {"enum": known_operations()},
                "properties": operations,
            }
        },
    }


def _by_role(views: tuple[str, ...], engines: dict[str, Any], *, approvals: bool) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "view": {"enum": list(views), "description": "how much of the answer the role sees"},
            "conditions": {
                "type": "array",
                "uniqueItems": True,
                "items": {"enum": sorted(CONDITIONS)},
                "description": "every condition must hold for the request",
            },
            "engineIn": {
                "type": "array",
                "uniqueItems": True,
                "items": {"type": "string", **engines},
                "description": "the engine types the rule covers (hot reload)",
            },
        },
    }
    if approvals:  # only where a change request can hold the write: elsewhere it would never apply
        rule["properties"]["approvals"] = APPROVALS_SCHEMA
    return {"type": "object", "propertyNames": {"enum": list(ROLES)}, "additionalProperties": rule}


def normalise(document: dict[str, Any]) -> dict[str, Any]:
    """Engine aliases to their canonical names, as everywhere else (design.md). Anything not shaped
    like a policy is left as it is, for `errors` to name."""
    operations = document.get("operations") if isinstance(document, dict) else None
    for by_role in operations.values() if isinstance(operations, dict) else ():
        for rule in by_role.values() if isinstance(by_role, dict) else ():
            engines = rule.get("engineIn") if isinstance(rule, dict) else None
            if isinstance(engines, list):
                rule["engineIn"] = [ENGINE_ALIASES.get(e, e) if isinstance(e, str) else e for e in engines]
    return document


def errors(document: Any, engine_types: Collection[str]) -> list[dict[str, str]]:
    """Every problem with `document`, each naming its JSON path (`operations/limits.read/region`)."""
    validator = Draft202012Validator(schema(engine_types))
    found = [item for error in validator.iter_errors(document) for item in _explain(error)]
    return sorted(found, key=lambda e: e["field"])


def _explain(error: ValidationError) -> Iterable[dict[str, str]]:
    path = [str(p) for p in error.absolute_path]
    instance: Any = error.instance  # typed as possibly unset; always set on a reported error
    values: Any = error.validator_value
    if "propertyNames" in error.schema_path:
        name = str(instance)
        what = {1: "operation", 2: "role"}.get(len(path), "field")
        known = {1: known_operations(), 2: list(ROLES)}.get(len(path), [])
        hint = " (`team` is decided as `branch`: write the rule under `branch`)" if name == "team" else ""
        yield _at([*path, name], f"unknown {what} {name!r}{hint}; known: {', '.join(known)}")
    elif error.validator == "additionalProperties" and isinstance(error.schema, dict):
        allowed = sorted(error.schema.get("properties", {}))
        for name in sorted(set(instance) - set(allowed)):
            yield _at([*path, name], f"unknown field; allowed here: {', '.join(allowed)}")
    elif error.validator == "enum" and len(path) >= 2:
        field = path[-1] if path[-1] == "view" else path[-2]
        what = {"view": "view", "conditions": "condition", "engineIn": "engine type"}.get(field, "value")
        choices = ", ".join(str(v) for v in values)
        yield _at(path, f"unknown {what} {instance!r}; known here: {choices}")
    else:
        yield _at(path, error.message)


def _at(path: list[str], message: str) -> dict[str, str]:
    return {"field": "/".join(path) or "(root)", "message": message}


def lockout(document: dict[str, Any]) -> str:
    """Why `document` (a policy in force) would leave nobody able to govern the policy; "" if it would not.

    Some role must be able both to change the policy and to read it: a change needs the current version
    (If-Match) and its history, and a role that could only read could never undo a mistake. Each role is
    tried as a principal with every scope attribute set, with the attributes those operations are
    authorized with (none), so a rule under `engineIn` or `region_overridable` counts as unmeetable.
    """
    policy = Policy.from_document(document, version=0)
    for role in ROLES:
        who = Principal("lockout-check", Role(role), region="R", country="C", branch="B")
        allowed = policy.decide(who, UPDATE).allowed and policy.decide(who, READ).allowed
        if allowed and _can_land(policy, who):
            return ""
    return (
        f"no role could both {UPDATE} and {READ} under this policy, so nobody could change it again; "
        "keep at least one role (admin, as by default) with both, without conditions it cannot meet, "
        "and whose policy changes need no approvals, or approvals a role may give (change_requests.review)"
    )


def _can_land(policy: Policy, who: Principal) -> bool:
    """Can `who`'s policy change take effect? At once; or by approval of a role that may review; or
    through the emergency bypass. Whether enough people hold that role is not the policy's to know."""
    approvals = policy.approvals_for(who, UPDATE)
    if approvals is None or policy.decide(who, BYPASS).allowed:
        return True
    for approver in approvals.approvers:
        reviewer = Principal("lockout-check", approver, region="R", country="C", branch="B")
        if policy.decide(reviewer, REVIEW).allowed:
            return True
    return False


def changed_operations(
    before: dict[str, Any], after: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The operations whose rules differ, before and after (None where an operation did not exist)."""
    old, new = before["operations"], after["operations"]
    names = sorted(name for name in {*old, *new} if old.get(name) != new.get(name))
    return {name: old.get(name) for name in names}, {name: new.get(name) for name in names}
