"""One error hierarchy with stable codes; the HTTP edge renders it as RFC 9457 problem+json."""

from __future__ import annotations

import re
from typing import Any, ClassVar

# A reason is a stable dotted token (`gateway.rate_limited`): clients branch on it, so never free text.
REASON_PATTERN = r"^[a-z0-9_]+(\.[a-z0-9_]+)+$"
_REASON = re.compile(REASON_PATTERN)

# The Step 1 code of each HTTP status: the one place this mapping lives (ADR 0002 lists every reason).
# Step 1's seven codes are kept where they say what happened; a 405, a 429, a 503 and an upstream
# failure get codes of their own, because the old ones (NOT_FOUND, FORBIDDEN, INTERNAL_ERROR) sent
# clients the wrong way (give up, ask for access, report a bug) where the right move is to change the
# method, or to retry later. 413 and 415 stay VALIDATION_ERROR: the request itself must change.
STEP1_CODE_OF_STATUS: dict[int, str] = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "INVALID_SCOPE",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    412: "CONFLICT",
    413: "VALIDATION_ERROR",
    415: "VALIDATION_ERROR",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    502: "UPSTREAM_ERROR",
    503: "SERVICE_UNAVAILABLE",
    504: "UPSTREAM_ERROR",
}

# Members a problem body owns: RFC 9457's standard five and our own. An extension may not reuse one.
RESERVED_MEMBERS = frozenset(
    {"type", "title", "status", "detail", "instance", "code", "reason", "requestId", "errors"}
)


class TrainerOpsError(Exception):
    """An expected failure. `code` is its reason: a stable dotted token (`modelconfig.invalid`).

    `fault` says whether the answer counts as a server fault (health's error rate): by default a 5xx
    does and a 4xx does not; a deliberate refusal with a 5xx status (draining, AI switched off) is
    raised with `fault=False`. The edge never counts a 4xx, whatever it says.
    """

    status: ClassVar[int] = 500
    # The Step 1 Foundation code consoles branch on; set from STEP1_CODE_OF_STATUS for every class.
    family_code: ClassVar[str] = "INTERNAL_ERROR"
    title: ClassVar[str] = "Internal error"
    fault: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.status not in STEP1_CODE_OF_STATUS:
            raise TypeError(f"{cls.__name__}: status {cls.status} has no Step 1 code in STEP1_CODE_OF_STATUS")
        cls.family_code = STEP1_CODE_OF_STATUS[cls.status]
        if "fault" not in cls.__dict__:
            cls.fault = cls.status >= 500

    def __init__(
        self,
        code: str,
        message: str,
        *,
        errors: list[dict[str, str]] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        fault: bool | None = None,
    ) -> None:
        # Both checks catch programming errors at the raise site, so a test that builds every error
        # finds them; neither can be triggered by a request.
        if not _REASON.match(code):
            raise ValueError(f"reason {code!r} is not a dotted token like `gateway.rate_limited`")
        if extra and not RESERVED_MEMBERS.isdisjoint(extra):
            taken = sorted(RESERVED_MEMBERS.intersection(extra))
            raise ValueError(f"extension member(s) {taken} of {code!r} would replace a standard member")
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors or []
        self.extra = extra or {}
        self.headers = headers or {}
        if fault is not None:
            self.fault = fault


class BadRequest(TrainerOpsError):
    status = 400
    title = "Bad request"


class Unauthorized(TrainerOpsError):
    status = 401
    title = "Unauthorized"


class Forbidden(TrainerOpsError):
    status = 403
    title = "Forbidden"


class NotFound(TrainerOpsError):
    status = 404
    title = "Not found"


class MethodNotAllowed(TrainerOpsError):
    status = 405
    title = "Method not allowed"


class Conflict(TrainerOpsError):
    status = 409
    title = "Conflict"


class PreconditionFailed(TrainerOpsError):
    status = 412
    title = "Precondition failed"


class PayloadTooLarge(TrainerOpsError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(TrainerOpsError):
    status = 415
    title = "Unsupported media type"


class Invalid(TrainerOpsError):
    status = 422
    title = "Invalid value"


class TooManyRequests(TrainerOpsError):
    status = 429
    title = "Too many requests"


class Unavailable(TrainerOpsError):
    """A dependency (the store, Redis) does not answer: a fault. A deliberate refusal with this status
    (draining, the gateway switched off) passes `fault=False`."""

    status = 503
    title = "Service unavailable"
