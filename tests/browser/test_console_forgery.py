"""Another site against a signed-in operator's browser: a forged form post is refused for want of the
session's CSRF token and changes nothing, and the console refuses to be framed (clickjacking).

The other site is another port of 127.0.0.1: the same *site* to the browser (ports do not count), so the
session cookie goes with the forged post and the CSRF token is all that stands in the way."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from playwright.sync_api import expect

from conftest import ADMIN_TOKEN, LiveServer

from .conftest import Browsing, Operators

FORGED_POST = """<!doctype html><html><body>
<form id="f" method="post" action="{console}/console/features/quiz_auto_generate/switch">
<input name="enabled" value="true"></form>
<script>document.getElementById("f").submit();</script></body></html>"""
FRAMING = (
    """<!doctype html><html><body><iframe id="console" src="{console}/console"></iframe></body></html>"""
)


class OtherSite:
    """A page server of its own on another port, serving whatever `pages` holds."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.pages.get(self.path, "").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def other_site() -> Iterator[OtherSite]:
    site = OtherSite()
    try:
        yield site
    finally:
        site.httpd.shutdown()
        site.httpd.server_close()


def quiz_auto_generate(server: LiveServer) -> bool:
    answer = httpx.get(
        f"{server.url}/operator/ops/features", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    return bool(answer.json()["quiz_auto_generate"])


def test_a_forged_post_from_another_page_is_refused_and_changes_nothing(
    browsing: Browsing, server: LiveServer, operators: Operators, other_site: OtherSite
) -> None:
    before = quiz_auto_generate(server)
    other_site.pages["/forge"] = FORGED_POST.format(console=server.url).replace(
        'value="true"', f'value="{str(not before).lower()}"'
    )
    page = browsing.sign_in(operators.admin)

    page.goto(other_site.url + "/forge")

    expect(page).to_have_url(f"{server.url}/console/features/quiz_auto_generate/switch")
    expect(page.get_by_role("heading", name="Error 403")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("did not come from this console")
    assert quiz_auto_generate(server) == before
    browsing.screenshot("console-forged-post-refused")


def test_the_console_cannot_be_framed_by_another_page(
    browsing: Browsing, server: LiveServer, operators: Operators, other_site: OtherSite
) -> None:
    other_site.pages["/frame"] = FRAMING.format(console=server.url)
    page = browsing.sign_in(operators.admin)

    page.goto(other_site.url + "/frame")

    frame = page.frame_locator("#console")
    # frame-ancestors 'none' (and X-Frame-Options: DENY): chromium shows its own error page instead.
    expect(frame.get_by_role("heading", name="Overview")).to_have_count(0)
    expect(frame.locator("nav")).to_have_count(0)
    assert any("frame-ancestors" in error or "Refused to display" in error for error in browsing.errors)
