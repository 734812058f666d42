"""AuditService on an in-memory store: appends chain up, queries page newest first, cursors round-trip."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from trainer_ops.audit.models import AuditEntryRow
from trainer_ops.audit.service import AuditQuery, AuditService, decode_cursor, encode_cursor
from trainer_ops.audit.types import GENESIS_HASH, Action, Actor, chain_hash, entry_mac, leaf_hash
from trainer_ops.errors import Invalid
from trainer_ops.infra.clock import FakeClock

ADMIN = Actor(user_id="admin-1", role="admin", scope={})
REGION = Actor(user_id="region-1", role="region", scope={"region": "EU"})
MAC_KEY = b"k" * 32
# The in-memory store needs no database session.
NO_SESSION: Any = None


class InMemoryAuditStore:
    """The part of AuditStore's contract AuditService uses, kept in a list."""

    def __init__(self) -> None:
        self.rows: list[AuditEntryRow] = []
        self.locks = 0

    def lock_and_read_head(self, session: Any, then: Callable[[tuple[int, str, int]], None]) -> None:
        self.locks += 1
        last = self.rows[-1] if self.rows else None
        then((last.seq, last.hash, last.ts_ms) if last else (0, GENESIS_HASH, 0))

    def append_many(self, session: Any, rows: list[dict[str, Any]]) -> None:
        self.rows += [AuditEntryRow(**values) for values in rows]

    def query(
        self,
        session: Any,
        *,
        user_id: str | None,
        actions: Sequence[str],
        from_ms: int | None,
        to_ms: int | None,
        before_seq: int | None,
        limit: int,
    ) -> list[AuditEntryRow]:
        rows = [
            row
            for row in self.rows
            if (user_id is None or row.user_id == user_id)
            and (not actions or row.action in actions)
            and (from_ms is None or row.ts_ms >= from_ms)
            and (to_ms is None or row.ts_ms <= to_ms)
            and (before_seq is None or row.seq < before_seq)
        ]
        return sorted(rows, key=lambda row: -row.seq)[:limit]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store() -> InMemoryAuditStore:
    return InMemoryAuditStore()


@pytest.fixture
def audit(clock: FakeClock, store: InMemoryAuditStore) -> AuditService:
    return AuditService(clock=clock, mac_key=MAC_KEY, store=store)  # type: ignore[arg-type]


def append_one(audit: AuditService, n: int) -> int:
    return audit.append(
        NO_SESSION,
        actor=ADMIN if n % 2 == 1 else REGION,
        action=Action.UPDATE_CONFIG if n % 2 == 1 else Action.ACCESS_DENIED,
        target=f"target-{n}",
        after={"n": n},
        request_id=f"req-{n}",
    )


def append_some(audit: AuditService, clock: FakeClock, count: int, *, first: int = 1) -> None:
    """One batch as the BatchWriter runs it: begin, then per unit of work mark, append, flush."""
    audit.begin(NO_SESSION)
    for n in range(first, first + count):
        audit.mark()
        append_one(audit, n)
        audit.flush(NO_SESSION)
        clock.advance(1)
    audit.abort()


def test_append_outside_a_batch_is_refused(audit: AuditService) -> None:
    with pytest.raises(RuntimeError, match="batch writer"):
        append_one(audit, 1)


def test_begin_locks_the_chain(audit: AuditService, store: InMemoryAuditStore) -> None:
    audit.begin(NO_SESSION)

    assert store.locks == 1


def test_entries_reach_the_store_when_the_unit_is_flushed(
    audit: AuditService, store: InMemoryAuditStore
) -> None:
    audit.begin(NO_SESSION)
    audit.mark()
    append_one(audit, 1)
    append_one(audit, 2)

    assert store.rows == []
    audit.flush(NO_SESSION)
    assert [row.seq for row in store.rows] == [1, 2]


def test_append_numbers_entries_and_links_each_to_the_previous(
    audit: AuditService, clock: FakeClock, store: InMemoryAuditStore
) -> None:
    append_some(audit, clock, 3)

    assert [row.seq for row in store.rows] == [1, 2, 3]
    assert store.rows[0].prev_hash == GENESIS_HASH
    for prev, row in zip(store.rows, store.rows[1:], strict=False):
        assert row.prev_hash == prev.hash
    for row in store.rows:
        assert row.hash == chain_hash(row.prev_hash, row.body.encode())
        assert row.leaf_hash == leaf_hash(row.body.encode())
        assert row.mac == entry_mac(MAC_KEY, row.seq, row.hash)


def test_append_stamps_the_clocks_time(
    audit: AuditService, clock: FakeClock, store: InMemoryAuditStore
) -> None:
    append_some(audit, clock, 2)

    assert [row.ts_ms for row in store.rows] == [1_712_100_000_000, 1_712_100_001_000]


def test_entry_time_never_goes_back_along_the_chain(
    audit: AuditService, clock: FakeClock, store: InMemoryAuditStore
) -> None:
    append_some(audit, clock, 1)
    clock.advance(-60)
    append_some(audit, clock, 1, first=2)

    assert store.rows[1].ts_ms == store.rows[0].ts_ms


def test_a_new_batch_continues_from_the_stored_head(
    audit: AuditService, clock: FakeClock, store: InMemoryAuditStore
) -> None:
    append_some(audit, clock, 2)
    append_some(audit, clock, 1, first=3)

    assert [row.seq for row in store.rows] == [1, 2, 3]
    assert store.rows[2].prev_hash == store.rows[1].hash


def test_a_failed_unit_is_forgotten_and_the_next_one_takes_its_seq(
    audit: AuditService, store: InMemoryAuditStore
) -> None:
    audit.begin(NO_SESSION)
    mark = audit.mark()
    append_one(audit, 1)
    audit.reset(mark)  # the unit raised: its savepoint rolled back
    audit.mark()
    append_one(audit, 2)
    audit.flush(NO_SESSION)

    assert [(row.seq, row.target, row.prev_hash) for row in store.rows] == [(1, "target-2", GENESIS_HASH)]


def test_a_mac_key_changes_every_mac_but_no_hash() -> None:
    first, second = InMemoryAuditStore(), InMemoryAuditStore()
    for store, key in ((first, MAC_KEY), (second, b"other-key")):
        clock = FakeClock()
        service = AuditService(clock=clock, mac_key=key, store=store)  # type: ignore[arg-type]
        append_some(service, clock, 2)

    assert [r.hash for r in first.rows] == [r.hash for r in second.rows]
    assert all(a.mac != b.mac for a, b in zip(first.rows, second.rows, strict=True))


def test_query_pages_newest_first_with_a_cursor(audit: AuditService, clock: FakeClock) -> None:
    append_some(audit, clock, 5)
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = audit.query(NO_SESSION, AuditQuery(limit=2, cursor=cursor))
        seen += [item["seq"] for item in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert seen == [5, 4, 3, 2, 1]
    assert pages == 3


def test_query_last_full_page_has_no_next_cursor(audit: AuditService, clock: FakeClock) -> None:
    append_some(audit, clock, 2)

    assert audit.query(NO_SESSION, AuditQuery(limit=2)).next_cursor is None


def test_query_filters_by_user_action_and_time(audit: AuditService, clock: FakeClock) -> None:
    append_some(audit, clock, 5)

    by_user = audit.query(NO_SESSION, AuditQuery(user_id="region-1"))
    by_action = audit.query(NO_SESSION, AuditQuery(actions=("update_config",)))
    by_time = audit.query(NO_SESSION, AuditQuery(from_ms=1_712_100_001_000, to_ms=1_712_100_002_000))

    assert [item["seq"] for item in by_user.items] == [4, 2]
    assert [item["seq"] for item in by_action.items] == [5, 3, 1]
    assert [item["seq"] for item in by_time.items] == [3, 2]


def test_query_items_carry_step1_fields_and_ours(audit: AuditService, clock: FakeClock) -> None:
    append_some(audit, clock, 2)

    item = audit.query(NO_SESSION, AuditQuery(limit=1)).items[0]

    assert item["actor"] == {"userId": "region-1", "role": "region", "scope": {"region": "EU"}}
    assert item["action"] == "access_denied"
    assert item["targetId"] == item["target"] == "target-2"
    assert item["scope"] == {"region": "EU"}
    assert item["timestamp"] == 1_712_100_001
    assert item["time"] == "2024-04-02T23:20:01.000+00:00"
    assert item["details"] == {}
    assert item["userId"] == "region-1"
    assert (item["seq"], item["requestId"], item["outcome"]) == (2, "req-2", "success")
    assert (item["before"], item["after"]) == (None, {"n": 2})
    assert len(item["hash"]) == len(item["prevHash"]) == 64


@pytest.mark.parametrize("limit", [0, -1, 501])
def test_query_refuses_page_size_outside_one_to_500(audit: AuditService, limit: int) -> None:
    with pytest.raises(Invalid) as caught:
        audit.query(NO_SESSION, AuditQuery(limit=limit))
    assert caught.value.code == "audit.bad_limit"


def test_query_refuses_unknown_action_and_lists_known_ones(audit: AuditService) -> None:
    with pytest.raises(Invalid) as caught:
        audit.query(NO_SESSION, AuditQuery(actions=("update_config", "delete")))
    assert caught.value.code == "audit.unknown_action"
    assert "'delete'" in caught.value.message
    assert "predict" in caught.value.message


@pytest.mark.parametrize("seq", [0, 1, 9, 10, 12345, 2**53])
def test_cursor_round_trips(seq: int) -> None:
    cursor = encode_cursor(seq)

    assert decode_cursor(cursor) == seq
    assert "=" not in cursor


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "%%%",
        "5",
        base64.urlsafe_b64encode(b"x:5").decode(),
        base64.urlsafe_b64encode(b"s:abc").decode(),
        base64.urlsafe_b64encode(b"s:").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_bad_cursor_is_invalid(cursor: str) -> None:
    with pytest.raises(Invalid) as caught:
        decode_cursor(cursor)
    assert caught.value.code == "audit.bad_cursor"
    assert caught.value.errors == [{"field": "cursor", "message": "not a valid cursor"}]
