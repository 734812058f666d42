"""One error hierarchy with stable codes; the HTTP edge renders it as RFC 9457 problem+json."""

from __future__ import annotations

from typing import Any


class TrainerOpsError(Exception):
    """An expected failure. `code` is stable and namespaced (`modelconfig.invalid`)."""

    status = 500
    # The Step 1 Foundation code consoles branch on.
    family_code = "INTERNAL_ERROR"
    title = "Internal error"

    def __init__(
        self,
        code: str,
        message: str,
        *,
        errors: list[dict[str, str]] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors or []
        self.extra = extra or {}
        self.headers = headers or {}


class BadRequest(TrainerOpsError):
    status = 400
    family_code = "VALIDATION_ERROR"
    title = "Bad request"


class Unauthorized(TrainerOpsError):
    status = 401
    family_code = "UNAUTHORIZED"
    title = "Unauthorized"


class Forbidden(TrainerOpsError):
    status = 403
    family_code = "INVALID_SCOPE"
    title = "Forbidden"


class NotFound(TrainerOpsError):
    status = 404
    family_code = "NOT_FOUND"
    title = "Not found"


class MethodNotAllowed(TrainerOpsError):
    status = 405
    family_code = "NOT_FOUND"
    title = "Method not allowed"


class Conflict(TrainerOpsError):
    status = 409
    family_code = "CONFLICT"
    title = "Conflict"


class PreconditionFailed(TrainerOpsError):
    status = 412
    family_code = "CONFLICT"
    title = "Precondition failed"


class PayloadTooLarge(TrainerOpsError):
    status = 413
    family_code = "VALIDATION_ERROR"
    title = "Payload too large"


class UnsupportedMediaType(TrainerOpsError):
    status = 415
    family_code = "VALIDATION_ERROR"
    title = "Unsupported media type"


class Invalid(TrainerOpsError):
    status = 422
    family_code = "VALIDATION_ERROR"
    title = "Invalid value"


class TooManyRequests(TrainerOpsError):
    status = 429
    family_code = "FORBIDDEN"
    title = "Too many requests"


class Unavailable(TrainerOpsError):
    status = 503
    family_code = "INTERNAL_ERROR"
    title = "Service unavailable"
