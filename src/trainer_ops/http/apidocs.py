"""The API reference pages, /docs (Swagger UI) and /redoc, served with no network.

FastAPI's own pages load their scripts and styles from a CDN, so offline they stay blank. These load
the released files vendored in `static/apidocs/` (versions and licenses in its README), each at a fixed
path of its own under /docs/static/, with its media type stated here rather than guessed from the
machine's mime.types. None of these routes is in /openapi.json, and none needs a token (neither did
FastAPI's /docs): the document they show is public at /openapi.json already.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import HTMLResponse, Response

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
STATIC_PREFIX = "/docs/static/"
OPENAPI_URL = "/openapi.json"

# Every file a page references, and the type it is served as.
MEDIA_TYPES: dict[str, str] = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
}
# The files change only with a release of the package; an hour of caching spares reloads the 3 MB, and
# the ETag makes the revalidation after it cheap.
CACHE_CONTROL = "public, max-age=3600"
SWAGGER_PARAMETERS = {
    # No "validator" badge: it would send the document to validator.swagger.io.
    "validatorUrl": None,
    # Keep a pasted token across reloads of the page (it stays in this browser's localStorage).
    "persistAuthorization": True,
}

# What the pages may load: this server's files, and the one inline script FastAPI's Swagger UI page
# starts with, by its hash (no 'unsafe-inline' scripts). ReDoc's attribution logo is an <img> from
# cdn.redoc.ly in its bundle; img-src keeps the browser from even asking. Styles inline are the UIs' own
# (ReDoc's styled-components); images as data: are Swagger UI's icons; ReDoc's search runs in a blob:
# worker.
CSP = (
    "default-src 'none'; script-src 'self'{scripts}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


@cache
def asset(name: str) -> Asset:
    """A vendored file, read from the package once."""
    body = (resources.files("trainer_ops.http") / "static" / "apidocs" / name).read_bytes()
    return Asset(body=body, media_type=MEDIA_TYPES[name], etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def asset_url(name: str) -> str:
    return STATIC_PREFIX + name


def _serve(name: str) -> Callable[[Request], Awaitable[Response]]:
    async def serve(request: Request) -> Response:
        found = asset(name)
        headers = {"ETag": found.etag, "Cache-Control": CACHE_CONTROL}
        if request.headers.get("if-none-match") == found.etag:
            return Response(status_code=304, headers=headers)
        return Response(found.body, media_type=found.media_type, headers=headers)

    return serve


for _name in MEDIA_TYPES:
    router.add_api_route(asset_url(_name), _serve(_name), methods=["GET"], name=f"apidocs:{_name}")


def with_policy(page: HTMLResponse) -> HTMLResponse:
    """The page with its Content-Security-Policy, naming each inline script by its SHA-256."""
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in INLINE_SCRIPT.findall(bytes(page.body).decode())
    )
    page.headers["Content-Security-Policy"] = CSP.format(scripts=hashes)
    page.headers["Referrer-Policy"] = "no-referrer"
    return page


@router.get(DOCS_URL)
async def swagger_ui(request: Request) -> HTMLResponse:
    return with_policy(
        get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title=f"{request.app.title} - API reference",
            swagger_js_url=asset_url("swagger-ui-bundle.js"),
            swagger_css_url=asset_url("swagger-ui.css"),
            swagger_favicon_url=asset_url("favicon-32x32.png"),
            swagger_ui_parameters=SWAGGER_PARAMETERS,
        )
    )


@router.get(REDOC_URL)
async def redoc(request: Request) -> HTMLResponse:
    return with_policy(
        get_redoc_html(
            openapi_url=OPENAPI_URL,
            title=f"{request.app.title} - API reference",
            redoc_js_url=asset_url("redoc.standalone.js"),
            redoc_favicon_url=asset_url("favicon-32x32.png"),
            with_google_fonts=False,
        )
    )
