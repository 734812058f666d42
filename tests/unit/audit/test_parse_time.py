"""parse_time_ms: the audit query's from/to, as epoch seconds (the contract's form) or ISO-8601."""

from __future__ import annotations

import pytest

from trainer_ops.audit.routes import parse_time_ms
from trainer_ops.errors import Invalid


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1712100000", 1_712_100_000_000),
        ("1712100000.5", 1_712_100_000_500),
        ("0", 0),
        ("2024-04-02T23:20:00Z", 1_712_100_000_000),
        ("2024-04-02T23:20:00+00:00", 1_712_100_000_000),
        ("2024-04-03T08:20:00+09:00", 1_712_100_000_000),
        ("2024-04-02T23:20:00.250Z", 1_712_100_000_250),
        ("2024-04-02T23:20:00", 1_712_100_000_000),
        ("2024-04-02", 1_712_016_000_000),
    ],
)
def test_parse_time_ms_reads_epoch_seconds_and_iso8601(value: str, expected: int) -> None:
    assert parse_time_ms(value, "from") == expected


@pytest.mark.parametrize("value", [None, ""])
def test_parse_time_ms_absent_is_none(value: str | None) -> None:
    assert parse_time_ms(value, "to") is None


@pytest.mark.parametrize("value", ["timestamp", "yesterday", "2024-13-01", "12:00"])
def test_parse_time_ms_refuses_other_text_naming_the_field(value: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_time_ms(value, "to")
    assert caught.value.code == "audit.bad_time"
    assert caught.value.errors == [{"field": "to", "message": "epoch seconds or ISO-8601"}]


# Epoch seconds must be a finite number from 0 to 253402300799 (9999-12-31T23:59:59Z); int(float('inf'))
# once escaped as OverflowError and a far-off epoch reached the store: both answered 500.
@pytest.mark.parametrize("value", ["inf", "-inf", "1e400"])
def test_parse_time_ms_refuses_infinite_numbers(value: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_time_ms(value, "from")
    assert caught.value.code == "audit.bad_time"
    assert [error["field"] for error in caught.value.errors] == ["from"]


@pytest.mark.parametrize("value", ["nan", "-1", "-0.5", "253402300800", "99999999999999999999"])
def test_parse_time_ms_refuses_epoch_seconds_out_of_range_naming_the_field(value: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_time_ms(value, "to")
    assert caught.value.code == "audit.bad_time"
    assert [error["field"] for error in caught.value.errors] == ["to"]


def test_parse_time_ms_accepts_the_last_second_of_year_9999() -> None:
    assert parse_time_ms("253402300799", "to") == 253_402_300_799_000
