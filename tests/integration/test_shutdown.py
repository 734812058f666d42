"""Shutting the app down: a background job that is running finishes before the store closes, so no
connection outlives its pool and nothing the job wrote is lost."""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi.testclient import TestClient

from trainer_ops.app import Ops, create_app
from trainer_ops.audit.service import AuditQuery
from trainer_ops.audit.types import SYSTEM_ACTOR, Action
from trainer_ops.config import Settings


def test_shutdown_waits_for_a_running_background_job_before_closing_the_store(
    settings: Settings, ops: Ops
) -> None:
    started, done = threading.Event(), threading.Event()

    def slow_checkpoint() -> None:  # stands in for a checkpoint that takes a while, then writes
        if started.is_set():
            return
        started.set()
        time.sleep(0.3)
        ops.write(
            lambda session: ops.audit.append(session, actor=SYSTEM_ACTOR, action=Action.RELOAD, target="job")
        )
        done.set()

    ops.checkpoint_if_due = slow_checkpoint  # type: ignore[method-assign]
    with TestClient(create_app(settings, ops=ops)):
        assert started.wait(10), "the checkpoint job did not run"
    assert done.is_set(), "the app shut down under a running job"
    pool: Any = ops.database.engine.pool
    assert pool.checkedout() == 0
    with ops.database.read() as session:
        page = ops.audit.query(session, AuditQuery(actions=(Action.RELOAD.value,)))
    assert [item["target"] for item in page.items] == ["job"]
