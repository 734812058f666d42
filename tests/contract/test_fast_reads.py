"""The hot-read fast path answers exactly what the routes answer (bytes and headers)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from trainer_ops.app import build_ops, create_app
from trainer_ops.config import Settings

PATHS = ["/operator/ops/features", "/operator/ops/model-config", "/operator/ops/limits"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_fast_path_and_routes_answer_the_same(settings: Settings) -> None:
    cached = settings.model_copy(update={"token_cache_seconds": 60})
    ops = build_ops(cached)
    try:
        with TestClient(create_app(cached, ops=ops)) as client:
            client.headers["Authorization"] = f"Bearer {cached.bootstrap_admin_token}"
            client.patch("/operator/ops/model-config", json={"temperature": 0.7})
            for path in PATHS:
                client.get(path)  # puts the token in the cache: the next read takes the fast path
                fast = client.get(path)
                # A non-matching If-None-Match sends the same read through the routes.
                routed = client.get(path, headers={"If-None-Match": '"0"'})
                assert fast.status_code == routed.status_code == 200
                assert fast.content == routed.content
                for header in ("content-type", "etag", "cache-control"):
                    assert fast.headers[header] == routed.headers[header], (path, header)
                assert "x-request-id" in fast.headers
                polled = client.get(path, headers={"If-None-Match": fast.headers["etag"]})
                assert polled.status_code == 304
                assert polled.headers["etag"] == fast.headers["etag"]
            metrics = client.get("/metrics").text
            assert 'route="/operator/ops/features"' in metrics
    finally:
        ops.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_fast_path_never_widens_what_a_caller_sees(settings: Settings) -> None:
    cached = settings.model_copy(update={"token_cache_seconds": 60})
    ops = build_ops(cached)
    try:
        with TestClient(create_app(cached, ops=ops)) as client:
            from trainer_ops.access.types import Role
            from trainer_ops.audit.types import SYSTEM_ACTOR

            token = ops.write(
                lambda s: ops.tokens.create(s, actor=SYSTEM_ACTOR, role=Role.REGION, user_id="r", region="EU")
            ).token
            client.patch(
                "/operator/ops/features/quiz_auto_generate?region=EU",
                json={"enabled": True},
                headers={"Authorization": f"Bearer {cached.bootstrap_admin_token}"},
            )
            headers = {"Authorization": f"Bearer {token}"}
            for _ in range(2):
                assert (
                    client.get("/operator/ops/features", headers=headers).json()["quiz_auto_generate"] is True
                )
                assert client.get("/operator/ops/model-config", headers=headers).status_code == 403
    finally:
        ops.close()
