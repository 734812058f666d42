"""The gateway's own request headers, checked before a call is admitted (and so before it is audited).

A call is audited as `predict` once it got past authorization and parsing (ADR 0013). These headers are
part of parsing: a feature key that does not exist or a session id of a shape never minted is a 422
naming the header, like a bad body field, and leaves no audit entry. A well-formed session id that is
not open (unknown, expired, someone else's) is decided by GatewayService.admit: 404, audited.
"""

from __future__ import annotations

import re
from collections.abc import Container

from trainer_ops.errors import Invalid

FEATURE = "X-Trainer-Feature"
SESSION = "X-Trainer-Session"
# infra/sessions.new_session_id: "sess_" + secrets.token_urlsafe(16) (22 characters) + "." + 16 hex
# digits of the owner's fingerprint. tests/unit/gateway checks that every minted id matches.
SESSION_ID = re.compile(r"sess_[A-Za-z0-9_-]{22}\.[0-9a-f]{16}")


def check_call_headers(feature: str | None, session: str | None, *, features: Container[str]) -> None:
    """Refuse (422) an `X-Trainer-Feature` that is not one of `features`, or an `X-Trainer-Session`
    that is not a session id as POST /v1/sessions mints them. Absent headers are fine."""
    if feature is not None and feature not in features:
        message = f"{_shown(feature)} is not a feature key (see GET /operator/ops/features)"
        raise Invalid("gateway.unknown_feature", f"{FEATURE}: {message}", errors=_naming(FEATURE, message))
    if session is not None and not SESSION_ID.fullmatch(session):
        message = f"{_shown(session)} is not a session id; open one with POST /v1/sessions"
        raise Invalid("gateway.malformed_session", f"{SESSION}: {message}", errors=_naming(SESSION, message))


def _shown(value: str) -> str:
    return repr(value[:64] + ("..." if len(value) > 64 else ""))


def _naming(header: str, message: str) -> list[dict[str, str]]:
    return [{"field": header, "message": message}]
