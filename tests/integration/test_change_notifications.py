"""PostgreSQL LISTEN/NOTIFY: a change committed anywhere reaches every replica without a poll, and a
replica that lost its listening connection catches up when it is back."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from conftest import change_model_config_elsewhere
from trainer_ops.app import Ops, build_ops
from trainer_ops.config import Settings
from trainer_ops.infra.changes import APPLICATION_NAME, PostgresChangeListener

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def listening(settings: Settings) -> Settings:
    # No poll: only a notification can bring a change made elsewhere.
    return settings.model_copy(update={"change_notifications": True, "snapshot_poll_seconds": 0})


@pytest.fixture
def replica(listening: Settings) -> Iterator[Ops]:
    ops = build_ops(listening)
    ops.prepare()
    ops.changes.start()
    assert isinstance(ops.changes, PostgresChangeListener)
    assert ops.changes.listening.wait(5)
    yield ops
    ops.close()


def temperature(ops: Ops) -> float:
    return float(ops.holder.current.get("model_config").document["temperature"])


def test_a_change_made_by_another_process_reaches_the_replica_at_once(
    listening: Settings, replica: Ops
) -> None:
    assert temperature(replica) == 0.4
    change_model_config_elsewhere(listening, temperature=1.3)
    assert eventually(lambda: temperature(replica) == 1.3)
    assert isinstance(replica.changes, PostgresChangeListener)
    assert replica.changes.notifications >= 1


def test_a_replica_that_lost_its_listening_connection_catches_up(
    listening: Settings, replica: Ops, database_url: str
) -> None:
    assert isinstance(replica.changes, PostgresChangeListener)
    database = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
            "AND application_name = %s",
            (database, APPLICATION_NAME),
        )
        assert eventually(lambda: not replica.changes.listening.is_set())  # type: ignore[attr-defined]
        # Changed while nobody listened: the notification is lost, the resync on reconnect is not.
        change_model_config_elsewhere(listening, temperature=0.9)
    assert eventually(lambda: replica.changes.connections >= 2, 10)  # type: ignore[attr-defined]
    assert eventually(lambda: temperature(replica) == 0.9)
    change_model_config_elsewhere(listening, temperature=1.1)  # and it listens again
    assert eventually(lambda: temperature(replica) == 1.1)


def test_without_notifications_a_replica_waits_for_its_poll(settings: Settings) -> None:
    quiet = build_ops(settings)  # change_notifications off, no poll (the tests' default)
    try:
        quiet.prepare()
        quiet.changes.start()
        change_model_config_elsewhere(settings, temperature=1.5)
        time.sleep(0.5)
        assert temperature(quiet) == 0.4
        quiet.refresher.refresh()
        assert temperature(quiet) == 1.5
    finally:
        quiet.close()


def test_the_notifications_of_its_own_changes_cost_the_replica_nothing(replica: Ops) -> None:
    from trainer_ops.access.types import Principal, Role

    listener = replica.changes
    assert isinstance(listener, PostgresChangeListener)
    before = (listener.notifications, listener.own_skipped)
    replica.model_config.update(
        principal=Principal("here", Role.ADMIN), changes={"temperature": 0.7}, if_match=None, request_id="r"
    )
    assert temperature(replica) == 0.7  # published as it was made
    assert eventually(lambda: listener.notifications > before[0])
    assert listener.own_skipped == before[1] + (listener.notifications - before[0])
