"""Times in the operator's zone."""

from __future__ import annotations

from datetime import UTC

import pytest

from trainer_ops.console.timefmt import iso, show, zone_of

EPOCH = 1712100000  # 2024-04-02 23:20:00 UTC


def test_a_known_zone_shows_local_time_with_its_abbreviation() -> None:
    assert show(EPOCH, zone_of("Asia/Seoul")) == "2024-04-03 08:20:00 KST"
    assert show(EPOCH, zone_of("UTC")) == "2024-04-02 23:20:00 UTC"


@pytest.mark.parametrize("name", [None, "", "Mars/Base", "../../etc/passwd", "x" * 100])
def test_no_zone_or_a_bad_one_is_utc(name: str | None) -> None:
    assert zone_of(name) is UTC


def test_iso_is_the_utc_instant_and_none_shows_nothing() -> None:
    assert iso(EPOCH) == "2024-04-02T23:20:00+00:00"
    assert show(None, UTC) == ""
    assert iso(None) == ""
