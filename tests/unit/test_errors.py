"""The error hierarchy: every class renders as RFC 9457 with its members intact, reserved members
and free-text reasons are refused when an error is built, and each status has one Step 1 code."""

from __future__ import annotations

import importlib

import pytest

from trainer_ops import errors
from trainer_ops.errors import (
    RESERVED_MEMBERS,
    STEP1_CODE_OF_STATUS,
    MethodNotAllowed,
    TooManyRequests,
    TrainerOpsError,
    Unavailable,
)
from trainer_ops.http.problems import problem_body

from .error_sites import class_modules


def every_error_class() -> list[type[TrainerOpsError]]:
    """TrainerOpsError and each subclass defined anywhere in src/ (imported, then walked)."""
    for module in set(class_modules().values()):
        importlib.import_module(module)
    found: list[type[TrainerOpsError]] = []
    pending: list[type[TrainerOpsError]] = [TrainerOpsError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending += cls.__subclasses__()
    return sorted(found, key=lambda c: (c.status, c.__name__))


CLASSES = every_error_class()


def test_every_error_class_defined_in_src_is_found() -> None:
    assert {c.__name__ for c in CLASSES} >= set(class_modules())


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_each_error_class_renders_rfc_9457_members_intact(cls: type[TrainerOpsError]) -> None:
    error = cls(
        "tests.example", "what went wrong", extra={"limit": 3}, errors=[{"field": "f", "message": "m"}]
    )

    body = problem_body(error, instance="/operator/ops/x", request_id="rid-1")

    assert body == {
        "type": "urn:trainer-ops:problem:tests.example",
        "title": cls.title,
        "status": cls.status,
        "detail": "what went wrong",
        "instance": "/operator/ops/x",
        "code": STEP1_CODE_OF_STATUS[cls.status],
        "reason": "tests.example",
        "requestId": "rid-1",
        "errors": [{"field": "f", "message": "m"}],
        "limit": 3,
    }
    assert isinstance(body["status"], int)
    assert error.fault is (cls.status >= 500) or "fault" in vars(cls)


@pytest.mark.parametrize("member", sorted(RESERVED_MEMBERS))
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_an_extension_that_reuses_a_reserved_member_is_refused_when_built(
    cls: type[TrainerOpsError], member: str
) -> None:
    with pytest.raises(ValueError, match="standard member"):
        cls("tests.example", "detail", extra={"note": 1, member: "rolled_back"})


def test_a_reserved_member_slipped_into_extra_afterwards_never_replaces_a_standard_one() -> None:
    error = errors.Conflict(
        "engines.rolled_back", "e1: ValueError: refuse B", extra={"outcome": "rolled_back"}
    )
    error.extra["status"] = "rolled_back"
    error.extra["reason"] = "e1: ValueError: refuse B"

    body = problem_body(error, instance="/x", request_id="r")

    assert (body["status"], body["reason"], body["outcome"]) == (409, "engines.rolled_back", "rolled_back")


@pytest.mark.parametrize(
    "reason",
    ["internal", "e1: ValueError: refuse B", "Engines.rolled_back", "engines.", ".x", "a..b", "a.b-c", ""],
)
def test_a_reason_that_is_not_a_dotted_token_is_refused_when_built(reason: str) -> None:
    with pytest.raises(ValueError, match="dotted token"):
        TrainerOpsError(reason, "detail")


def test_step1_codes_say_what_a_405_a_429_and_a_503_are() -> None:
    assert MethodNotAllowed.family_code == "METHOD_NOT_ALLOWED"
    assert TooManyRequests.family_code == "RATE_LIMITED"
    assert Unavailable.family_code == "SERVICE_UNAVAILABLE"
    for cls in CLASSES:
        assert cls.family_code == STEP1_CODE_OF_STATUS[cls.status], cls


def test_a_class_with_a_status_that_has_no_step1_code_is_refused_at_definition() -> None:
    with pytest.raises(TypeError, match="no Step 1 code"):

        class Teapot(TrainerOpsError):
            status = 418


def test_a_5xx_is_a_fault_unless_raised_as_a_deliberate_refusal_and_a_4xx_never_is() -> None:
    assert Unavailable("store.unavailable", "down").fault is True
    assert Unavailable("gateway.disabled", "off", fault=False).fault is False
    assert TooManyRequests("gateway.rate_limited", "slow down").fault is False
    assert TrainerOpsError("http.internal", "boom").fault is True
