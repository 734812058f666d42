"""Rendering console pages: the Jinja2 templates (autoescaped), the language of each page, the secure
headers every console response carries, static assets with long cache lifetimes, and errors as pages."""

from __future__ import annotations

import gzip
import hashlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

import jinja2
from fastapi import Request
from fastapi.routing import APIRoute
from starlette.responses import HTMLResponse, RedirectResponse, Response

from trainer_ops.access.service import TokenService
from trainer_ops.audit.checkpoints import CheckpointService
from trainer_ops.audit.service import AuditService
from trainer_ops.config import Settings
from trainer_ops.console import timefmt
from trainer_ops.console.i18n import COOKIE as LANG_COOKIE
from trainer_ops.console.i18n import LANGUAGES, Catalogues, choose
from trainer_ops.console.nav import nav_for
from trainer_ops.console.service import ConsoleSessions
from trainer_ops.db.engine import Database
from trainer_ops.db.writer import BatchWriter
from trainer_ops.engines.fleet import Fleet
from trainer_ops.engines.registry import EngineRegistry
from trainer_ops.engines.service import EngineService
from trainer_ops.errors import TrainerOpsError
from trainer_ops.features.service import FeaturesService
from trainer_ops.gateway.service import GatewayService
from trainer_ops.health.service import HealthService
from trainer_ops.http.context import edge_of
from trainer_ops.infra.clock import Clock
from trainer_ops.infra.metrics import RequestMetrics
from trainer_ops.infra.process import ProcessSampler
from trainer_ops.releases.service import ReleaseService
from trainer_ops.versions.service import DocumentEditor, DocumentService
from trainer_ops.versions.snapshot import SnapshotHolder

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
SIGN_IN_PATH = "/console/sign-in"
# Asset URLs carry their content's digest, so a cached copy can be kept for a year and never goes stale.
STATIC_CACHE = "public, max-age=31536000, immutable"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    digest: str
    gzipped: bytes  # served to clients that accept gzip: a first visit stays small


def _load_assets() -> dict[str, Asset]:
    assets: dict[str, Asset] = {}
    for entry in (files("trainer_ops.console") / "static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in STATIC_TYPES:
            body = entry.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:12]
            assets[entry.name] = Asset(body, STATIC_TYPES[suffix], digest, gzip.compress(body, mtime=0))
    return assets


@dataclass
class Console:
    """What console routes need, built once by create_app and hung on app.state.console: the same
    services the API's routers use (pages call them with the signed-in principal, never the HTTP API)."""

    settings: Settings
    clock: Clock
    database: Database
    writer: BatchWriter
    sessions: ConsoleSessions
    health: HealthService
    metrics: RequestMetrics
    sampler: ProcessSampler
    holder: SnapshotHolder
    documents: DocumentService
    model_config: DocumentEditor
    limits: DocumentEditor
    features: FeaturesService
    engines: EngineRegistry
    engine_service: EngineService
    fleet: Fleet
    releases: ReleaseService
    gateway: GatewayService
    audit: AuditService
    checkpoints: CheckpointService
    tokens: TokenService
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
        html = self.render_text(request, template, **values)
        # Pages show the caller's data: never kept by a shared cache or the browser's back-forward store.
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    def render_text(self, request: Request, template: str, **values: Any) -> str:
        """A template (a whole page, or a fragment for htmx or an SSE event) in the caller's language
        and time zone. Templates get `t(key, **fill)`, `when(epoch)` and `iso(epoch)`."""
        lang = self.language(request)
        zone = timefmt.zone_of(request.cookies.get(timefmt.COOKIE))

        def t(key: str, **fill: object) -> str:
            return self.catalogues.translate(lang, key, **fill)

        def when(epoch_seconds: float | None) -> str:
            return timefmt.show(epoch_seconds, zone)

        context = {
            "lang": lang,
            "languages": LANGUAGES,
            "t": t,
            "when": when,
            "iso": timefmt.iso,
            "path": request.url.path,
            **values,
        }
        context.setdefault("who", None)
        context.setdefault("csrf", "")
        if "nav" not in context:
            who = context["who"]
            context["nav"] = nav_for(edge_of(request).policy(), who) if who is not None else []
        return self.templates.get_template(template).render(context)


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


class SignInNeeded(Exception):
    """Raised by a page whose caller has no live session: answered by sending them to sign in."""


class ConsoleRoute(APIRoute):
    """A console route: its errors are pages (not problem+json), and every answer has the secure headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInNeeded:
                response = _to_sign_in(request)
            except TrainerOpsError as exc:
                response = error_page(request, exc)
            response.headers.update(SECURE_HEADERS)
            return response

        return handle


def _to_sign_in(request: Request) -> Response:
    if request.headers.get("hx-request") == "true":
        # htmx swaps what it gets into the page; a whole sign-in page would land inside a fragment.
        return Response(status_code=204, headers={"HX-Redirect": SIGN_IN_PATH})
    return RedirectResponse(SIGN_IN_PATH, status_code=303)


def error_page(request: Request, exc: TrainerOpsError) -> Response:
    if exc.status >= 500 and exc.fault:
        log.error("console %s %s: %s (%s)", request.method, request.url.path, exc.code, exc)
    console = console_of(request)
    if request.headers.get("hx-request") == "true":
        # A fragment's failure is shown where the fragment goes, in the operator's language.
        return console.render(
            request,
            "_problem.html",
            status=exc.status,
            reason=exc.code,
            detail=exc.message,
            explained=_explained(console, exc),
            errors=exc.errors,
        )
    explained = _explained(console, exc)
    session = getattr(request.state, "console_session", None)
    signed_in = {"who": session.principal, "csrf": session.csrf} if session is not None else {}
    return console.render(
        request,
        "error.html",
        **signed_in,
        status=exc.status,
        status_code=exc.status,
        reason=exc.code,
        explained=explained,
        detail=exc.message,
    )


def _explained(console: Console, exc: TrainerOpsError) -> str | None:
    # A reason the catalogue words for operators is shown in their language; others as the server says.
    key = f"reason.{exc.code}"
    return key if key in console.catalogues.messages["en"] else None
