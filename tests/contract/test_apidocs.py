"""/docs and /redoc work with no network: their pages reference only this server, and every file they
load is served from the package with its media type (tests/browser renders them in chromium)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from trainer_ops.http import apidocs

# The pages do not depend on the store: one backend is enough.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

REFERENCE = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|\burl:\s*'([^']+)'""")
EXPECTED_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".json": "application/json",
}


def references(html: str) -> list[str]:
    return [first or second for first, second in REFERENCE.findall(html)]


@pytest.mark.parametrize(("page", "expected"), [("/docs", 4), ("/redoc", 3)])
def test_page_loads_only_local_files_each_with_its_media_type(
    client: TestClient, page: str, expected: int
) -> None:
    client.headers.pop("Authorization")  # the reference is public, like /openapi.json
    response = client.get(page)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]", response.text, re.IGNORECASE), response.text
    found = references(response.text)
    # Swagger UI: its CSS, favicon, script and the document; ReDoc: favicon, document and script.
    assert len(found) == expected, found
    for url in found:
        assert url.startswith("/"), url
        loaded = client.get(url)
        assert loaded.status_code == 200, url
        media_type = loaded.headers["content-type"].split(";")[0]
        assert media_type == EXPECTED_TYPES[Path(url).suffix], (url, media_type)
        assert loaded.content, url


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_page_runs_no_script_but_its_own(client: TestClient, page: str) -> None:
    """Only this server's scripts and the page's own inline script, named by its hash, may run; nothing
    may be loaded from another host (ReDoc's bundle would show a logo from its CDN)."""
    response = client.get(page)
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy["script-src"]
    sources = policy["script-src"].split()
    assert sources[0] == "'self'"
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    assert len(sources) == 1 + len(inline)
    for directive in ("img-src", "connect-src", "style-src"):
        assert "http" not in policy[directive], policy
    assert response.headers["referrer-policy"] == "no-referrer"


def test_an_asset_is_revalidated_by_its_etag(client: TestClient) -> None:
    first = client.get("/docs/static/swagger-ui.css")
    assert first.headers["cache-control"] == apidocs.CACHE_CONTROL
    again = client.get("/docs/static/swagger-ui.css", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]


def test_only_the_vendored_files_are_served(client: TestClient) -> None:
    for name in ("README.md", "LICENSE-redoc", "../apidocs.py", "swagger-ui-bundle.js.map"):
        assert client.get(f"/docs/static/{name}").status_code == 404, name


def test_the_reference_pages_are_not_operations_of_the_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith(("/docs", "/redoc"))]
