"""Change requests as values: their states, who may approve one, and their public view (no I/O)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import orjson

from trainer_ops.access.places import PlaceIndex
from trainer_ops.access.types import Principal, Role, contains

OPERATION_READ = "change_requests.read"
OPERATION_REVIEW = "change_requests.review"


class State(StrEnum):
    PENDING = "pending"  # waits for approvals
    APPROVED = "approved"  # approved (or needing none) and waiting for its applyAt
    # Taken by one caller or replica to run a fleet round (a reload, a release): no one else runs it.
    APPLYING = "applying"
    APPLIED = "applied"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    CONFLICTED = "conflicted"  # the document moved (or the change no longer passes) when approved
    SUSPENDED = "suspended"  # the same, found by the scheduler at applyAt: never applied


OPEN = frozenset({State.PENDING, State.APPROVED})


def place_of(scope: dict[str, str]) -> str | None:
    """The author's most specific place, which a non-admin approver must hold."""
    return scope.get("branch") or scope.get("country") or scope.get("region")


def approval_refusal(
    who: Principal,
    *,
    author: tuple[str, str],
    author_scope: dict[str, str],
    approvers: list[str],
    self_approval: bool,
    places: PlaceIndex,
) -> tuple[str, str] | None:
    """(refusal, message) when `who` may not approve or reject this request; None when they may.
    The refusal is a key of service.REFUSALS, the reasons the 403 carries."""
    if (who.user_id, who.role.value) == author and not self_approval:
        return (
            "self_approval",
            "the author may not approve or reject their own change request; cancel it instead",
        )
    role = Role.BRANCH if who.role is Role.TEAM else who.role
    if role.value not in approvers:
        return (
            "not_approver",
            f"role {who.role.value!r} may not approve this change; approvers: {', '.join(approvers)}",
        )
    place = place_of(author_scope)
    if role is not Role.ADMIN and (place is None or not contains(who, place, places)):
        return (
            "not_approver",
            f"the change was asked for {place or 'every place'}, outside the approver's own place",
        )
    return None


def loads(text: str | None) -> Any:
    return orjson.loads(text) if text else None
