"""Expired console sessions are deleted by a periodic purge on every replica (not only at the next
sign-in): only the expired ones, idempotently, and the app's lifespan runs it, on both stores."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from trainer_ops.app import Ops
from trainer_ops.config import Settings
from trainer_ops.console.models import ConsoleSessionRow
from trainer_ops.infra.clock import FakeClock

from ..support import ADMIN_TOKEN, app_client
from .helpers import browser, new_token, signed_in

HOUR = 3600


@pytest.fixture
def ops(clocked_ops: Ops) -> Ops:
    """The app on the fake clock (conftest.py): these tests move time on."""
    return clocked_ops


def users_with_sessions(ops: Ops) -> list[str]:
    with ops.database.read() as session:
        return sorted(session.scalars(select(ConsoleSessionRow.user_id)))


def test_the_purge_deletes_the_expired_sessions_only_and_again_deletes_nothing(
    client: TestClient, ops: Ops, clock: FakeClock
) -> None:
    early = browser(client)
    signed_in(early, ADMIN_TOKEN)
    clock.advance(2 * HOUR)
    late_token, _ = new_token(ops, "region", user="late-kim", region="EU")
    late = browser(client)
    signed_in(late, late_token)
    clock.advance(6 * HOUR + 5)  # the first session (8 h) is over, the second has 2 h left

    assert ops.console.purge_expired() == 1

    assert users_with_sessions(ops) == ["late-kim"]
    assert late.get("/console", follow_redirects=False).status_code == 200
    assert ops.console.purge_expired() == 0  # idempotent: another replica's run finds nothing
    assert users_with_sessions(ops) == ["late-kim"]


def test_the_purge_writes_no_audit_entry(client: TestClient, ops: Ops, clock: FakeClock) -> None:
    signed_in(browser(client), ADMIN_TOKEN)
    clock.advance(9 * HOUR)
    before = ops.checkpoints.size()
    assert ops.console.purge_expired() == 1
    assert ops.checkpoints.size() == before  # housekeeping, not an operator's act


@pytest.fixture
def quick_purge(settings: Settings) -> Settings:
    return settings.model_copy(update={"console_purge_seconds": 0.05})


def test_the_running_app_purges_expired_sessions_on_its_own(
    quick_purge: Settings, ops: Ops, clock: FakeClock
) -> None:
    with app_client(quick_purge, ops) as client:
        signed_in(browser(client), ADMIN_TOKEN)
        assert users_with_sessions(ops) == ["bootstrap-admin"]
        clock.advance(9 * HOUR)
        deadline = time.monotonic() + 5
        while users_with_sessions(ops) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert users_with_sessions(ops) == []
