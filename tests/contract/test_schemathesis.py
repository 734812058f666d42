"""Schemathesis against the app: every operation of /openapi.json, fuzzed with valid and invalid input,
answers as the document says (no 5xx, documented status, media type and body), for an admin, and for a
service caller on what engines and gateway callers use.

Deterministic and offline: the cases are the same on every run (`deterministic`), no example database
is read or written, the app is called in-process, and the gateway's offline provider answers. Each
operation gets a fresh copy of one started store, so no operation depends on what another changed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import ADMIN_TOKEN
from trainer_ops.access.types import Role
from trainer_ops.app import Ops, api_document, build_ops, create_app
from trainer_ops.audit.types import SYSTEM_ACTOR
from trainer_ops.config import Settings

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
CONFIG: dict[str, Any] = {
    # Fuzzing draws this many cases per operation; the examples and coverage phases add their own
    # (boundary values, each parameter and field left out or given a wrong type, other methods), a
    # bounded number. `deterministic`: Hypothesis' derandomize, the same cases on every run. No
    # shrinking: a failure reports the case that failed (with a curl line), in bounded time.
    "generation": {"max-examples": 10, "deterministic": True, "database": "none", "no-shrink": True},
    "phases": {"stateful": {"enabled": False}},
    "operations": [
        # The change stream never ends by itself: read its first event (the snapshot), then hang up.
        {"include-path": "/operator/ops/stream", "max-stream-events": 1},
        # A `minVersion` the store does not have is answered 504 `versions.not_yet` after a wait, by
        # design (as Kubernetes answers a resourceVersion it has not seen): the version may be a write
        # another replica is committing. The fuzzer asks for such versions all the time.
        {
            "include-path-regex": "^/operator/ops/(model-config|limits|features|features/[^/]+|snapshot)$",
            "include-method": "GET",
            "checks": {"not_a_server_error": {"expected-statuses": ["2XX", "3XX", "4XX", "504"]}},
        },
    ],
}
# Hypothesis warns that a function-scoped fixture is not reset between examples: here the app is one
# per operation on purpose (see `serve`).
FIXTURE_PER_OPERATION = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
# Service callers use the gateway and follow the snapshot; everything else is refused them (403).
# (An exclude, because an include would be OR-ed with the per-operation entries of CONFIG.)
SERVICE_PATHS_NOT = r"^(?!/v1/|/operator/ops/snapshot$)"

# The document the app serves, built without a store (test_the_fuzzed_document_is_the_served_one).
schema = schemathesis.openapi.from_dict(api_document(), config=schemathesis.Config.from_dict(CONFIG))


def make_app(home: Path, *, token_cache_seconds: float = 0) -> tuple[Ops, FastAPI]:
    settings = Settings(
        home=home / ".trainer-ops",
        database_url=f"sqlite:///{home / 'store.db'}",
        bootstrap_admin_token=ADMIN_TOKEN,
        snapshot_poll_seconds=0,
        change_notifications=False,
        token_cache_seconds=token_cache_seconds,
        min_version_wait_seconds=0.05,  # the 504 above, without 3 s of waiting each time
    )
    ops = build_ops(settings)
    return ops, create_app(settings, ops=ops)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store started once (migrated, defaults, keys) with a service token; each operation gets a
    copy. Returns its home and the service token."""
    home = tmp_path_factory.mktemp("template")
    ops, _ = make_app(home)
    try:
        ops.prepare()
        service = ops.write(
            lambda session: ops.tokens.create(
                session, actor=SYSTEM_ACTOR, role=Role.SERVICE, user_id="engine-1"
            )
        )
    finally:
        ops.close()
    return home, service.token


def serve(home: Path, copy: Path, *, token_cache_seconds: float) -> Iterator[FastAPI]:
    """A fresh store and app for one operation (its examples share them), so that no operation's
    outcome depends on what another changed. Schemathesis' ASGI client runs the app's lifespan as a
    server would (on the first call), and ends it when the test ends."""
    shutil.copytree(home, copy, dirs_exist_ok=True)
    ops, app = make_app(copy, token_cache_seconds=token_cache_seconds)
    try:
        yield app
    finally:
        asgi.shutdown_lifespans()
        ops.close()  # again, harmlessly, when the lifespan ran (it closes ops at its end)


@pytest.fixture
def cached_app(template: tuple[Path, str], tmp_path: Path) -> Iterator[FastAPI]:
    """Tokens stay cached: after the first call, the hot reads and chat completions are answered by
    the fast paths (FastReadsMiddleware, GatewayFastPath), which must answer as documented too."""
    yield from serve(template[0], tmp_path, token_cache_seconds=600)


@pytest.fixture
def routed_app(template: tuple[Path, str], tmp_path: Path) -> Iterator[FastAPI]:
    """No token cache: every call goes through FastAPI's routes."""
    yield from serve(template[0], tmp_path, token_cache_seconds=0)


def call_and_validate(case: Any, app: FastAPI, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    response = case.call(app=app, headers=headers)
    case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs={"app": app})


@schema.parametrize()
@FIXTURE_PER_OPERATION
def test_every_operation_answers_an_admin_as_documented(case: Any, cached_app: FastAPI) -> None:
    call_and_validate(case, cached_app, ADMIN_TOKEN)


@schema.exclude(path_regex=SERVICE_PATHS_NOT).parametrize()
@FIXTURE_PER_OPERATION
def test_gateway_and_snapshot_answer_a_service_caller_as_documented(
    case: Any, routed_app: FastAPI, template: tuple[Path, str]
) -> None:
    call_and_validate(case, routed_app, template[1])


def test_the_fuzzed_document_is_the_served_one(tmp_path: Path) -> None:
    ops, app = make_app(tmp_path)
    try:
        served = TestClient(app).get("/openapi.json")  # no lifespan: the document needs no store
    finally:
        ops.close()

    assert served.status_code == 200
    assert served.json() == api_document()
