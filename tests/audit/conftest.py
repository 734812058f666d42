"""Fixtures for the attack tests: a log with entries, an attacker with SQL access, the verifier."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from trainer_ops.app import Ops
from trainer_ops.audit.verify import Verdict

from .attacker import Attacker


@pytest.fixture
def log(client: TestClient, ops: Ops) -> Ops:
    """A log of a few dozen real entries: config changes, toggles, a denial."""
    for i in range(10):
        response = client.patch("/operator/ops/model-config", json={"temperature": round(0.1 + i / 10, 2)})
        assert response.status_code == 200
        response = client.patch("/operator/ops/features/quiz_auto_generate", json={"enabled": i % 2 == 0})
        assert response.status_code == 200
    return ops


@pytest.fixture
def attacker(log: Ops) -> Attacker:
    return Attacker(log)


@pytest.fixture
def verify(log: Ops) -> Callable[..., Verdict]:
    def run(*notes: str) -> Verdict:
        return log.checkpoints.verify(extra=list(notes))

    return run
