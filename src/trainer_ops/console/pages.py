"""Rendering console pages: the Jinja2 templates (autoescaped), the language of each page, the secure
headers every console response carries, static assets with long cache lifetimes, and errors as pages."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

import jinja2
from fastapi import Request
from fastapi.routing import APIRoute
from starlette.responses import HTMLResponse, Response

from trainer_ops.console.i18n import COOKIE as LANG_COOKIE
from trainer_ops.console.i18n import LANGUAGES, Catalogues, choose
from trainer_ops.console.service import ConsoleSessions
from trainer_ops.errors import TrainerOpsError
from trainer_ops.health.service import HealthService

log = logging.getLogger("trainer_ops.console")

# No inline script or style anywhere: what the page runs and how it looks come from /console/static.
SECURE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
# Asset URLs carry their content's digest, so a cached copy can be kept for a year and never goes stale.
STATIC_CACHE = "public, max-age=31536000, immutable"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    digest: str


def _load_assets() -> dict[str, Asset]:
    assets: dict[str, Asset] = {}
    for entry in (files("trainer_ops.console") / "static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in STATIC_TYPES:
            body = entry.read_bytes()
            assets[entry.name] = Asset(body, STATIC_TYPES[suffix], hashlib.sha256(body).hexdigest()[:12])
    return assets


@dataclass
class Console:
    """What console routes need, built once by create_app and hung on app.state.console."""

    sessions: ConsoleSessions
    health: HealthService
    catalogues: Catalogues = field(default_factory=Catalogues.load)
    assets: dict[str, Asset] = field(default_factory=_load_assets)
    templates: jinja2.Environment = field(init=False)

    def __post_init__(self) -> None:
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("trainer_ops.console", "templates"),
            autoescape=True,  # every template, whatever its name: a value is text unless marked safe
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals["static"] = self.static_url

    def static_url(self, name: str) -> str:
        return f"/console/static/{name}?v={self.assets[name].digest}"

    def language(self, request: Request) -> str:
        return choose(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))

    def render(self, request: Request, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
        lang = self.language(request)

        def t(key: str, **fill: object) -> str:
            return self.catalogues.translate(lang, key, **fill)

        context = {"lang": lang, "languages": LANGUAGES, "t": t, "path": request.url.path, **values}
        context.setdefault("who", None)
        context.setdefault("csrf", "")
        context.setdefault("nav", [])
        html = self.templates.get_template(template).render(context)
        # Pages show the caller's data: never kept by a shared cache or the browser's back-forward store.
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


class ConsoleRoute(APIRoute):
    """A console route: its errors are pages (not problem+json), and every answer has the secure headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except TrainerOpsError as exc:
                response = error_page(request, exc)
            response.headers.update(SECURE_HEADERS)
            return response

        return handle


def error_page(request: Request, exc: TrainerOpsError) -> Response:
    if exc.status >= 500 and exc.fault:
        log.error("console %s %s: %s (%s)", request.method, request.url.path, exc.code, exc)
    console = console_of(request)
    # A reason the catalogue words for operators is shown in their language; others as the server says.
    key = f"reason.{exc.code}"
    explained = key if key in console.catalogues.messages["en"] else None
    return console.render(
        request,
        "error.html",
        status=exc.status,
        status_code=exc.status,
        reason=exc.code,
        explained=explained,
        detail=exc.message,
    )
