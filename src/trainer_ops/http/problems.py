"""RFC 9457 problem+json for every error, rendered in one place; never a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from trainer_ops.errors import (
    RESERVED_MEMBERS,
    BadRequest,
    Invalid,
    MethodNotAllowed,
    NotFound,
    TrainerOpsError,
    Unavailable,
)
from trainer_ops.http.openai_errors import JSON, openai_error_body, speaks_openai

log = logging.getLogger("trainer_ops.http")
PROBLEM_JSON = "application/problem+json"
# The scope-state key where an answered problem says whether it is a server fault; the edge
# middleware reads it for the error rate (a deliberate 5xx refusal is no fault).
FAULT = "fault"


def mark_fault(state: dict[str, Any], error: TrainerOpsError) -> None:
    state[FAULT] = error.fault


def problem_body(error: TrainerOpsError, *, instance: str, request_id: str) -> dict[str, Any]:
    """RFC 9457 members first; an extension member never replaces one of them (TrainerOpsError
    refuses such an extension when it is built; this holds even for one changed afterwards)."""
    body: dict[str, Any] = {
        "type": f"urn:trainer-ops:problem:{error.code}",
        "title": error.title,
        "status": error.status,
        "detail": error.message,
        "instance": instance,
        "code": error.family_code,
        "reason": error.code,
        "requestId": request_id,
    }
    if error.errors:
        body["errors"] = error.errors
    for name, value in error.extra.items():
        if name not in RESERVED_MEMBERS:
            body[name] = value
    return body


def error_payload(error: TrainerOpsError, *, instance: str, request_id: str) -> tuple[bytes, str]:
    """The body and media type of `error` at path `instance`: OpenAI's error object under `/v1`
    (its callers are OpenAI clients), problem+json everywhere else."""
    if speaks_openai(instance):
        return orjson.dumps(openai_error_body(error)), JSON
    return orjson.dumps(problem_body(error, instance=instance, request_id=request_id)), PROBLEM_JSON


def path_of(request: Request) -> str:
    """The request's path, from the scope. Not `request.url`: building it decodes the query string as
    UTF-8, and any bytes may arrive there (a problem about a bad query must not raise one of its own)."""
    path: str = request.scope["path"]
    return path


def problem_response(error: TrainerOpsError, request: Request, *, outermost: bool = False) -> Response:
    request_id = getattr(request.state, "request_id", "")
    mark_fault(request.scope.setdefault("state", {}), error)
    body, media_type = error_payload(error, instance=path_of(request), request_id=request_id)
    headers = dict(error.headers)
    if outermost and request_id:
        # Unexpected errors are answered outside the edge middleware, which adds this header otherwise.
        headers["X-Request-Id"] = request_id
    return Response(body, status_code=error.status, media_type=media_type, headers=headers)


def _loc_to_field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_errors(errors: list[Any]) -> list[dict[str, str]]:
    return [{"field": _loc_to_field(e.get("loc", ())), "message": e.get("msg", "invalid")} for e in errors]


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (GET and PATCH often live in separate routes)."""
    from starlette.routing import Match, Route

    def walk(routes: list[Any]) -> Iterator[Any]:
        for route in routes:
            inner = getattr(route, "original_router", None)  # FastAPI wraps included routers
            yield from walk(inner.routes) if inner is not None else (route,)

    methods: set[str] = set()
    for route in walk(request.app.routes):
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches({**request.scope, "method": next(iter(route.methods))})
            if match is Match.FULL:
                methods |= route.methods
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    async def on_ops_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TrainerOpsError)
        return problem_response(exc, request)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        error: TrainerOpsError
        if exc.status_code == 404:
            error = NotFound(
                "http.not_found",
                f"no such endpoint: {request.method} {path_of(request)}; see /openapi.json for the API",
            )
        elif exc.status_code == 405:
            error = MethodNotAllowed(
                "http.method_not_allowed", f"{request.method} is not allowed on {path_of(request)}"
            )
            error.headers = {"Allow": _allowed_methods(request) or dict(exc.headers or {}).get("Allow", "")}
        elif exc.status_code < 500:
            # The framework's own refusals besides routing (a multipart body it cannot parse): a 400
            # with one reason, so every reason keeps one status (ADR 0002's table).
            error = BadRequest("http.bad_request", str(exc.detail))
        else:
            log.error(
                "framework error %s on %s %s: %s", exc.status_code, request.method, path_of(request), exc
            )
            error = TrainerOpsError(
                "http.internal", "an internal error occurred; it was logged with this request id"
            )
        return problem_response(error, request)

    async def on_request_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem_response(BadRequest("http.bad_json", "the body is not valid JSON"), request)
        return problem_response(
            Invalid("http.invalid", "the request has invalid parameters", errors=validation_errors(errors)),
            request,
        )

    async def on_store_down(request: Request, exc: Exception) -> Response:
        log.warning("store error on %s %s: %s", request.method, path_of(request), exc)
        error = Unavailable("store.unavailable", "the store does not answer or is busy; retry shortly")
        error.headers = {"Retry-After": "1"}
        return problem_response(error, request)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, path_of(request))
        return problem_response(
            TrainerOpsError(
                "http.internal", "an internal error occurred; it was logged with this request id"
            ),
            request,
            outermost=True,
        )

    app.add_exception_handler(TrainerOpsError, on_ops_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(OperationalError, on_store_down)
    app.add_exception_handler(InterfaceError, on_store_down)
    app.add_exception_handler(Exception, on_unexpected)
