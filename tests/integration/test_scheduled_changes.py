"""Scheduled changes (issue #13, item 6; ADR 0026): `applyAt` holds a change until it is due; it is
applied exactly once whichever replica's job finds it, after a restart when it came due meanwhile, and
suspended, never applied, when its document moved."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from trainer_ops.access.types import Principal, Role
from trainer_ops.app import Ops, build_ops
from trainer_ops.config import Settings

from .support import MODEL_CONFIG, app_client, assert_problem, entries_after, newest_seq, store_rows

CHANGE_REQUESTS = "/operator/ops/change-requests"


def iso_in(seconds: float) -> str:
    return datetime.fromtimestamp(time.time() + seconds, UTC).isoformat()


def wait_for(predicate: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_scheduled_change_waits_and_the_periodic_job_applies_it_once_due(client: TestClient) -> None:
    before = client.get(MODEL_CONFIG)

    asked = client.patch(MODEL_CONFIG, params={"applyAt": iso_in(2)}, json={"temperature": 0.3})

    assert asked.status_code == 202, asked.text
    assert asked.json()["state"] == "approved"
    assert client.get(MODEL_CONFIG).headers["etag"] == before.headers["etag"]
    assert [r["id"] for r in client.get(CHANGE_REQUESTS, params={"state": "approved"}).json()] == [
        asked.json()["id"]
    ]
    wait_for(lambda: client.get(asked.headers["location"]).json()["state"] == "applied")
    assert client.get(MODEL_CONFIG).json()["temperature"] == 0.3


def test_a_bad_apply_at_is_422_and_stores_nothing(client: TestClient) -> None:
    for value in ("tomorrow", "2026-12-01T06:00:00", "1e30", "nan"):
        refused = client.patch(MODEL_CONFIG, params={"applyAt": value}, json={"temperature": 0.3})
        assert assert_problem(refused, 422, field="applyAt")["reason"] == "change_requests.bad_apply_at"
    assert client.get(CHANGE_REQUESTS).json() == []


def test_a_change_due_while_no_replica_ran_is_applied_at_start(settings: Settings) -> None:
    with app_client(settings) as client:
        asked = client.patch(MODEL_CONFIG, params={"applyAt": iso_in(1.5)}, json={"maxTokens": 1234})
        assert asked.status_code == 202, asked.text
    time.sleep(2)  # due while stopped

    ops = build_ops(settings)
    with app_client(settings, ops) as client:
        # Applied by the start itself, before the first run of the periodic job.
        assert ops.holder.current.get("model_config").document["maxTokens"] == 1234
        assert client.get(asked.headers["location"]).json()["state"] == "applied"


def test_a_scheduled_change_whose_document_moved_is_suspended_not_applied(
    client: TestClient, ops: Ops
) -> None:
    start = newest_seq(client)
    asked = client.patch(MODEL_CONFIG, params={"applyAt": iso_in(1.5)}, json={"temperature": 0.3}).json()
    ops.model_config.update(
        principal=Principal("dave", Role.ADMIN), changes={"temperature": 0.9}, if_match=None, request_id="x"
    )

    wait_for(lambda: client.get(f"{CHANGE_REQUESTS}/{asked['id']}").json()["state"] != "approved")

    shown = client.get(f"{CHANGE_REQUESTS}/{asked['id']}").json()
    assert (shown["state"], shown["outcome"]["reason"]) == ("suspended", "model_config.stale")
    assert client.get(MODEL_CONFIG).json()["temperature"] == 0.9
    events = [e["details"]["event"] for e in entries_after(client, start, action="change_request")]
    assert events == ["created", "suspended"]


def test_two_replicas_racing_apply_a_scheduled_change_exactly_once(
    settings: Settings, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL store; SQLite is one process")
    first = build_ops(settings)
    with ExitStack() as stack:
        one = stack.enter_context(app_client(settings, first))
        second = build_ops(settings)  # after the first start wrote the keys every replica shares
        stack.enter_context(app_client(settings, second))
        version = int(one.get(MODEL_CONFIG).headers["etag"].strip('"'))
        asked = one.patch(MODEL_CONFIG, params={"applyAt": iso_in(1)}, json={"temperature": 0.1}).json()
        time.sleep(1.2)
        # Both replicas' periodic jobs run every second; these calls race them and each other.
        racers = [threading.Thread(target=ops.change_requests.apply_due) for ops in (first, second) * 3]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        wait_for(lambda: one.get(f"{CHANGE_REQUESTS}/{asked['id']}").json()["state"] == "applied")
        time.sleep(1.5)  # every job has had another go

        versions = store_rows(first, "SELECT version FROM document_versions WHERE kind = 'model_config'")
        assert max(v for (v,) in versions) == version + 1
        ended = [
            e["details"]["event"]
            for e in entries_after(one, 0, action="change_request")
            if e["details"]["event"] in ("applied", "suspended", "conflicted")
        ]
        assert ended == ["applied"]
