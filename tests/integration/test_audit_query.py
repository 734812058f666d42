"""GET /operator/ops/audit (spec section 7): filters, time ranges, paging, parameter errors.

The services run on a fake clock here, so that entries land at known times an hour apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from trainer_ops.app import Ops, build_ops
from trainer_ops.config import Settings
from trainer_ops.infra.clock import FakeClock

from .support import (
    AUDIT,
    FEATURES,
    LIMITS,
    MODEL_CONFIG,
    assert_problem,
    audit_page,
    bearer,
    check_each,
    lenient,
)

START = 1_712_100_000  # the contract's own example date (2024-04-02T23:20:00Z)
HOUR = 3600


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=float(START))


@pytest.fixture
def ops(settings: Settings, clock: FakeClock) -> Iterator[Ops]:
    built = build_ops(settings, clock=clock)
    yield built
    built.close()


@dataclass(frozen=True)
class Timeline:
    """Three changes and one denial, one hour apart after the store's bootstrap at START."""

    admin_change: int  # START + 1h: admin changes the model config
    region_change: int  # START + 2h: region operator "eu-ops" sets an override
    denial: int  # START + 3h: branch operator "br-ops" is refused
    limits_change: int  # START + 4h: admin changes limits


@pytest.fixture
def timeline(client: TestClient, clock: FakeClock, token_for: Callable[..., str]) -> Timeline:
    eu = token_for("region", region="EU", user="eu-ops")
    branch = token_for("branch", branch="B-1", user="br-ops")
    steps: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
        ("PATCH", MODEL_CONFIG, {"temperature": 0.3}, {}),
        ("PATCH", f"{FEATURES}/quiz_auto_generate", {"enabled": True}, bearer(eu)),
        ("PATCH", LIMITS, {"aiCallsPerMinute": 5}, bearer(branch)),
        ("PATCH", LIMITS, {"aiCallsPerMinute": 90}, {}),
    ]
    times = []
    for method, path, body, headers in steps:
        clock.advance(HOUR)
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code in (200, 403), response.text
        times.append(int(clock.now()))
    return Timeline(*times)


def all_items(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    return list(audit_page(client, limit=500, **params)["items"])


def iso(epoch: int, tz: timezone = UTC) -> str:
    return datetime.fromtimestamp(epoch, tz=tz).isoformat()


def test_audit_entries_carry_our_and_step1_fields_newest_first(
    client: TestClient, timeline: Timeline
) -> None:
    entry = all_items(client, userId="eu-ops")[0]

    assert entry["action"] == "update_config"
    assert entry["timestamp"] == timeline.region_change
    assert entry["targetId"] == entry["target"] == "feature:quiz_auto_generate@EU"
    assert entry["actor"]["userId"] == "eu-ops"
    assert entry["scope"] == {"place": "EU"}  # the place the change was limited to (ADR 0027)
    assert isinstance(entry["details"], dict)
    for key in ("seq", "before", "after", "outcome", "requestId", "prevHash", "hash"):
        assert key in entry
    seqs = [e["seq"] for e in all_items(client)]
    assert seqs == sorted(seqs, reverse=True)  # newest first
    assert len(seqs) == len(set(seqs))


def test_audit_query_by_user_id_alone_or_with_other_filters_returns_only_matches(
    client: TestClient, timeline: Timeline
) -> None:
    eu = all_items(client, userId="eu-ops")
    branch = all_items(client, userId="br-ops")
    combined = all_items(
        client, action="update_config", userId="bootstrap-admin", **{"from": str(timeline.denial)}
    )

    assert [(e["action"], e["target"]) for e in eu] == [("update_config", "feature:quiz_auto_generate@EU")]
    assert [(e["action"], e["target"]) for e in branch] == [("access_denied", "limits.update")]
    assert all_items(client, userId="nobody") == []
    assert [(e["target"], e["timestamp"]) for e in combined] == [("limits", timeline.limits_change)]


def test_audit_query_by_action_or_comma_list_of_actions_returns_only_those(
    client: TestClient, timeline: Timeline
) -> None:
    denied = all_items(client, action="access_denied")
    updates = all_items(client, action="update_config")
    both = all_items(client, action="update_config, access_denied")

    assert [e["userId"] for e in denied] == ["br-ops"]
    assert updates
    assert {e["action"] for e in updates} == {"update_config"}
    assert all_items(client, action="publish") == []
    assert sorted(e["seq"] for e in both) == sorted(e["seq"] for e in denied + updates)


def test_audit_query_by_epoch_seconds_or_iso_8601_range_is_inclusive(
    client: TestClient, timeline: Timeline
) -> None:
    middle = all_items(client, **{"from": str(timeline.region_change), "to": str(timeline.denial)})
    since = all_items(client, **{"from": str(timeline.denial)})
    until = all_items(client, to=str(timeline.admin_change))
    assert [e["timestamp"] for e in middle] == [timeline.denial, timeline.region_change]
    assert [e["timestamp"] for e in since] == [timeline.limits_change, timeline.denial]
    assert {e["timestamp"] for e in until} == {START, timeline.admin_change}

    spellings: dict[str, Callable[[int], str]] = {
        "utc-offset": lambda t: iso(t),
        "zulu": lambda t: iso(t).replace("+00:00", "Z"),
        "kst-offset": lambda t: iso(t, timezone(timedelta(hours=9))),
        "naive-is-utc": lambda t: iso(t).replace("+00:00", ""),
    }

    def check(spell: Callable[[int], str]) -> None:
        items = all_items(client, **{"from": spell(timeline.region_change), "to": spell(timeline.denial)})
        assert [e["timestamp"] for e in items] == [timeline.denial, timeline.region_change]

    check_each(spellings.items(), check)


def test_audit_time_never_goes_backwards_when_the_clock_does(
    client: TestClient, clock: FakeClock, timeline: Timeline
) -> None:
    clock.value -= 2 * HOUR  # e.g. a replica whose clock runs behind

    response = client.patch(LIMITS, json={"aiCallsPerMinute": 91})

    assert response.status_code == 200
    newest = all_items(client)[0]
    assert newest["after"] == {"aiCallsPerMinute": 91}
    assert newest["timestamp"] == timeline.limits_change
    since = all_items(client, **{"from": str(timeline.limits_change)})
    assert [e["after"] for e in since] == [{"aiCallsPerMinute": 91}, {"aiCallsPerMinute": 90}]


def collect_pages(client: TestClient, limit: int, **params: Any) -> tuple[list[int], int]:
    seqs: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = audit_page(client, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        pages += 1
        assert len(page["items"]) <= limit
        seqs += [e["seq"] for e in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            return seqs, pages
        assert pages < 100, "paging does not end"


def test_audit_paging_with_limit_and_cursor_returns_every_entry_exactly_once(
    client: TestClient, timeline: Timeline
) -> None:
    def check(params: dict[str, str]) -> None:
        everything = [e["seq"] for e in all_items(client, **params)]
        paged, pages = collect_pages(client, 2, **params)
        assert paged == everything
        assert pages == -(-len(everything) // 2)

    check_each([("all", {}), ("filtered", {"action": "update_config"})], check)


def test_audit_query_with_bad_parameter_is_422_naming_it_and_by_non_admin_is_403(
    client: TestClient, token_for: Callable[..., str]
) -> None:
    bad = [
        {"cursor": "not-a-cursor"},
        {"cursor": "eDox"},  # base64 of "x:1": well-formed, but not ours
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "ten"},
        {"action": "delete"},
        {"action": "update_config,nope"},
        {"from": "yesterday"},
        {"to": "2024-13-45T00:00:00Z"},
    ]

    def check(params: dict[str, str]) -> None:
        assert_problem(
            client.get(AUDIT, params=params), 422, code="VALIDATION_ERROR", field=next(iter(params))
        )

    check_each(((str(p), p) for p in bad), check)
    for token in (token_for("region", region="EU"), token_for("country", country="KR")):
        assert_problem(client.get(AUDIT, headers=bearer(token)), 403, code="INVALID_SCOPE")


def test_audit_query_with_out_of_range_time_is_422_not_500(client: TestClient) -> None:
    def check(value: str) -> None:
        assert_problem(lenient(client).get(AUDIT, params={"from": value}), 422, field="from")

    check_each(((v, v) for v in ["inf", "1e400", "99999999999999999999"]), check)


def test_audit_query_with_out_of_range_cursor_is_422_not_500(client: TestClient) -> None:
    # decode_cursor once took any integer after 's:', and one past BIGINT reached the store (500).
    cursor = "czo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk"  # base64 of "s:" + 24 nines
    response = lenient(client).get(AUDIT, params={"cursor": cursor})

    assert_problem(response, 422, field="cursor")


def test_audit_query_pages_a_comma_list_of_actions_newest_first_without_gaps(
    client: TestClient, ops: Ops
) -> None:
    from trainer_ops.audit.types import SYSTEM_ACTOR, Action

    kinds = [Action.RELOAD, Action.PUBLISH, Action.PREDICT, Action.RELOAD, Action.ROLLBACK]
    for n in range(40):
        ops.write(
            lambda session, n=n: ops.audit.append(
                session, actor=SYSTEM_ACTOR, action=kinds[n % len(kinds)], target=f"t-{n}"
            )
        )
    wanted = [e["seq"] for e in all_items(client) if e["action"] in ("reload", "rollback")]
    seen: list[int] = []
    cursor = None
    while True:
        page = audit_page(client, action="reload,rollback", limit=3, **({"cursor": cursor} if cursor else {}))
        seen += [e["seq"] for e in page["items"]]
        cursor = page.get("nextCursor")
        if not cursor:
            break
    assert len(wanted) == 24
    assert seen == wanted
