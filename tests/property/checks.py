"""What every answer must be, whatever was sent: never a server fault; a refusal is a well-formed
problem that names the bad input (for a validation error), changed nothing and was audited only as a
denial (or as a refused gateway call that got past parsing); a success is well-formed."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from integration.support import STEP1_CODES  # Step 1's codes and the ones ADR 0002 adds

from .asgi import Reply
from .harness import AUDITED_GATEWAY_REFUSALS, DOCUMENTED_5XX, Service

PROBLEM_FIELDS = ("type", "title", "status", "detail", "code", "reason", "requestId")
VALIDATION_STATUSES = frozenset({400, 413, 415, 422})


def error_of(reply: Reply, path: str) -> dict[str, Any]:
    """The error the reply carries, normalised to {reason, status, text, fields}: under /v1 OpenAI's
    error object (whose `code` is our reason; never enveloped), problem+json everywhere else (or
    wrapped in the Step 1 envelope when asked for)."""
    assert reply.body, f"an error without a body: {reply.describe()}"
    try:
        body = reply.json()
    except ValueError:
        raise AssertionError(f"an error body that is not JSON: {reply.describe()}") from None
    assert isinstance(body, dict), reply.describe()
    if path.startswith("/v1/"):
        assert reply.media_type == "application/json", reply.describe()
        assert body.keys() == {"error"}, reply.describe()
        error = body["error"]
        assert isinstance(error, dict), reply.describe()
        assert isinstance(error.get("message"), str), reply.describe()
        assert error["message"], reply.describe()
        assert isinstance(error.get("type"), str), reply.describe()
        assert error.get("param") is None or isinstance(error["param"], str), reply.describe()
        assert isinstance(error.get("code"), str), reply.describe()
        return {
            "reason": error["code"],
            "status": reply.status,
            "text": f"{error['message']} {error.get('param') or ''}",
            "fields": [error.get("param") or ""],
        }
    if reply.media_type == "application/json" and body.get("success") is False:
        body = body["error"]  # the Step 1 envelope (X-Envelope: step1) around the same problem
    else:
        assert reply.media_type == "application/problem+json", reply.describe()
    for key in PROBLEM_FIELDS:
        assert key in body, f"the problem has no {key!r}: {reply.describe()}"
    assert body["status"] == reply.status, reply.describe()
    assert body["code"] in STEP1_CODES, reply.describe()
    assert body["requestId"] == reply.header("x-request-id"), reply.describe()
    errors = body.get("errors", [])
    assert isinstance(errors, list), reply.describe()
    return {
        "reason": body["reason"],
        "status": reply.status,
        "text": str(body["detail"]),
        "fields": [str(e.get("field", "")) for e in errors],
    }


def names_one_of(error: dict[str, Any], inputs: Iterable[str]) -> bool:
    text = error["text"].lower()
    # jsonschema's "(root)" (a ruleset's own fields) is the root of the body that carried it.
    fields = ["body" if f == "(root)" else f.lower() for f in error["fields"]]
    for name in inputs:
        wanted = name.lower()
        if wanted in text or any(f == wanted or f.startswith(wanted + ".") for f in fields):
            return True
    return False


def well_formed_success(reply: Reply) -> None:
    if reply.status in (204, 304):
        assert reply.body == b"", reply.describe()
        return
    media = reply.media_type
    if media == "application/json":
        json.loads(reply.body)
    elif media == "text/event-stream":
        assert reply.body.startswith((b"data: ", b"retry: ", b"event: ", b"id: ", b": ")), reply.describe()
    else:
        assert media == "text/plain", reply.describe()


def check(
    service: Service,
    reply: Reply,
    before: tuple[str, int],
    *,
    path: str,
    inputs: Iterable[str],
    stream_ends: bool = True,
) -> None:
    """The properties of one answer; `before` is service.fingerprint() taken before the request and
    `inputs` the names of what was generated (headers, claims, fields, parameters)."""
    service.known = None
    assert reply.raised is None, f"the app raised: {reply.describe()}"
    assert reply.status >= 200, f"no answer: {reply.describe()}"
    if reply.status >= 500:
        error = error_of(reply, path)
        assert error["reason"] in DOCUMENTED_5XX, f"a server error: {reply.describe()}"
        return
    if reply.status < 400:
        well_formed_success(reply)
        if stream_ends and reply.media_type == "text/event-stream" and path.startswith("/v1/"):
            assert reply.body.endswith(b"data: [DONE]\n\n"), f"a stream cut short: {reply.describe()}"
        return
    error = error_of(reply, path)
    if reply.status in VALIDATION_STATUSES:
        assert names_one_of(error, inputs), f"the problem names none of {sorted(inputs)}: {reply.describe()}"
    after = service.fingerprint()
    assert after[0] == before[0], f"a refused request changed the state: {reply.describe()}"
    for action, outcome in service.audit_after(before[1]):
        denial = action == "access_denied" and reply.status == 403
        refused = outcome.removeprefix("refused:")
        refused_call = (
            action == "predict" and refused in AUDITED_GATEWAY_REFUSALS and refused == error["reason"]
        )
        assert denial or refused_call, f"a refusal audited as {action} {outcome}: {reply.describe()}"
    service.known = after
