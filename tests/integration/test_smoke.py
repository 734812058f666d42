"""The service starts on a fresh store and answers with the contract's defaults."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_fresh_store_serves_spec_defaults(client: TestClient) -> None:
    response = client.get("/operator/ops/model-config")
    assert response.status_code == 200
    assert response.json() == {
        "model": "gpt-5.1",
        "temperature": 0.4,
        "maxTokens": 4096,
        "toneProfile": "professional",
        "language": "auto",
        "enabled": True,
    }
    assert response.headers["etag"] == '"1"'
