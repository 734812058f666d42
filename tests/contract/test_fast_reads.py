"""The hot-read fast path answers exactly what the routes answer (bytes and headers)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from trainer_ops.access.types import Role
from trainer_ops.app import Ops
from trainer_ops.audit.types import SYSTEM_ACTOR

PATHS = ["/operator/ops/features", "/operator/ops/model-config", "/operator/ops/limits"]
# Any X-Envelope header sends a read on to the routes, and `bare` leaves the answer as it is.
ROUTED = {"X-Envelope": "bare"}

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_fast_path_and_routes_answer_the_same(cached: tuple[TestClient, Ops]) -> None:
    client, _ = cached
    client.patch("/operator/ops/model-config", json={"temperature": 0.7})
    for path in PATHS:
        client.get(path)  # puts the token in the cache: the next read takes the fast path
        fast = client.get(path)
        routed = client.get(path, headers=ROUTED)
        assert fast.status_code == routed.status_code == 200
        assert fast.content == routed.content
        for header in ("content-type", "content-length", "etag", "cache-control"):
            assert fast.headers[header] == routed.headers[header], (path, header)
        assert "x-request-id" in fast.headers
        not_modified = {"If-None-Match": fast.headers["etag"]}
        polled, polled_routed = (
            client.get(path, headers=not_modified),
            client.get(path, headers={**ROUTED, **not_modified}),
        )
        assert polled.status_code == polled_routed.status_code == 304
        assert polled.headers["etag"] == polled_routed.headers["etag"] == fast.headers["etag"]
        assert polled.headers["cache-control"] == polled_routed.headers["cache-control"]
    metrics = client.get("/metrics").text
    assert 'route="/operator/ops/features"' in metrics


def test_fast_path_never_widens_what_a_caller_sees(cached: tuple[TestClient, Ops]) -> None:
    client, ops = cached
    token = ops.write(
        lambda s: ops.tokens.create(s, actor=SYSTEM_ACTOR, role=Role.REGION, user_id="r", region="EU")
    ).token
    client.patch("/operator/ops/features/quiz_auto_generate?region=EU", json={"enabled": True})
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(2):
        assert client.get("/operator/ops/features", headers=headers).json()["quiz_auto_generate"] is True
        assert client.get("/operator/ops/model-config", headers=headers).status_code == 403
