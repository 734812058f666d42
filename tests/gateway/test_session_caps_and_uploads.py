"""Sessions and uploads are governed (issue #11, defect 9): one user cannot hold every training session,
and who may upload files is the policy's `gateway.upload`, not every gateway caller.

Reasons are looked for in the body's text, so these hold whether /v1 answers problem+json or
OpenAI's error object.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from trainer_ops.config import Settings

# The caps and the policy are the store's documents, the same on both legs; SQLite keeps this file quick.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
FILE = {"file": ("notes.md", b"# Returns policy\n", "text/markdown")}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Short enough to wait out in a test.
    return settings.model_copy(update={"session_idle_seconds": 1.5})


def caller(server: Any, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def open_session(client: httpx.Client) -> httpx.Response:
    return client.post("/v1/sessions")


def test_one_user_past_max_sessions_per_user_gets_429_saying_to_close_one(
    server: Any, admin: httpx.Client, token_for: Callable[..., str]
) -> None:
    assert admin.patch("/operator/ops/limits", json={"maxSessionsPerUser": 2}).status_code == 200
    with caller(server, token_for("branch", user="trainee-1", branch="B1")) as trainee:
        opened = [open_session(trainee) for _ in range(3)]

    assert [r.status_code for r in opened] == [201, 201, 429]
    refused = opened[2]
    assert "gateway.user_sessions_full" in refused.text
    assert "maxSessionsPerUser" in refused.text
    assert "DELETE /v1/sessions/" in refused.text
    assert 1 <= int(refused.headers["retry-after"]) <= 2


def test_a_user_at_the_cap_does_not_block_another_and_closing_frees_a_place(
    server: Any, admin: httpx.Client, token_for: Callable[..., str]
) -> None:
    admin.patch("/operator/ops/limits", json={"maxSessionsPerUser": 1})
    with (
        caller(server, token_for("branch", user="trainee-1", branch="B1")) as first,
        caller(server, token_for("branch", user="trainee-2", branch="B1")) as second,
    ):
        mine = open_session(first)
        assert open_session(first).status_code == 429
        assert open_session(second).status_code == 201

        assert first.delete(f"/v1/sessions/{mine.json()['id']}").status_code == 204
        assert open_session(first).status_code == 201


def test_an_idle_session_frees_its_place(server: Any, admin: httpx.Client) -> None:
    admin.patch("/operator/ops/limits", json={"maxSessionsPerUser": 1})
    assert open_session(admin).status_code == 201
    assert open_session(admin).status_code == 429

    time.sleep(1.6)

    assert open_session(admin).status_code == 201


def test_the_deployment_cap_still_applies_below_every_users_cap(
    server: Any, admin: httpx.Client, token_for: Callable[..., str]
) -> None:
    admin.patch("/operator/ops/limits", json={"maxConcurrentSessions": 2, "maxSessionsPerUser": 2})
    with (
        caller(server, token_for("branch", user="trainee-1", branch="B1")) as first,
        caller(server, token_for("branch", user="trainee-2", branch="B1")) as second,
    ):
        codes = [open_session(first).status_code, open_session(second).status_code]
        refused = open_session(second)

    assert codes == [201, 201]
    assert refused.status_code == 429
    assert "gateway.sessions_full" in refused.text
    assert "retry-after" in refused.headers


@pytest.mark.parametrize(("role", "scope"), [("branch", {"branch": "B1"}), ("region", {"region": "EU"})])
def test_a_role_without_gateway_upload_is_refused_403_and_audited(
    server: Any, admin: httpx.Client, token_for: Callable[..., str], role: str, scope: dict[str, str]
) -> None:
    user = f"{role}-uploader"
    with caller(server, token_for(role, user=user, **scope)) as client:
        refused = client.post("/v1/files", files=FILE, data={"purpose": "user_data"})
        # The same caller may still call the model: uploading is a separate operation.
        assert client.get("/v1/models").status_code == 200

    assert refused.status_code == 403, refused.text
    denials = admin.get("/operator/ops/audit", params={"action": "access_denied", "userId": user}).json()[
        "items"
    ]
    assert [(d["targetId"], d["details"]["path"]) for d in denials] == [("gateway.upload", "/v1/files")]
    assert not list((server.settings.home / "uploads").glob("file-*"))


def test_engines_and_admins_may_upload(
    server: Any, admin: httpx.Client, token_for: Callable[..., str]
) -> None:
    with caller(server, token_for("service", user="content-engine")) as engine:
        by_engine = engine.post("/v1/files", files=FILE, data={"purpose": "user_data"})
    by_admin = admin.post("/v1/files", files=FILE, data={"purpose": "user_data"})

    assert (by_engine.status_code, by_admin.status_code) == (200, 200), (by_engine.text, by_admin.text)
    assert by_engine.json()["bytes"] == len(FILE["file"][1])


# An upload that was not multipart once answered 400; a wrong media type is a 415 like everywhere else.
def test_an_upload_that_is_not_multipart_is_a_415_naming_the_content_type(admin: httpx.Client) -> None:
    refused = admin.post("/v1/files", json={"file": "notes"})

    assert refused.status_code == 415, refused.text
    error = refused.json()["error"]
    assert error["code"] == "gateway.multipart_required"
    assert "multipart/form-data" in error["message"]


@pytest.mark.parametrize("session_id", ["sess_é.ü", "sess_x.é", "sess_한국.0123456789abcdef"])
def test_a_session_id_with_non_ascii_characters_is_a_404_not_a_500(
    admin: httpx.Client, session_id: str
) -> None:
    # Found by the schemathesis fuzzer: comparing the id's owner mark raised on non-ASCII text.
    closed = admin.delete(f"/v1/sessions/{session_id}")
    assert closed.status_code == 404, closed.text
    assert closed.json()["error"]["type"]
