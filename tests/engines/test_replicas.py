"""A reload made on one replica reaches the others (through the store poll, or on PostgreSQL through
LISTEN/NOTIFY with no poll at all); a clash is a 409."""

from __future__ import annotations

import time

import httpx
import pytest

from conftest import LiveServer
from trainer_ops.config import Settings

from .conftest import difficulty_ruleset


def test_reload_on_one_replica_reaches_the_other(settings: Settings) -> None:
    reload_on_one_replica_reaches_the_other(settings.model_copy(update={"snapshot_poll_seconds": 0.1}))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_reload_on_one_replica_reaches_the_other_by_notification_alone(settings: Settings) -> None:
    reload_on_one_replica_reaches_the_other(
        settings.model_copy(update={"snapshot_poll_seconds": 0, "change_notifications": True})
    )


def reload_on_one_replica_reaches_the_other(shared: Settings) -> None:
    first, second = LiveServer(shared).start(), LiveServer(shared).start()
    try:
        headers = {"Authorization": f"Bearer {shared.bootstrap_admin_token}"}
        with httpx.Client(headers=headers, timeout=10) as client:
            assert (
                client.put(
                    f"{first.url}/operator/ops/engines/difficulty/rulesets/d2", json=difficulty_ruleset("d2")
                ).status_code
                == 201
            )
            response = client.post(
                f"{first.url}/operator/ops/hot-reload", json={"type": "difficulty", "targetId": "d2"}
            )
            assert response.status_code == 200
            deadline = time.monotonic() + 5
            while second.ops.engines.current("difficulty").target_id != "d2":
                assert time.monotonic() < deadline, "the other replica never followed"
                time.sleep(0.05)
            seen = client.get(f"{second.url}/operator/ops/engines/difficulty/active").json()
            assert (seen["targetId"], seen["version"]) == ("d2", 2)
            # And a reload through the other replica continues from there, not from a stale version.
            # The follower may still hold the engine while it installs what it heard (the scoped
            # activations too): its 409 says "retry when it has finished", so retry as a client would.
            deadline = time.monotonic() + 5
            while True:
                response = client.post(
                    f"{second.url}/operator/ops/hot-reload",
                    json={"type": "difficulty", "targetId": "initial"},
                )
                busy = (
                    response.status_code == 409 and response.json()["reason"] == "engines.reload_in_progress"
                )
                if not busy or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert response.status_code == 200, response.text
            assert response.json()["version"] == 3
    finally:
        first.stop()
        second.stop()
