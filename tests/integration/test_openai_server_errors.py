"""An unexpected fault under /v1 is OpenAI's `server_error` object (with our request id), not a
problem; the same fault elsewhere stays problem+json."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from trainer_ops.app import Ops, create_app
from trainer_ops.config import Settings

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_a_500_under_v1_is_an_openai_server_error(settings: Settings, ops: Ops) -> None:
    app = create_app(settings, ops=ops)

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/v1/boom", boom)
    app.add_api_route("/operator/ops/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/boom")
        ops_response = client.get("/operator/ops/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("server_error", None)
    assert response.headers["x-request-id"]  # the client's APIStatusError.request_id
    assert "logged" in error["message"]
    assert "a bug" not in response.text
    assert ops_response.headers["content-type"] == "application/problem+json"
