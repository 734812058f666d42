"""What every console page module uses: the signed-in caller, CSRF-checked forms, rendering a page with
its navigation, and redirects. Page modules live in console/views/ (one per page, each with a `router`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse

from trainer_ops.access.types import Principal
from trainer_ops.console.pages import Console, ConsoleRoute, SignInNeeded, console_of
from trainer_ops.console.service import ConsoleSession, check_csrf
from trainer_ops.http.accesslog import CALLER
from trainer_ops.http.context import request_id_of

SESSION_COOKIE = "trainer_ops_console"


def page_router() -> APIRouter:
    """A router for console pages: errors become pages, every answer has the secure headers, and
    nothing of it is in the OpenAPI document."""
    return APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@dataclass(frozen=True)
class SignedIn:
    """The caller of a console page: their live session, and what pages need from the app."""

    session: ConsoleSession
    console: Console
    request_id: str

    @property
    def who(self) -> Principal:
        return self.session.principal

    @property
    def csrf(self) -> str:
        return self.session.csrf


async def find_session(request: Request) -> ConsoleSession | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    return await run_in_threadpool(console_of(request).sessions.find, cookie)


async def signed_in(request: Request) -> SignedIn:
    """The signed-in caller, or SignInNeeded (the route answers with a redirect to the sign-in page)."""
    found = await find_session(request)
    if found is None:
        raise SignInNeeded
    # Kept for the error page: a refused page still shows who is signed in and where they may go.
    request.state.console_session = found
    request.scope.setdefault("state", {})[CALLER] = found.principal.user_id  # the access log's user
    return SignedIn(found, console_of(request), request_id_of(request))


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def presented_csrf(request: Request, form: FormData) -> str:
    # A plain form sends the hidden field; htmx sends the header (hx-headers on <body>).
    return field(form, "csrf") or request.headers.get("x-csrf-token", "")


async def checked_form(request: Request, me: SignedIn) -> FormData:
    """The posted form of a console write, after the CSRF check (403 console.csrf_failed otherwise)."""
    form = await request.form()
    check_csrf(me.csrf, presented_csrf(request, form))
    return form


def render(
    request: Request, me: SignedIn, template: str, *, status: int = 200, **values: Any
) -> HTMLResponse:
    """A page (or fragment) for the signed-in caller: navigation, CSRF token and identity filled in."""
    return me.console.render(request, template, status=status, who=me.who, csrf=me.csrf, **values)


def redirect(to: str) -> RedirectResponse:
    """After a write: see the result at `to` (303, so a reload does not post again)."""
    return RedirectResponse(to, status_code=303)
