"""Step 1 envelope: opt-in per request (X-Envelope) or by setting; bare bodies by default."""

from __future__ import annotations

from fastapi.testclient import TestClient

from trainer_ops.app import Ops, create_app


def test_bare_by_default_and_step1_on_request(client: TestClient) -> None:
    bare = client.get("/operator/ops/limits").json()
    assert bare == {
        "aiCallsPerMinute": 60,
        "fileUploadLimitMb": 200,
        "maxConcurrentSessions": 30,
        "maxSessionsPerUser": 3,
    }
    wrapped = client.get("/operator/ops/limits", headers={"X-Envelope": "step1"}).json()
    assert wrapped["success"] is True
    assert wrapped["data"] == bare
    assert wrapped["meta"]["version"] == "v2"
    assert isinstance(wrapped["meta"]["timestamp"], int)


def test_problems_keep_their_status_inside_the_envelope(client: TestClient) -> None:
    response = client.patch(
        "/operator/ops/limits", json={"aiCallsPerMinute": 0}, headers={"X-Envelope": "step1"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert body["error"]["errors"][0]["field"] == "aiCallsPerMinute"


def test_setting_switches_the_whole_api(settings, ops: Ops) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings.model_copy(update={"envelope": "step1"}), ops=ops)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {settings.bootstrap_admin_token}"
        assert client.get("/operator/ops/features").json()["data"]["quiz_auto_generate"] is False
        assert (
            client.get("/operator/ops/features", headers={"X-Envelope": "bare"}).json()["quiz_auto_generate"]
            is False
        )
        assert client.get("/metrics").text.startswith("#")


def test_a_header_value_that_is_not_utf8_is_no_server_fault(client: TestClient) -> None:
    # Any octets may travel in a header (RFC 9110). Before, 40 of these anonymous requests made health
    # report "degraded": anyone could fake an outage signal.
    for _ in range(40):
        response = client.get("/operator/ops/limits", headers={"X-Envelope": b"step\xff1"})
        assert response.status_code == 200
        assert "success" not in response.json()
        assert client.get("/livez", headers={"X-Envelope": b"\xfe\xff"}).status_code == 200
    health = client.get("/operator/ops/health").json()
    assert health["status"] == "ok"
    assert client.get("/operator/ops/diagnostics").json()["errorRate"] == 0
