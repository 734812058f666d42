"""Rulesets: content-addressed and immutable, uploads as JSON or files, size limit while streaming."""

from __future__ import annotations

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import text

from trainer_ops.app import Ops

RULESET = {"weights": {"quiz": 0.25, "roleplay": 0.75}}


def test_same_content_twice_is_one_ruleset(client: TestClient, ops: Ops) -> None:
    first = client.put("/operator/ops/engines/upm/rulesets/u1", json=RULESET)
    again = client.put(
        "/operator/ops/engines/upm/rulesets/u1", json={"weights": {"roleplay": 0.75, "quiz": 0.25}}
    )
    other_name = client.put("/operator/ops/engines/upm/rulesets/u2", json=RULESET)
    assert (first.status_code, again.status_code, other_name.status_code) == (201, 200, 201)
    assert first.json()["digest"] == again.json()["digest"] == other_name.json()["digest"]
    with ops.database.engine.connect() as conn:
        blobs = conn.execute(
            text("SELECT count(*) FROM ruleset_blobs WHERE digest = :d"), {"d": first.json()["digest"]}
        ).scalar()
    assert blobs == 1
    listed = client.get("/operator/ops/engines/upm/rulesets").json()
    assert [r["targetId"] for r in listed] == ["initial", "u1", "u2"]
    assert [r["active"] for r in listed] == [True, False, False]
    assert client.get("/operator/ops/engines/upm/rulesets/u1").json()["ruleset"] == RULESET


def test_other_content_under_a_stored_name_is_refused(client: TestClient) -> None:
    assert client.put("/operator/ops/engines/upm/rulesets/u1", json=RULESET).status_code == 201
    response = client.put("/operator/ops/engines/upm/rulesets/u1", json={"weights": {"quiz": 1}})
    assert response.status_code == 409
    assert client.get("/operator/ops/engines/upm/rulesets/u1").json()["ruleset"] == RULESET


def test_file_upload_is_accepted(client: TestClient) -> None:
    files = {"file": ("upm.json", orjson.dumps(RULESET), "application/json")}
    response = client.put("/operator/ops/engines/upm/rulesets/from-file", files=files)
    assert response.status_code == 201, response.text


def test_bad_uploads_answer_problems(client: TestClient) -> None:
    base = "/operator/ops/engines/upm/rulesets"
    assert (
        client.put(f"{base}/x", content=b"{", headers={"content-type": "application/json"}).status_code == 400
    )
    assert client.put(f"{base}/x", content=b"{}", headers={"content-type": "text/plain"}).status_code == 415
    assert client.put(f"{base}/bad%20name", json=RULESET).status_code == 422
    assert client.put("/operator/ops/engines/weather/rulesets/x", json=RULESET).status_code == 422
    response = client.put(f"{base}/x", json={"weights": {"quiz": "a lot"}})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "weights/quiz"


def _big_ruleset(megabytes: float) -> bytes:
    filler = "x" * 1000
    count = int(megabytes * 1024)
    scenarios = [{"id": f"s{i}", "title": filler, "objectives": ["o"], "difficulty": 1} for i in range(count)]
    return orjson.dumps({"scenarios": scenarios})


def test_upload_over_the_limit_is_refused_413_by_length_and_while_streaming(client: TestClient) -> None:
    assert client.patch("/operator/ops/limits", json={"fileUploadLimitMb": 1}).status_code == 200
    body = _big_ruleset(1.2)
    url = "/operator/ops/engines/scenario/rulesets/big"
    response = client.put(url, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413

    def chunks():  # no Content-Length: the server can only count as it reads
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = client.put(url, content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert client.get(f"{url}").status_code == 404
    small = _big_ruleset(0.5)
    assert client.put(url, content=small, headers={"content-type": "application/json"}).status_code == 201


def test_active_ruleset_endpoint_serves_the_running_ruleset(client: TestClient, token_for) -> None:
    service = {"Authorization": f"Bearer {token_for('service')}"}
    response = client.get("/operator/ops/engines/missions/active", headers=service)
    assert response.status_code == 200
    assert response.json()["targetId"] == "initial"
    region = {"Authorization": f"Bearer {token_for('region', region='EU')}"}
    assert client.get("/operator/ops/engines/missions/active", headers=region).status_code == 403
