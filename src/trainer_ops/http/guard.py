"""Authentication and the scope policy, applied in one place; every denial is a 403 and an audit entry."""

from __future__ import annotations

from typing import Any, NoReturn

from fastapi import Request
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool

from trainer_ops.access.places import own_place, refused
from trainer_ops.access.service import actor_of
from trainer_ops.access.types import Decision, Principal
from trainer_ops.audit.types import Action
from trainer_ops.errors import Forbidden
from trainer_ops.http.accesslog import CALLER
from trainer_ops.http.context import edge_of, request_id_of
from trainer_ops.http.problems import path_of

# Declared for OpenAPI (the lock icon and the security scheme); the check itself is `principal` below.
bearer_scheme = HTTPBearer(auto_error=False, description="An API token (`tops_...`) or a JWT.")


async def principal(request: Request) -> Principal:
    """FastAPI dependency: the authenticated caller, or 401 with WWW-Authenticate.

    Async, so a cached caller costs no thread hop; a lookup (database, JWKS) runs in the threadpool.
    Without a token, Step 1's identity headers count when the connection comes from a trusted proxy.
    """
    edge = edge_of(request)
    authenticator = edge.authenticator
    header = request.headers.get("authorization")
    if header is None and edge.identity.enabled:
        peer = request.client.host if request.client else None
        if edge.identity.trusts(peer):
            named = edge.identity.principal(request.headers.get)
            if named is not None:
                request.scope.setdefault("state", {})[CALLER] = named.user_id
                return named
    found = authenticator.from_cache(header)
    if found is None:
        found = await run_in_threadpool(authenticator.authenticate, header)
    request.scope.setdefault("state", {})[CALLER] = found.user_id  # the access log's user
    return found


# The views that limit a caller to its own place (`own_region` is the older name, kept for stored
# policies; for a region operator both mean its region).
OWN_VIEWS = ("own_region", "own_place")


def scoped_place(request: Request, who: Principal, operation: str, requested: str | None) -> str | None:
    """The place a request is about: the one asked for, or the caller's own place (a region operator's
    region, a country operator's country, a branch operator's branch) when the policy limits the
    caller to it (view `own_region` or `own_place`, ADR 0027)."""
    if requested is None and edge_of(request).policy().view_for(who, operation) in OWN_VIEWS:
        return own_place(who.role.value, region=who.region, country=who.country, branch=who.branch) or None
    return requested


def known_scope(request: Request, scope: str | None, *, field: str = "scope") -> None:
    """422 when `scope` (a reload's or an instance's place, normalised) is not a place of the catalogue
    in force, or not a code; the error names `field`."""
    if scope is not None:
        failure = edge_of(request).policy().places.code_problem(scope, what=field)
        if failure is not None:
            raise refused(failure, field=field)


async def authorize(request: Request, who: Principal, operation: str, **attrs: Any) -> Decision:
    """Allow, or record the denial and raise 403. `attrs` describe the resource (see Policy.decide)."""
    decision = edge_of(request).policy().decide(who, operation, **attrs)
    if decision.allowed:
        return decision
    await run_in_threadpool(_record_denial, request, who, operation, decision, attrs)
    raise Forbidden("access.denied", decision.reason, extra={"operation": operation})


async def deny(request: Request, who: Principal, operation: str, reason: str, **attrs: Any) -> NoReturn:
    """Refuse a request the policy allows in general but a rule of the resource forbids (for example
    an engine instance id owned by another user): audited and answered 403 like any denial."""
    await run_in_threadpool(_record_denial, request, who, operation, Decision(False, reason), attrs)
    raise Forbidden("access.denied", reason, extra={"operation": operation})


def _record_denial(
    request: Request, who: Principal, operation: str, decision: Decision, attrs: dict[str, Any]
) -> None:
    edge = edge_of(request)
    # The denial is recorded in a unit of its own: no change is under way to roll back with it.
    details = {
        "reason": decision.reason,
        "method": request.method,
        "path": path_of(request),
        **{k: v for k, v in attrs.items() if v is not None},
    }
    request_id = request_id_of(request)
    edge.writer.run(
        lambda session: edge.audit.append(
            session,
            actor=actor_of(who),
            action=Action.ACCESS_DENIED,
            target=operation,
            outcome="denied",
            request_id=request_id,
            details=details,
        )
    )
