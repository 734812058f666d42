"""LimitsUpdate: validated as the HTTP edge does it (JSON, strict): positive integers under a ceiling."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from trainer_ops.limits.schemas import LimitsUpdate
from trainer_ops.limits.types import (
    DEFAULT_LIMITS,
    MAX_AI_CALLS_PER_MINUTE,
    MAX_CONCURRENT_SESSIONS,
    MAX_FILE_UPLOAD_MB,
    MAX_SESSIONS_PER_USER,
    limit,
)

SPEC_6_1 = '{"aiCallsPerMinute": 60, "fileUploadLimitMb": 200, "maxConcurrentSessions": 30}'
CEILINGS = {
    "aiCallsPerMinute": MAX_AI_CALLS_PER_MINUTE,
    "fileUploadLimitMb": MAX_FILE_UPLOAD_MB,
    "maxConcurrentSessions": MAX_CONCURRENT_SESSIONS,
    "maxSessionsPerUser": MAX_SESSIONS_PER_USER,
}


def parse(raw: str) -> LimitsUpdate:
    # http.body.parse_body validates exactly like this.
    return LimitsUpdate.model_validate_json(raw, strict=True)


def refused_fields(raw: str) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        parse(raw)
    return [".".join(str(p) for p in e["loc"]) for e in caught.value.errors()]


def test_spec_6_1_shape_is_a_valid_update_of_every_field() -> None:
    assert parse(SPEC_6_1).changes() == {k: v for k, v in DEFAULT_LIMITS.items() if k in SPEC_6_1}


def test_partial_update_changes_only_the_fields_sent() -> None:
    assert parse('{"aiCallsPerMinute": 120}').changes() == {"aiCallsPerMinute": 120}


@pytest.mark.parametrize("field", sorted(CEILINGS))
def test_each_limit_accepts_one_and_its_ceiling(field: str) -> None:
    assert parse(f'{{"{field}": 1}}').changes() == {field: 1}
    assert parse(f'{{"{field}": {CEILINGS[field]}}}').changes() == {field: CEILINGS[field]}


@pytest.mark.parametrize("field", sorted(CEILINGS))
def test_each_limit_refuses_zero_negative_and_above_ceiling(field: str) -> None:
    for value in (0, -1, CEILINGS[field] + 1):
        assert refused_fields(f'{{"{field}": {value}}}') == [field]


@pytest.mark.parametrize("value", ['"60"', "60.0", "60.5", "true", "null", "[60]"])
def test_non_integers_and_null_are_refused(value: str) -> None:
    assert refused_fields(f'{{"aiCallsPerMinute": {value}}}') == ["aiCallsPerMinute"]


def test_unknown_field_is_refused() -> None:
    assert refused_fields('{"aiCallsPerMinute": 60, "burst": 5}') == ["burst"]


def test_a_document_without_a_newer_limit_reads_its_default() -> None:
    older = {"aiCallsPerMinute": 60, "fileUploadLimitMb": 200, "maxConcurrentSessions": 30}

    assert limit(older, "maxSessionsPerUser") == DEFAULT_LIMITS["maxSessionsPerUser"] == 3
    assert limit({**older, "maxSessionsPerUser": 7}, "maxSessionsPerUser") == 7
