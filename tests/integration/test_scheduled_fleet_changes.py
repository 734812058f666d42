"""Scheduled fleet operations (issue #13 items 5 and 6; ADR 0026): a hot reload or release with
`applyAt` runs once due, exactly once whichever replica's job finds it, at start when it came due while
nothing ran, and a request left `applying` by a replica that stopped is settled, never run twice."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from trainer_ops.app import Ops, build_ops
from trainer_ops.changerequests.actions import APPLYING_LEASE_MS
from trainer_ops.config import Settings

from .support import app_client, entries_after, newest_seq, store_rows
from .test_change_requests_fleet import RELOAD, active, upload
from .test_scheduled_changes import CHANGE_REQUESTS, iso_in, wait_for

RELOAD_V12 = {"type": "scenario", "targetId": "v12"}


def scenario_activations(ops: Ops) -> list[str]:
    rows = store_rows(
        ops, "SELECT target_id FROM engine_activations WHERE engine = 'scenario' ORDER BY version"
    )
    return [target for (target,) in rows]


def test_a_scheduled_reload_waits_and_the_job_runs_it_once_due(client: TestClient, ops: Ops) -> None:
    upload(client, "v12")
    start = newest_seq(client)

    asked = client.post(RELOAD, params={"applyAt": iso_in(1.5)}, json=RELOAD_V12)

    assert asked.status_code == 202, asked.text
    assert asked.json()["state"] == "approved"
    assert active(client) == "initial"
    wait_for(lambda: client.get(asked.headers["location"]).json()["state"] == "applied")
    assert active(client) == "v12"
    assert scenario_activations(ops).count("v12") == 1
    [reload] = entries_after(client, start, action="reload")
    assert reload["details"]["changeRequest"] == asked.json()["id"]


def test_a_scheduled_reload_whose_lane_moved_is_suspended_not_run(client: TestClient, ops: Ops) -> None:
    upload(client, "v12")
    upload(client, "v13")
    asked = client.post(RELOAD, params={"applyAt": iso_in(1.5)}, json=RELOAD_V12).json()
    assert client.post(RELOAD, json={"type": "scenario", "targetId": "v13"}).status_code == 200

    wait_for(lambda: client.get(f"{CHANGE_REQUESTS}/{asked['id']}").json()["state"] != "approved")

    shown = client.get(f"{CHANGE_REQUESTS}/{asked['id']}").json()
    assert (shown["state"], shown["outcome"]["reason"]) == ("suspended", "engines.activation_moved")
    assert active(client) == "v13"


def test_a_scheduled_release_due_while_no_replica_ran_is_created_at_start(settings: Settings) -> None:
    body = {"version": "2.0.0", "notes": "at night", "includedEngines": ["scenario"]}
    with app_client(settings) as client:
        asked = client.post("/operator/ops/releases", params={"applyAt": iso_in(1.5)}, json=body)
        assert asked.status_code == 202, asked.text
    time.sleep(2)  # due while stopped

    with app_client(settings, build_ops(settings)) as client:
        assert client.get(asked.headers["location"]).json()["state"] == "applied"
        assert [r["version"] for r in client.get("/operator/ops/releases").json()] == ["2.0.0"]


def test_a_request_left_applying_by_a_stopped_replica_is_suspended_and_never_run_again(
    client: TestClient, ops: Ops
) -> None:
    upload(client, "v12")
    asked = client.post(RELOAD, params={"applyAt": iso_in(3600)}, json=RELOAD_V12).json()
    # What a replica that claimed the request and then died leaves behind.
    stale = int(time.time() * 1000) - APPLYING_LEASE_MS - 1000
    with ops.database.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE change_requests SET state = 'applying', apply_at_ms = 0, updated_at_ms = :at "
                "WHERE id = :id"
            ),
            {"at": stale, "id": asked["id"]},
        )

    ops.change_requests.apply_due()

    shown = client.get(f"{CHANGE_REQUESTS}/{asked['id']}").json()
    assert (shown["state"], shown["outcome"]["reason"]) == ("suspended", "change_requests.interrupted")
    assert active(client) == "initial"
    assert client.post(f"{CHANGE_REQUESTS}/{asked['id']}/approve").status_code == 409


def test_two_replicas_racing_run_a_scheduled_reload_exactly_once(
    settings: Settings, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL store; SQLite is one process")
    first = build_ops(settings)
    with ExitStack() as stack:
        one = stack.enter_context(app_client(settings, first))
        second = build_ops(settings)  # after the first start wrote the keys every replica shares
        stack.enter_context(app_client(settings, second))
        upload(one, "v12")
        asked = one.post(RELOAD, params={"applyAt": iso_in(1)}, json=RELOAD_V12).json()
        time.sleep(1.2)
        # Both replicas' periodic jobs run every second; these calls race them and each other.
        racers = [threading.Thread(target=ops.change_requests.apply_due) for ops in (first, second) * 3]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        wait_for(lambda: one.get(f"{CHANGE_REQUESTS}/{asked['id']}").json()["state"] == "applied")
        time.sleep(1.5)  # every job has had another go

        assert scenario_activations(first).count("v12") == 1
        ended = [
            e["details"]["event"]
            for e in entries_after(one, 0, action="change_request")
            if e["details"]["event"] in ("applied", "suspended", "conflicted")
        ]
        assert ended == ["applied"]
