"""The console's pages under /console: sign-in and sign-out, the language switch, static assets, and
the Overview. Each page calls the services with the signed-in principal and `authorize`, like the API."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from trainer_ops.access.types import Principal
from trainer_ops.console.i18n import COOKIE as LANG_COOKIE
from trainer_ops.console.i18n import LANGUAGES
from trainer_ops.console.pages import STATIC_CACHE, ConsoleRoute, console_of
from trainer_ops.console.service import ConsoleSession, check_csrf
from trainer_ops.errors import NotFound, Unauthorized
from trainer_ops.http.context import edge_of, request_id_of
from trainer_ops.http.guard import authorize

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

HOME, SIGN_IN = "/console", "/console/sign-in"
SESSION_COOKIE = "trainer_ops_console"
# Before sign-in there is no session to hold a CSRF secret: the form's token is also a cookie of its
# own (double submit). SameSite=Strict keeps that cookie off another site's forged sign-in.
PRE_COOKIE = "trainer_ops_console_pre"
PRE_SECONDS = 3600
LANG_SECONDS = 365 * 24 * 3600
MAX_TOKEN_CHARS = 8192
_TOKENISH = re.compile(r"[A-Za-z0-9_-]{32,128}")


@dataclass(frozen=True)
class NavItem:
    key: str
    path: str
    operation: str


# The eight pages of issue #12 come one by one; each is listed once it exists.
NAV = (NavItem("nav.overview", HOME, "health.read"),)


def _nav(request: Request, who: Principal) -> list[NavItem]:
    # The policy decides which pages a caller has any view of; a page still authorizes on its own.
    policy = edge_of(request).policy()
    return [item for item in NAV if policy.view_for(who, item.operation) is not None]


def _set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        expires=max_age,
        path=HOME,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def _drop_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(
        name, path=HOME, secure=request.url.scheme == "https", httponly=True, samesite="strict"
    )


def _redirect(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303)


async def _session(request: Request) -> ConsoleSession | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    return await run_in_threadpool(console_of(request).sessions.find, cookie)


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _presented_csrf(request: Request, form: FormData) -> str:
    # A plain form sends the hidden field; an htmx request may send the header instead.
    return _field(form, "csrf") or request.headers.get("x-csrf-token", "")


@router.get("/")
async def root() -> Response:
    """The console is the front door."""
    return _redirect(HOME)


@router.get(HOME)
async def overview(request: Request) -> Response:
    found = await _session(request)
    if found is None:
        return _redirect(SIGN_IN)
    who, console = found.principal, console_of(request)
    decision = await authorize(request, who, "health.read")
    report = await run_in_threadpool(console.health.health, decision.view)
    rulesets = console.health.active_rulesets() if decision.view == "full" else {}
    return console.render(
        request,
        "overview.html",
        who=who,
        csrf=found.csrf,
        nav=_nav(request, who),
        report=report,
        rulesets=rulesets,
    )


@router.get(SIGN_IN)
async def sign_in_form(request: Request) -> Response:
    if await _session(request) is not None:
        return _redirect(HOME)
    return _sign_in_page(request)


def _sign_in_page(request: Request, *, error: str = "", status: int = 200) -> Response:
    pre = request.cookies.get(PRE_COOKIE, "")
    if not _TOKENISH.fullmatch(pre):
        pre = secrets.token_urlsafe(32)
    response = console_of(request).render(request, "sign_in.html", status=status, csrf=pre, error=error)
    _set_cookie(response, request, PRE_COOKIE, pre, PRE_SECONDS)
    return response


@router.post(SIGN_IN)
async def sign_in(request: Request) -> Response:
    form = await request.form()
    check_csrf(request.cookies.get(PRE_COOKIE, ""), _presented_csrf(request, form))
    token = _field(form, "token").strip()
    if not token or len(token) > MAX_TOKEN_CHARS:
        return _sign_in_page(request, error="signin.empty", status=422)
    sessions = console_of(request).sessions
    try:
        new = await run_in_threadpool(sessions.sign_in, token, request_id=request_id_of(request))
    except Unauthorized:
        return _sign_in_page(request, error="signin.bad_token", status=401)
    response = _redirect(HOME)
    _set_cookie(response, request, SESSION_COOKIE, new.cookie, new.max_age)
    _drop_cookie(response, request, PRE_COOKIE)
    return response


@router.post("/console/sign-out")
async def sign_out(request: Request) -> Response:
    found = await _session(request)
    if found is None:
        return _redirect(SIGN_IN)
    form = await request.form()
    check_csrf(found.csrf, _presented_csrf(request, form))
    await run_in_threadpool(console_of(request).sessions.sign_out, found, request_id=request_id_of(request))
    response = _redirect(SIGN_IN)
    _drop_cookie(response, request, SESSION_COOKIE)
    return response


@router.get("/console/language")
async def choose_language(request: Request, to: str = "", next: str = HOME) -> Response:
    """Remember the operator's language (a cookie) and go back to the page they were on."""
    safe = next.startswith("/console") and "//" not in next and "\\" not in next
    response = _redirect(next if safe else HOME)
    if to in LANGUAGES:
        _set_cookie(response, request, LANG_COOKIE, to, LANG_SECONDS)
    return response


@router.get("/console/static/{name}")
async def static(request: Request, name: str) -> Response:
    asset = console_of(request).assets.get(name)
    if asset is None:
        raise NotFound("http.not_found", f"no such console asset: {name}")
    return Response(asset.body, media_type=asset.media_type, headers={"Cache-Control": STATIC_CACHE})
