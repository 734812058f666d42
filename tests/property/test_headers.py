"""Arbitrary bytes in every request header the service reads, on the routed and the fast paths."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .asgi import RawHeaders, Reply
from .checks import check
from .conftest import PROPS
from .harness import Service
from .strategies import header_values

JSON = (b"content-type", b"application/json")


@dataclass(frozen=True)
class Probe:
    """A request that reads the headers under test, sent as `role` (None: no token at all)."""

    method: str
    path: str
    role: str | None = "admin"
    body: bytes = b""
    headers: RawHeaders = ()  # type: ignore[assignment]
    stop_after_chunks: int | None = None


CHAT = b'{"messages": [{"role": "user", "content": "hi"}]}'
PROBES = [
    Probe("GET", "/operator/ops/features"),  # the three hot reads: fast path when the token is cached
    Probe("GET", "/operator/ops/model-config"),
    Probe("GET", "/operator/ops/limits", role="service"),
    Probe("GET", "/operator/ops/features", role="region"),
    Probe("PATCH", "/operator/ops/model-config", body=b'{"temperature": 0.5}', headers=(JSON,)),
    Probe("PATCH", "/operator/ops/features/quiz_auto_generate", body=b'{"enabled": false}', headers=(JSON,)),
    Probe("POST", "/v1/chat/completions", role="service", body=CHAT, headers=(JSON,)),
    Probe(
        "POST",
        "/v1/chat/completions",
        role="service",
        body=b'{"stream": true, "messages": [{"role": "user", "content": "hi"}]}',
        headers=(JSON,),
    ),
    Probe(
        "POST",
        "/v1/files",
        role="service",
        body=b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhello\r\n--x--\r\n',
        headers=((b"content-type", b"multipart/form-data; boundary=x"),),
    ),
    Probe(
        "PUT",
        "/operator/ops/engines/content/rulesets/props-upload",
        body=b'{"transforms": [], "allowedFormats": ["text/plain"]}',
        headers=(JSON,),
    ),
    Probe("GET", "/operator/ops/snapshot", role="service"),
    Probe("GET", "/operator/ops/stream", role="service", stop_after_chunks=2),
    Probe("GET", "/operator/ops/health", role="branch"),
    Probe("GET", "/operator/ops/health", role=None),
]

ETAGS = (b'"1"', b'"2"', b"*", b'W/"1"', b'"1", "2"', b'"99999999999999999999"', b"")
HEADERS: dict[str, tuple[bytes, ...]] = {
    "authorization": (b"Bearer ", b"bearer tops_x", b"Basic YTpi", b"Bearer a.b.c", b"Bearer \xff.\xfe.\xfd"),
    "content-type": (
        b"application/json",
        b"application/merge-patch+json",
        b"application/x+json; charset=utf-8",
        b"multipart/form-data; boundary=x",
        b"multipart/form-data",
        b"text/plain",
    ),
    "content-length": (b"0", b"5", b"99999999999999999999", b"-1", b"1e3"),
    "x-request-id": (b"abc", b"a" * 64, b"a" * 65, b"a b"),
    "if-match": ETAGS,
    "if-none-match": ETAGS,
    "x-envelope": (b"step1", b"bare", b" STEP1 "),
    "x-trainer-feature": (b"mission_auto_assign", b"quiz_auto_generate", b"no_such_feature", b""),
    "x-trainer-session": (b"sess_", b"sess_abc.0123456789abcdef", b"sess_" + b"a" * 200),
    "last-event-id": (b"1", b"0", b"-1", b"99999999999999999999999", b"abc", b"1.5"),
}
# Headers only some requests read get those requests only (the examples are not spent elsewhere).
READERS = {
    "last-event-id": lambda probe: probe.path == "/operator/ops/stream",
    "x-trainer-feature": lambda probe: probe.path == "/v1/chat/completions",
    "x-trainer-session": lambda probe: probe.path == "/v1/chat/completions",
    "if-match": lambda probe: probe.method == "PATCH",
    "if-none-match": lambda probe: probe.method == "GET",
}
# Step 1's identity headers count without a token, from the trusted proxy: one of them is fuzzed,
# the others name a plausible caller.
IDENTITY = {
    "x-user-id": b"alice",
    "x-role": b"operator",
    "x-scope": b"region",
    "x-region": b"EU",
    "x-country": b"DE",
    "x-branch": b"B-1",
}
IDENTITY_VALUES = (b"admin", b"operator", b"global", b"region", b"country", b"branch", b"team", b"EU", b"x" * 129)


# The shape of the session ids POST /v1/sessions mints (infra/sessions.new_session_id).
SESSION_ID = re.compile(rb"sess_[A-Za-z0-9_-]{22}\.[0-9a-f]{16}")


def plausible(service: Service, name: str) -> tuple[bytes, ...]:
    """Values that only this service would take: its stream's event ids, a session it minted."""
    if name == "last-event-id":
        epoch = service.ops.sync.broadcaster.epoch.encode()
        return (epoch + b"-0", epoch + b"-1", epoch + b"-\xb2", epoch + b"-99999999999999999999999", epoch)
    if name == "x-trainer-session":
        minted = service.call("POST", "/v1/sessions", headers=service.bearer("service")).json()["id"]
        return (minted.encode(), minted.encode()[:-1] + b"0", minted.encode() + b"x")
    return ()


def _gateway_rules(service: Service, name: str, value: bytes, reply: Reply) -> None:
    """Only a call that got past parsing is audited: an unknown feature key or a session id of a shape
    never minted is a 422 naming its header, before any audit; a well-formed session id that is not
    open (or not the caller's) stays a 404."""
    if reply.status < 400 or not reply.body or reply.media_type not in ("application/problem+json",):
        return
    reason = reply.json().get("reason")
    if name == "x-trainer-feature" and reason == "gateway.feature_off":
        known = service.ops.holder.current.get("features").document["features"]
        assert value.decode("latin-1") in known, f"an unknown feature audited as off: {reply.describe()}"
    if name == "x-trainer-session" and reason == "gateway.session_unknown":
        assert SESSION_ID.fullmatch(value), f"a malformed session audited as unknown: {reply.describe()}"


def _send(service: Service, probe: Probe, name: str, value: bytes, *, identity: bool) -> None:
    headers: list[tuple[bytes, bytes]] = [h for h in probe.headers if h[0] != name.encode()]
    if identity:
        headers += [(k.encode(), v) for k, v in IDENTITY.items() if k != name]
    elif probe.role is not None and name != "authorization":
        headers += service.bearer(probe.role)
    headers.append((name.encode(), value))
    before = service.before()
    reply = service.call(
        probe.method, probe.path, headers=headers, body=probe.body, stop_after_chunks=probe.stop_after_chunks
    )
    inputs = {name, "body"} if name == "content-length" else {name}
    check(service, reply, before, path=probe.path, inputs=inputs, stream_ends=probe.stop_after_chunks is None)
    _gateway_rules(service, name, value, reply)


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_any_value_of_a_header_is_answered_without_a_server_fault(service: Service, name: str) -> None:
    probes = [probe for probe in PROBES if READERS.get(name, lambda _: True)(probe)]

    @settings(PROPS, max_examples=30)
    @given(probe=st.sampled_from(probes), value=header_values(*HEADERS[name], *plausible(service, name)))
    def run(probe: Probe, value: bytes) -> None:
        _send(service, probe, name, value, identity=False)

    run()


@pytest.mark.parametrize("name", sorted(IDENTITY))
def test_any_identity_header_from_the_trusted_proxy_is_answered_without_a_server_fault(
    service: Service, name: str
) -> None:
    @settings(PROPS, max_examples=25)
    @given(probe=st.sampled_from(PROBES), value=header_values(*IDENTITY_VALUES))
    def run(probe: Probe, value: bytes) -> None:
        _send(service, probe, name, value, identity=True)

    run()
