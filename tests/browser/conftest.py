"""Browser fixtures: the real server (uvicorn on 127.0.0.1, a SQLite store of its own) and Debian's
chromium driven by Playwright, shared by every browser test of one xdist worker.

Playwright's own browser download cannot work here, so chromium is launched by its executable path
(`TRAINER_OPS_CHROMIUM`, else `chromium` on PATH). Without it the tests skip, or fail when
TRAINER_OPS_REQUIRE_BROWSER=1 (as .ci/run sets it). Every page is offline: a route aborts any request
that leaves 127.0.0.1, and `Browsing.blocked` lists what was refused (`Browsing.errors`: what the console
said was an error). Screenshots go to
test-artifacts/screenshots/ (git-ignored); a failing test leaves one named after itself.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import httpx
import pytest

from conftest import ADMIN_TOKEN, LiveServer
from trainer_ops.access.types import Role
from trainer_ops.audit.types import SYSTEM_ACTOR
from trainer_ops.config import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

HERE = Path(__file__).parent
AXE_SOURCE = HERE / "vendor" / "axe.min.js"  # axe-core 4.14.1 from npm, MPL-2.0 (vendor/LICENSE-axe-core)
# Chromium as root in a container, and quiet: without the background-networking flags it keeps trying
# Google's hosts, which this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = frozenset({"127.0.0.1"})
FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (its own hook of the same name)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every browser test is marked `browser` and runs on one worker: one chromium and one server serve
    them all, which is cheaper than a browser per worker."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    if outcome.get_result().failed:
        item.stash[FAILED] = True


def failed_load(status: int) -> str:
    """What chromium logs for an answer with an error status (uvicorn sends the standard reason phrase)."""
    reason = HTTPStatus(status).phrase
    return f"Failed to load resource: the server responded with a status of {status} ({reason})"


def chromium_executable() -> str | None:
    configured = os.environ.get("TRAINER_OPS_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("chromium")


def _missing(reason: str) -> NoReturn:
    if os.environ.get("TRAINER_OPS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (TRAINER_OPS_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


# Module scope, not session: Playwright's sync API keeps an asyncio loop running in this thread while it
# is started, and the tests an xdist worker runs after the browser tests (asyncio.run(), ast) fail
# under it. The loop ends when the module's last browser test is done.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_executable()
    if executable is None:
        _missing(
            "the browser tests need Debian's chromium (apt-get install chromium) or TRAINER_OPS_CHROMIUM"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the browser tests need the playwright package (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@contextlib.contextmanager
def served(
    tmp_path_factory: pytest.TempPathFactory, name: str, **settings_overrides: Any
) -> Iterator[LiveServer]:
    """The app under uvicorn on a free port of 127.0.0.1 while the block runs, with a SQLite store of its
    own in a new temporary folder `name`, the bootstrap admin token ADMIN_TOKEN and `settings_overrides`
    on top: for the session's server and a module's own `server` fixture."""
    root = tmp_path_factory.mktemp(name)
    defaults: dict[str, Any] = {
        "home": root / ".trainer-ops",
        "database_url": f"sqlite:///{root / 'store.db'}",
        "bootstrap_admin_token": ADMIN_TOKEN,
        "snapshot_poll_seconds": 0,
        "change_notifications": False,
    }
    live = LiveServer(Settings(**(defaults | settings_overrides))).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app for the session (tests that change state must leave it as they found it, or start a
    server of their own: a module's own `server` fixture overrides this one for `browsing`)."""
    with served(tmp_path_factory, "browser-server") as live:
        yield live


def make_token(server: LiveServer, role: str, *, user: str | None = None, **scope: str) -> str:
    """A new API token on `server` for `user` (by default "<role>-operator") with `role` and `scope`."""
    ops = server.ops
    assert ops is not None
    made = ops.write(
        lambda session: ops.tokens.create(
            session, actor=SYSTEM_ACTOR, role=Role(role), user_id=user or f"{role}-operator", **scope
        )
    )
    return made.token


def admin_api(server: LiveServer) -> httpx.Client:
    """An HTTP client of `server`'s API as the bootstrap admin (the caller closes it)."""
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)


@dataclass(frozen=True)
class Operators:
    """A token for each kind of operator on the session's server."""

    admin: str
    region: str  # region EU
    country: str  # country DE in region EU
    branch: str  # branch DE-0001 in country DE, region EU


@pytest.fixture(scope="session")
def operators(server: LiveServer) -> Operators:
    return Operators(
        admin=ADMIN_TOKEN,
        region=make_token(server, "region", region="EU"),
        country=make_token(server, "country", region="EU", country="DE"),
        branch=make_token(server, "branch", region="EU", country="DE", branch="DE-0001"),
    )


@pytest.fixture(scope="session")
def screenshots(pytestconfig: pytest.Config) -> Path:
    directory = pytestconfig.rootpath / "test-artifacts" / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@dataclass
class Browsing:
    """One test's page (in a browser context of its own: no cookies or storage shared with another
    test), the server it talks to, and the requests that tried to leave 127.0.0.1."""

    page: Page
    base_url: str
    screenshots: Path
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the console's errors and the page's exceptions

    def open(self, path: str) -> Page:
        self.page.goto(self.base_url + path)
        return self.page

    def sign_in(self, token: str) -> Page:
        """Sign in through the form, as an operator would, and land on the Overview."""
        page = self.open("/console/sign-in")
        page.locator("#token").fill(token)
        page.locator("form[action='/console/sign-in'] button[type=submit]").click()
        page.wait_for_url(f"{self.base_url}/console")
        return page

    def axe(self) -> list[dict[str, Any]]:
        """axe-core's serious and critical violations on the page as it is now (vendor/axe.min.js).
        Run through the DevTools protocol, so the page's own CSP stays in force for everything else."""
        self.page.evaluate(AXE_SOURCE.read_text("utf-8"))
        result = self.page.evaluate("async () => (await axe.run(document)).violations")
        return [
            {
                "id": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "nodes": [node["target"] for node in v["nodes"]][:5],
            }
            for v in result
            if v["impact"] in ("serious", "critical")
        ]

    def settled(self, *expected_statuses: int) -> None:
        """No serious axe finding, nothing blocked, and no script or CSP error. Chromium logs each answer
        with an error status as a failed load: `expected_statuses` are those the test caused (the 422 of
        a refused form, the 403 of a refused page), one log line each, in order, and nothing else may be
        there. The log is cleared once checked."""
        assert self.axe() == []
        assert self.errors == [failed_load(status) for status in expected_statuses]
        self.errors.clear()
        assert self.blocked == []

    def screenshot(self, name: str, *, full_page: bool = False) -> Path:
        path = self.screenshots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture
def browsing(
    request: pytest.FixtureRequest, browser: Browser, server: LiveServer, screenshots: Path
) -> Iterator[Browsing]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    session = Browsing(page=context.new_page(), base_url=server.url, screenshots=screenshots)

    def offline(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            session.blocked.append(route.request.url)
            route.abort("internetdisconnected")

    context.route(re.compile(r".*"), offline)
    session.page.on(
        "console", lambda message: message.type == "error" and session.errors.append(message.text)
    )
    session.page.on("pageerror", lambda error: session.errors.append(f"uncaught: {error}"))
    try:
        yield session
    finally:
        if request.node.stash.get(FAILED, False):
            with contextlib.suppress(Exception):  # a dead page must not hide the test's own failure
                session.screenshot(f"FAILED-{request.node.name}")
        context.close()
