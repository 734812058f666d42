"""The API reference renders in chromium with every request outside 127.0.0.1 refused."""

from __future__ import annotations

from playwright.sync_api import expect

from trainer_ops.app import TITLE

from .conftest import Browsing

MODEL_CONFIG = "/operator/ops/model-config"
# ReDoc's bundle always shows Redocly's logo from their CDN; the page's Content-Security-Policy refuses it
# before any request leaves (the <img> then hides itself), and the console says so.
REDOC_LOGO_REFUSED = "Loading the image 'https://cdn.redoc.ly/redoc/logo-mini.svg' violates"


def test_swagger_ui_renders_offline(browsing: Browsing) -> None:
    page = browsing.open("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text(TITLE)
    operation = page.locator(".opblock-patch", has=page.locator(f'[data-path="{MODEL_CONFIG}"]'))
    expect(operation.locator(".opblock-summary-method")).to_have_text("PATCH")
    operation.locator(".opblock-summary-control").click()  # opens it: the rendering goes past the list
    expect(operation.locator(".opblock-body")).to_contain_text("If-Match")
    browsing.screenshot("api-docs-swagger-ui")
    assert browsing.blocked == []
    assert browsing.errors == []


def test_redoc_renders_offline(browsing: Browsing) -> None:
    page = browsing.open("/redoc")
    # ReDoc renders the whole document before its first heading; it grew with the ruleset schemas (ADR 0029).
    expect(page.locator("h1").first).to_contain_text(TITLE, timeout=30_000)
    expect(page.get_by_role("heading", name="Change the model configuration")).to_be_attached()
    expect(page.get_by_text(MODEL_CONFIG).first).to_be_attached()
    browsing.screenshot("api-docs-redoc")
    assert browsing.blocked == []
    assert [error for error in browsing.errors if not error.startswith(REDOC_LOGO_REFUSED)] == []
