"""Requests that read the headers under test, and how one is sent with a header set to any value."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .asgi import RawHeaders
from .checks import check
from .harness import Service

JSON = (b"content-type", b"application/json")


@dataclass(frozen=True)
class Probe:
    """A request that reads the headers under test, sent as `role` (None: no token at all)."""

    method: str
    path: str
    role: str | None = "admin"
    body: bytes = b""
    headers: RawHeaders = ()
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
        body=b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhi\r\n--x--\r\n',
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

# The shape of the session ids POST /v1/sessions mints (infra/sessions.new_session_id).
SESSION_ID = re.compile(rb"sess_[A-Za-z0-9_-]{22}\.[0-9a-f]{16}")


def _gateway_rules(service: Service, name: str, value: bytes, seq: int) -> None:
    """Only a call that got past parsing is audited: an unknown feature key or a session id of a shape
    never minted is refused before any audit (a 422 naming its header); a well-formed session id that
    is not open (or not the caller's) is a refused call, audited. Read from the audit log, so it holds
    whatever error format the answer has."""
    outcomes = {outcome for action, outcome in service.audit_after(seq) if action == "predict"}
    if name == "x-trainer-feature" and "refused:gateway.feature_off" in outcomes:
        known = service.ops.holder.current.get("features").document["features"]
        assert value.decode("latin-1") in known, f"an unknown feature {value!r} was audited as off"
    if name == "x-trainer-session" and "refused:gateway.session_unknown" in outcomes:
        assert SESSION_ID.fullmatch(value), f"a malformed session {value!r} was audited as unknown"


def send(service: Service, probe: Probe, name: str, value: bytes, *, identity: RawHeaders = ()) -> None:
    """`probe` with header `name` set to `value`, as its role, or (with `identity`) as the caller
    these identity headers name; then every property of the answer."""
    headers: list[tuple[bytes, bytes]] = [h for h in probe.headers if h[0] != name.encode()]
    if identity:
        headers += [(k, v) for k, v in identity if k != name.encode()]
    elif probe.role is not None and name != "authorization":
        headers += service.bearer(probe.role)
    headers.append((name.encode(), value))
    before = service.before()
    reply = service.call(
        probe.method, probe.path, headers=headers, body=probe.body, stop_after_chunks=probe.stop_after_chunks
    )
    inputs = {name, "body"} if name == "content-length" else {name}
    check(service, reply, before, path=probe.path, inputs=inputs, stream_ends=probe.stop_after_chunks is None)
    if name in ("x-trainer-feature", "x-trainer-session"):
        _gateway_rules(service, name, value, before[1])
