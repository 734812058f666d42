"""Arbitrary JSON in every JWT claim of a correctly signed token, on the routed and the fast paths."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .checks import check, error_of
from .conftest import PROPS
from .harness import Service
from .strategies import claim_values

pytestmark = pytest.mark.xdist_group("property-claims")  # one worker builds this module's app

_ABSENT = object()
PLAUSIBLE: dict[str, list[Any]] = {
    "sub": ["jwt-user", "", "x" * 129],
    "role": ["admin", "region", "country", "branch", "team", "service", "root"],
    "exp": [int(time.time()) + 3600, 0, "soon"],
    "region": ["EU", "x" * 65],
    "country": ["DE"],
    "branch": ["B-1"],
    "iat": [int(time.time()), int(time.time()) + 10_000],
    "nbf": [int(time.time()), int(time.time()) + 10_000],
    "iss": ["someone"],
    "aud": ["trainer-ops", ["a", "b"]],
    "jti": ["j-1"],
}
CLAIMS = sorted(PLAUSIBLE)
# Requests that read the caller (and so every claim): the hot reads' and the gateway's fast paths too.
PROBES = [
    ("GET", "/operator/ops/features", b""),
    ("GET", "/operator/ops/model-config", b""),
    ("GET", "/operator/ops/health", b""),
    ("POST", "/v1/chat/completions", b'{"messages": [{"role": "user", "content": "hi"}]}'),
]


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def sign(payload: Any, secret: str) -> str:
    """An HS256 JWT over exactly this payload (PyJWT's encode would refuse some of what we send)."""
    header = _b64(b'{"alg":"HS256","typ":"JWT"}')
    body = _b64(json.dumps(payload, allow_nan=True).encode())
    signature = hmac.new(secret.encode(), header + b"." + body, hashlib.sha256).digest()
    return (header + b"." + body + b"." + _b64(signature)).decode()


@st.composite
def payloads(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 19)) == 0:
        return draw(claim_values)  # not even an object
    out: dict[str, Any] = {}
    for name in CLAIMS:
        value = draw(st.one_of(st.just(_ABSENT), st.sampled_from(PLAUSIBLE[name]), claim_values))
        if value is not _ABSENT:
            out[name] = value
    return out


def test_any_claims_in_a_signed_token_are_answered_without_a_server_fault(service: Service) -> None:
    secret = service.ops.keys.keys.jwt_secret

    @settings(PROPS, max_examples=100)
    @given(payload=payloads(), probe=st.sampled_from(PROBES))
    def run(payload: Any, probe: tuple[str, str, bytes]) -> None:
        method, path, body = probe
        headers = [(b"authorization", f"Bearer {sign(payload, secret)}".encode())]
        if body:
            headers.append((b"content-type", b"application/json"))
        for _ in range(2):  # the second time, a token that passed is in the cache: the fast path
            before = service.before()
            reply = service.call(method, path, headers=headers, body=body)
            check(service, reply, before, path=path, inputs=CLAIMS)
            if reply.status == 401:
                text = error_of(reply, path)["text"]
                assert "JWT" in text or "token" in text, reply.describe()
            if service.mode != "fast" or reply.status >= 400:
                return

    run()
