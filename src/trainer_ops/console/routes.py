"""The console's front door under /console: sign-in and sign-out, the language switch and static assets;
and the router that gathers every page module of console/views/."""

from __future__ import annotations

import importlib
import pkgutil
import re
import secrets

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.console import views
from trainer_ops.console.i18n import COOKIE as LANG_COOKIE
from trainer_ops.console.i18n import LANGUAGES
from trainer_ops.console.pages import SIGN_IN_PATH as SIGN_IN
from trainer_ops.console.pages import STATIC_CACHE, console_of
from trainer_ops.console.service import check_csrf
from trainer_ops.console.web import SESSION_COOKIE, field, find_session, page_router, presented_csrf, redirect
from trainer_ops.errors import Forbidden, NotFound, Unauthorized
from trainer_ops.http.context import request_id_of
from trainer_ops.http.guard import authorize

router = page_router()

HOME = "/console"
# Before sign-in there is no session to hold a CSRF secret: the form's token is also a cookie of its
# own (double submit). SameSite=Strict keeps that cookie off another site's forged sign-in.
PRE_COOKIE = "trainer_ops_console_pre"
PRE_SECONDS = 3600
LANG_SECONDS = 365 * 24 * 3600
MAX_TOKEN_CHARS = 8192
_TOKENISH = re.compile(r"[A-Za-z0-9_-]{32,128}")


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


@router.get("/")
async def root() -> Response:
    """The console is the front door."""
    return redirect(HOME)


@router.get(SIGN_IN)
async def sign_in_form(request: Request) -> Response:
    if await find_session(request) is not None:
        return redirect(HOME)
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
    check_csrf(request.cookies.get(PRE_COOKIE, ""), presented_csrf(request, form))
    token = field(form, "token").strip()
    if not token or len(token) > MAX_TOKEN_CHARS:
        return _sign_in_page(request, error="signin.empty", status=422)
    sessions = console_of(request).sessions
    try:
        found = await run_in_threadpool(sessions.identify, token)
    except Unauthorized:
        return _sign_in_page(request, error="signin.bad_token", status=401)
    try:
        # Who may use the console is the policy's to say (service tokens are engines, not people);
        # a refusal is the usual audited access_denied, answered with the form and a plain reason.
        await authorize(request, found.principal, "console.use")
    except Forbidden:
        return _sign_in_page(request, error="signin.not_allowed", status=403)
    try:
        new = await run_in_threadpool(sessions.sign_in, token, found, request_id=request_id_of(request))
    except Unauthorized:
        return _sign_in_page(request, error="signin.bad_token", status=401)
    response = redirect(HOME)
    _set_cookie(response, request, SESSION_COOKIE, new.cookie, new.max_age)
    _drop_cookie(response, request, PRE_COOKIE)
    return response


@router.post("/console/sign-out")
async def sign_out(request: Request) -> Response:
    found = await find_session(request)
    if found is None:
        return redirect(SIGN_IN)
    form = await request.form()
    check_csrf(found.csrf, presented_csrf(request, form))
    await run_in_threadpool(console_of(request).sessions.sign_out, found, request_id=request_id_of(request))
    response = redirect(SIGN_IN)
    _drop_cookie(response, request, SESSION_COOKIE)
    return response


@router.get("/console/language")
async def choose_language(request: Request, to: str = "", next: str = HOME) -> Response:
    """Remember the operator's language (a cookie) and go back to the page they were on."""
    safe = next.startswith("/console") and "//" not in next and "\\" not in next
    response = redirect(next if safe else HOME)
    if to in LANGUAGES:
        _set_cookie(response, request, LANG_COOKIE, to, LANG_SECONDS)
    return response


@router.get("/console/static/{name}")
async def static(request: Request, name: str) -> Response:
    asset = console_of(request).assets.get(name)
    if asset is None:
        raise NotFound("http.not_found", f"no such console asset: {name}")
    headers = {"Cache-Control": STATIC_CACHE, "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


for _module in pkgutil.iter_modules(views.__path__):
    router.include_router(importlib.import_module(f"{views.__name__}.{_module.name}").router)
