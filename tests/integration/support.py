"""Helpers shared by the integration tests: problem+json checks, audit reads, store snapshots."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx2
import orjson
import rfc8785
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from trainer_ops.app import Ops, create_app
from trainer_ops.audit.types import SYSTEM_ACTOR
from trainer_ops.config import Settings
from trainer_ops.versions.service import Change

T = TypeVar("T")

ADMIN_TOKEN = "tops_test-admin-token-0123456789abcdef"
# Step 1 (Foundation) error codes, and the ones ADR 0002 adds (a 405, a 429, a 503, an upstream
# failure): every problem+json body carries one of them as `code`.
STEP1_CODES = frozenset(
    {
        "INVALID_SCOPE",
        "UNAUTHORIZED",
        "FORBIDDEN",
        "NOT_FOUND",
        "VALIDATION_ERROR",
        "CONFLICT",
        "INTERNAL_ERROR",
        "METHOD_NOT_ALLOWED",
        "RATE_LIMITED",
        "SERVICE_UNAVAILABLE",
        "UPSTREAM_ERROR",
    }
)
GENESIS_HASH = "0" * 64

MODEL_CONFIG = "/operator/ops/model-config"
FEATURES = "/operator/ops/features"
LIMITS = "/operator/ops/limits"
AUDIT = "/operator/ops/audit"
HEALTH = "/operator/ops/health"
DIAGNOSTICS = "/operator/ops/diagnostics"

SPEC_MODEL_CONFIG = {
    "model": "gpt-5.1",
    "temperature": 0.4,
    "maxTokens": 4096,
    "toneProfile": "professional",
    "language": "auto",
    "enabled": True,
}
SPEC_FEATURES = {
    "mission_auto_assign": True,
    "insight_generation": True,
    "quiz_auto_generate": False,
    "content_ai_transform": True,
}
SPEC_LIMITS = {"aiCallsPerMinute": 60, "fileUploadLimitMb": 200, "maxConcurrentSessions": 30}
# What a fresh store answers: spec 6.1 and the per-user session cap (not in the spec).
DEFAULT_LIMITS = {**SPEC_LIMITS, "maxSessionsPerUser": 3}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(
    response: httpx2.Response, status: int, *, code: str | None = None, field: str | None = None
) -> dict[str, Any]:
    """The response is an RFC 9457 problem with the Step 1 fields; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/problem+json", response.headers
    body: dict[str, Any] = response.json()
    for key in ("type", "title", "status", "detail", "code", "requestId"):
        assert key in body, f"problem has no {key!r}: {body}"
    assert body["status"] == status
    assert body["code"] in STEP1_CODES, body
    assert body["requestId"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    if code is not None:
        assert body["code"] == code, body
    if field is not None:
        fields = {error["field"] for error in body.get("errors", [])}
        assert field in fields, f"no error names {field!r}: {body}"
    return body


def audit_page(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get(AUDIT, params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def newest_seq(client: TestClient) -> int:
    items = audit_page(client, limit=1)["items"]
    return int(items[0]["seq"]) if items else 0


def entries_after(client: TestClient, seq: int, **params: Any) -> list[dict[str, Any]]:
    """Audit entries newer than `seq`, oldest first (at most 500, plenty for one test)."""
    items = audit_page(client, limit=500, **params)["items"]
    return [item for item in reversed(items) if item["seq"] > seq]


def document_state(client: TestClient, path: str) -> tuple[Any, str, int, int]:
    """(body, ETag, newest history version, newest audit seq): all a refused change must leave alone."""
    current = client.get(path)
    assert current.status_code == 200, current.text
    history = client.get(f"{path}/history", params={"limit": 1})
    assert history.status_code == 200, history.text
    return current.json(), current.headers["etag"], history.json()["items"][0]["version"], newest_seq(client)


@contextmanager
def app_client(
    settings: Settings,
    ops: Ops | None = None,
    *,
    token: str | None = ADMIN_TOKEN,
    raise_server_exceptions: bool = True,
) -> Iterator[TestClient]:
    """A TestClient over create_app(settings), started and stopped around the block."""
    app = create_app(settings, ops=ops)
    with TestClient(app, raise_server_exceptions=raise_server_exceptions) as client:
        if token:
            client.headers["Authorization"] = f"Bearer {token}"
        yield client


def lenient(client: TestClient) -> TestClient:
    """A client on the same running app that answers a server error with its 500 instead of raising it,
    so a test can assert on the status. The app's lifespan is already running under `client`."""
    return TestClient(client.app, raise_server_exceptions=False, headers=dict(client.headers))


def store_rows(ops: Ops, sql: str) -> list[Any]:
    with ops.database.engine.connect() as connection:
        return list(connection.execute(text(sql)).all())


def tamper(ops: Ops, sql: str) -> None:
    """Change a row behind the service's back, the way someone with the database password could."""
    with ops.database.engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.execute(text("DROP TRIGGER audit_entries_no_update"))
        else:
            connection.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_no_change"))
        connection.execute(text(sql))


def first_broken_link(ops: Ops) -> tuple[int, str] | None:
    """Recompute the audit chain from the raw rows, independently of the service code.

    design.md: hash = SHA-256 over prevHash and the RFC 8785 canonical JSON of the entry; seq runs 1, 2, ...
    """
    previous = GENESIS_HASH
    rows = store_rows(ops, "SELECT seq, body, prev_hash, hash FROM audit_entries ORDER BY seq")
    for expected, (seq, body, prev_hash, digest) in enumerate(rows, start=1):
        if seq != expected:
            return seq, f"expected seq {expected}"
        if prev_hash != previous:
            return seq, "prevHash does not name the previous entry's hash"
        if bytes(rfc8785.dumps(orjson.loads(body))) != body.encode():
            return seq, "body is not RFC 8785 canonical JSON"
        if orjson.loads(body).get("seq") != seq:
            return seq, "body does not carry its own seq"
        if hashlib.sha256(bytes.fromhex(prev_hash) + body.encode()).hexdigest() != digest:
            return seq, "hash does not cover prevHash and the body"
        previous = digest
    return None


def check_each(cases: Iterable[tuple[str, T]], check: Callable[[T], None]) -> None:
    """Run `check` on every case and report every failing case by name (one store setup for many cases)."""
    failures = []
    ran = 0
    for name, case in cases:
        ran += 1
        try:
            check(case)
        except AssertionError as exc:
            failures.append(f"[{name}] {exc}")
    assert ran, "no cases"
    assert not failures, "\n".join(failures)


@contextmanager
def serving(app: FastAPI) -> Iterator[tuple[str, int]]:
    """`app` under uvicorn on a free port of 127.0.0.1 (a real server: clients can really leave)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield sock.getsockname()
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


def store_document(ops: Ops, kind: str, document: dict[str, Any], *, request_id: str) -> None:
    """Store `document` as the next version of `kind` as it stands, past the API's validation (as an older
    release or an operator's earlier policy wrote it), and let this process read it."""
    ops.writer.run(
        lambda session: ops.documents.change(
            session,
            kind=kind,
            actor=SYSTEM_ACTOR,
            if_match=None,
            apply=lambda _: Change(document, kind, None, None),
            request_id=request_id,
        )
    )
    ops.refresher.refresh()
