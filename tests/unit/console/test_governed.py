"""The console's reading of a form's "apply at" (console/governed.py): a wall-clock time in the
operator's zone, the API's own checks after it, and the places a form offers (console/places_reach.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from trainer_ops.access.places import PlaceIndex
from trainer_ops.access.types import Principal, Role
from trainer_ops.console.governed import apply_at_of
from trainer_ops.console.places_reach import reachable
from trainer_ops.errors import Invalid

NOW_MS = int(datetime(2026, 11, 29, 6, 0, tzinfo=UTC).timestamp() * 1000)
SEOUL = ZoneInfo("Asia/Seoul")
BERLIN = ZoneInfo("Europe/Berlin")


def test_a_wall_clock_time_is_read_in_the_operators_zone() -> None:
    moment = apply_at_of("2026-12-01T06:00", SEOUL, NOW_MS)
    assert moment == int(datetime(2026, 11, 30, 21, 0, tzinfo=UTC).timestamp() * 1000)
    assert apply_at_of("2026-12-01T06:00", UTC, NOW_MS) == int(
        datetime(2026, 12, 1, 6, 0, tzinfo=UTC).timestamp() * 1000
    )


def test_a_time_with_its_own_offset_or_epoch_seconds_is_taken_as_the_api_takes_it() -> None:
    assert apply_at_of("2026-12-01T06:00:00+00:00", SEOUL, NOW_MS) == apply_at_of(
        "2026-12-01T06:00", UTC, NOW_MS
    )
    assert apply_at_of("1796104800", SEOUL, NOW_MS) == 1796104800 * 1000


def test_an_ambiguous_autumn_hour_is_its_first_occurrence() -> None:
    # 2026-10-25 02:30 happens twice in Berlin; the first is still summer time (UTC+2).
    assert apply_at_of("2026-10-25T02:30", BERLIN, NOW_MS) == int(
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC).timestamp() * 1000
    )


def test_nothing_is_no_time() -> None:
    assert apply_at_of("  ", SEOUL, NOW_MS) is None


@pytest.mark.parametrize("text", ["tomorrow", "2026-13-01T06:00", "2040-01-01T06:00", "nan"])
def test_what_is_not_a_time_or_too_far_ahead_is_the_apis_422(text: str) -> None:
    with pytest.raises(Invalid) as refused:
        apply_at_of(text, SEOUL, NOW_MS)
    assert refused.value.code == "change_requests.bad_apply_at"


PLACES = PlaceIndex.from_document(
    {
        "regions": [
            {
                "code": "APAC",
                "name": "Asia Pacific",
                "countries": [
                    {"code": "KR", "name": "Korea", "branches": [{"code": "KR-0012", "name": "Gangnam"}]},
                    {"code": "JP", "name": "Japan", "branches": []},
                ],
            },
            {"code": "EU", "name": "Europe", "countries": []},
        ]
    },
    version=2,
)


def test_a_form_offers_the_operators_own_place_and_what_lies_under_it_admins_every_place() -> None:
    admin = Principal(user_id="a", role=Role.ADMIN)
    country = Principal(user_id="k", role=Role.COUNTRY, region="APAC", country="KR")
    offered = reachable(admin, PLACES)
    assert offered is not None
    assert [(o.code, o.depth) for o in offered] == [
        ("APAC", 0),
        ("KR", 1),
        ("KR-0012", 2),
        ("JP", 1),
        ("EU", 0),
    ]
    assert [o.code for o in reachable(country, PLACES) or []] == ["KR", "KR-0012"]
    assert reachable(country, PlaceIndex()) is None  # an empty catalogue: the code is typed
