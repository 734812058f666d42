"""Fixtures of the fast-path contract tests (test_fast_reads.py, test_fast_toggle.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from trainer_ops.app import Ops, build_ops, create_app
from trainer_ops.config import Settings


@pytest.fixture
def cached(settings: Settings) -> Iterator[tuple[TestClient, Ops]]:
    """A client (as the admin) of an app that caches tokens, so that requests can take the fast paths;
    the admin's token is in the cache from the start."""
    tuned = settings.model_copy(update={"token_cache_seconds": 60})
    ops = build_ops(tuned)
    try:
        with TestClient(create_app(tuned, ops=ops)) as client:
            client.headers["Authorization"] = f"Bearer {tuned.bootstrap_admin_token}"
            client.get("/operator/ops/features")
            yield client, ops
    finally:
        ops.close()
