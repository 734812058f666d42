"""Authentication (opaque API tokens, HS256 JWTs, RS256 JWTs through a JWKS URL) and the scope policy.

The services run on a fake clock here, so that token expiry can be reached without waiting.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from trainer_ops.access.types import Role
from trainer_ops.app import Ops, build_ops
from trainer_ops.audit.types import SYSTEM_ACTOR
from trainer_ops.config import Settings
from trainer_ops.infra.clock import FakeClock

from .support import (
    FEATURES,
    MODEL_CONFIG,
    SPEC_FEATURES,
    app_client,
    assert_problem,
    bearer,
    check_each,
    newest_seq,
)

TokenFor = Callable[..., str]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=time.time())


@pytest.fixture
def ops(settings: Settings, clock: FakeClock) -> Iterator[Ops]:
    built = build_ops(settings, clock=clock)
    yield built
    built.close()


def new_token(ops: Ops, role: str, *, ttl_seconds: float | None = None, **scope: str) -> tuple[str, int]:
    created = ops.write(
        lambda session: ops.tokens.create(
            session,
            actor=SYSTEM_ACTOR,
            role=Role(role),
            user_id=f"{role}-x",
            ttl_seconds=ttl_seconds,
            **scope,
        )
    )
    return created.token, created.row_id


def assert_unauthorized(response: Any) -> None:
    assert_problem(response, 401, code="UNAUTHORIZED")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_request_without_or_with_bad_authorization_is_401_with_www_authenticate(client: TestClient) -> None:
    headers = {
        "missing": "",
        "unknown-token": "Bearer tops_unknown-token-xyz",
        "empty-bearer": "Bearer ",
        "basic-scheme": "Basic YWRtaW46YWRtaW4=",
        "no-scheme": "tops_test-admin-token-0123456789abcdef",
    }

    start = newest_seq(client)

    def check(header: str) -> None:
        assert_unauthorized(client.get(MODEL_CONFIG, headers={"Authorization": header}))
        assert_unauthorized(
            client.patch(MODEL_CONFIG, json={"temperature": 1.9}, headers={"Authorization": header})
        )

    check_each(headers.items(), check)
    assert client.get(MODEL_CONFIG).json()["temperature"] == 0.4
    assert newest_seq(client) == start


def test_revoked_token_is_401(client: TestClient, ops: Ops) -> None:
    token, row_id = new_token(ops, "region", region="EU")
    assert client.get(FEATURES, headers=bearer(token)).status_code == 200

    ops.write(lambda session: ops.tokens.revoke(session, actor=SYSTEM_ACTOR, token_id=row_id))

    assert_unauthorized(client.get(FEATURES, headers=bearer(token)))


def test_token_past_its_ttl_is_401(client: TestClient, ops: Ops, clock: FakeClock) -> None:
    token, _ = new_token(ops, "region", region="EU", ttl_seconds=60)
    clock.advance(59)
    assert client.get(FEATURES, headers=bearer(token)).status_code == 200

    clock.advance(2)

    assert_unauthorized(client.get(FEATURES, headers=bearer(token)))


# --- HS256 JWTs signed with the server's secret ------------------------------------------------------


def jwt_secret(settings: Settings) -> str:
    return settings.jwt_secret or (settings.home / "jwt-secret").read_text().strip()


def hs256(settings: Settings, *, secret: str | None = None, **claims: Any) -> str:
    body = {"sub": "jwt-user", "exp": int(time.time()) + 300, **claims}
    return jwt.encode(body, secret or jwt_secret(settings), algorithm="HS256")


def test_hs256_jwt_is_accepted_with_the_scope_of_its_claims(client: TestClient, settings: Settings) -> None:
    secret_file: Path = settings.home / "jwt-secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    client.patch(f"{FEATURES}/quiz_auto_generate", params={"region": "EU"}, json={"enabled": True})
    token = hs256(settings, sub="anna", role="region", region="EU")
    start = newest_seq(client)

    features = client.get(FEATURES, headers=bearer(token))
    model = client.get(MODEL_CONFIG, headers=bearer(token))
    change = client.patch(f"{FEATURES}/mission_auto_assign", json={"enabled": False}, headers=bearer(token))

    assert features.status_code == 200
    assert features.json() == {**SPEC_FEATURES, "quiz_auto_generate": True}
    assert_problem(model, 403, code="INVALID_SCOPE")
    assert change.status_code == 200
    entries = client.get("/operator/ops/audit", params={"userId": "anna"}).json()["items"]
    assert all(e["seq"] > start for e in entries)
    assert sorted(e["action"] for e in entries) == ["access_denied", "update_config"]
    assert all(e["actor"] == {"userId": "anna", "role": "region", "scope": {"region": "EU"}} for e in entries)
    admin = client.patch(
        MODEL_CONFIG, json={"temperature": 0.1}, headers=bearer(hs256(settings, role="admin"))
    )
    assert admin.status_code == 200, admin.text


def test_invalid_hs256_jwt_is_401(client: TestClient, settings: Settings) -> None:
    now = int(time.time())
    secret = jwt_secret(settings)
    region_header, _, region_signature = hs256(settings, role="region", region="EU").split(".")
    admin_claims = hs256(settings, role="admin").split(".")[1]
    tokens = {
        "wrong-signature": hs256(settings, secret="x" * 32, role="admin"),
        "expired": hs256(settings, role="admin", exp=now - 60),
        "no-exp": jwt.encode({"sub": "u", "role": "admin"}, secret, algorithm="HS256"),
        "no-sub": jwt.encode({"exp": now + 60, "role": "admin"}, secret, algorithm="HS256"),
        "unknown-role": hs256(settings, role="superuser"),
        "no-role": hs256(settings),
        "alg-none": jwt.encode({"sub": "u", "role": "admin", "exp": now + 60}, None, algorithm="none"),
        # a region operator's signed token with an admin's claims pasted in
        "swapped-claims": f"{region_header}.{admin_claims}.{region_signature}",
    }

    def check(token: str) -> None:
        assert_unauthorized(client.get(MODEL_CONFIG, headers=bearer(token)))

    check_each(tokens.items(), check)


# --- RS256 JWTs verified through a JWKS URL ----------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """The identity provider's signing key, and an impostor's key."""
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


@pytest.fixture(scope="module")
def jwks_url(rsa_keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]) -> Iterator[str]:
    """A JWKS endpoint on 127.0.0.1 publishing the provider's public key as kid 'k1'."""
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(rsa_keys[0].public_key(), as_dict=True)
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def jwks_client(settings: Settings, jwks_url: str) -> Iterator[TestClient]:
    with app_client(settings.model_copy(update={"jwt_jwks_url": jwks_url})) as client:
        yield client


def rs256(key: rsa.RSAPrivateKey, **claims: Any) -> str:
    body = {"sub": "oidc-user", "exp": int(time.time()) + 300, **claims}
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})


def test_rs256_jwt_is_accepted_with_its_scope_only_when_signed_by_the_jwks_key(
    jwks_client: TestClient, rsa_keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    jwks_client.patch(f"{FEATURES}/content_ai_transform", params={"region": "EU"}, json={"enabled": False})
    region = rs256(rsa_keys[0], role="region", region="EU")
    admin = rs256(rsa_keys[0], role="admin")
    impostor = rs256(rsa_keys[1], role="admin")

    features = jwks_client.get(FEATURES, headers=bearer(region))
    denied = jwks_client.get(MODEL_CONFIG, headers=bearer(region))
    allowed = jwks_client.get(MODEL_CONFIG, headers=bearer(admin))
    forged = jwks_client.get(MODEL_CONFIG, headers=bearer(impostor))

    assert features.status_code == 200, features.text
    assert features.json() == {**SPEC_FEATURES, "content_ai_transform": False}
    assert_problem(denied, 403, code="INVALID_SCOPE")
    assert allowed.status_code == 200
    assert_unauthorized(forged)


def test_rs256_jwt_without_jwks_configured_is_401(
    client: TestClient, rsa_keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    response = client.get(MODEL_CONFIG, headers=bearer(rs256(rsa_keys[0], role="admin")))

    assert_unauthorized(response)


# --- the scope policy for the admin-only documents ---------------------------------------------------


def test_non_admin_may_not_read_or_change_model_config(client: TestClient, token_for: TokenFor) -> None:
    tokens = {
        "region": token_for("region", region="EU"),
        "country": token_for("country", country="KR"),
        "branch": token_for("branch", branch="B-1"),
        "team": token_for("team", branch="B-1"),
        "service": token_for("service"),
    }

    def check(token: str) -> None:
        read = client.get(MODEL_CONFIG, headers=bearer(token))
        change = client.patch(MODEL_CONFIG, json={"temperature": 1.0}, headers=bearer(token))
        assert_problem(read, 403, code="INVALID_SCOPE")
        assert_problem(change, 403, code="INVALID_SCOPE")
        assert client.get(MODEL_CONFIG).json()["temperature"] == 0.4

    check_each(tokens.items(), check)


@pytest.mark.parametrize(
    "claims",
    [
        {"role": "region", "region": ["EU", "KR"]},
        {"role": "region", "region": {"code": "EU"}},
        {"role": ["admin"]},
        {"role": {"admin": True}},
        {"role": "branch", "branch": 7},
        {"role": "admin", "country": True},
    ],
)
def test_a_signed_jwt_with_a_claim_of_the_wrong_type_is_401_naming_it(
    client: TestClient, settings: Settings, claims: dict[str, Any]
) -> None:
    response = client.get(MODEL_CONFIG, headers=bearer(hs256(settings, **claims)))
    assert response.status_code == 401, response.text
    name = next(k for k, v in claims.items() if not isinstance(v, str))
    assert repr(name) in response.json()["detail"]
