"""OpenAI's error object for everything under `/v1`, where the callers are OpenAI clients.

`{"error": {"message", "type", "param", "code"}}` with `Content-Type: application/json`: the official
`openai` package builds its exception from exactly these (the message into the exception's text, the
object as `.body`, and `.type`, `.param`, `.code`), picks the exception class from the status, and
retries 429 and 5xx after `retry-after`. Everywhere else problem+json stays (http/problems.py), and
both render the same `TrainerOpsError`, so a refusal means the same thing on either side.
"""

from __future__ import annotations

from typing import Any

from trainer_ops.errors import TrainerOpsError

OPENAI_PREFIX = "/v1"
JSON = "application/json"

# OpenAI's error types by status: the client picks its exception class from the status alone, and
# `type` tells a caller's own handling which family it is in.
_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}

# Refusals about a header rather than a body field: `param` names the header the caller should fix.
_HEADER_PARAMS = {
    "auth.unauthorized": "Authorization",
    "gateway.feature_off": "X-Trainer-Feature",
    "gateway.session_unknown": "X-Trainer-Session",
    "http.unsupported_media_type": "Content-Type",
}


def speaks_openai(path: str) -> bool:
    """Whether the caller at `path` is an OpenAI client (the `/v1` prefix, not `/v1x`)."""
    return path == OPENAI_PREFIX or path.startswith(OPENAI_PREFIX + "/")


def error_type(status: int) -> str:
    if status >= 500:
        return "server_error"
    return _TYPES.get(status, "invalid_request_error")


def _param(error: TrainerOpsError) -> str | None:
    fields = [e.get("field", "") for e in error.errors]
    if fields and fields[0] != "body":
        return fields[0]
    return _HEADER_PARAMS.get(error.code)


def _message(error: TrainerOpsError) -> str:
    """The detail, and each field's complaint: the client shows only this text in its exception."""
    complaints = [f"{e.get('field', 'body')}: {e.get('message', 'invalid')}" for e in error.errors]
    # A detail that already says it (a header check names its header in both) is not said twice.
    new = [complaint for complaint in complaints if complaint not in error.message]
    return f"{error.message} ({'; '.join(new)})" if new else error.message


def openai_error(error: TrainerOpsError) -> dict[str, Any]:
    """The inner object (`{"message", "type", "param", "code"}`); `code` is our stable reason token."""
    return {
        "message": _message(error),
        "type": error_type(error.status),
        "param": _param(error),
        "code": error.code,
    }


def openai_error_body(error: TrainerOpsError) -> dict[str, Any]:
    return {"error": openai_error(error)}


OPENAI_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "OpenAI's error object; `code` is the stable reason token (`gateway.rate_limited`).",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
            "required": ["message", "type", "param", "code"],
        }
    },
    "required": ["error"],
}
