"""The live Overview in chromium: an admin's charts move on without a reload (the SSE stream swaps the
parts in), a region operator sees the engines but no charts, a branch operator the status only; each
state passes axe under the page's CSP, with nothing blocked and no script error; and once in Korean."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from conftest import ADMIN_TOKEN, LiveServer

from .conftest import Browsing, make_token, served

CHARTS = ("CPU", "Memory", "Error rate", "Upstream timeouts", "Request latency")
TAKEN = re.compile(r"\(([0-9]+) taken since start\)")


# A server of this module's own (overriding the session's): samples every half second, so a test sees
# the charts move within a few seconds. Nothing here changes a document, but the interval is a setting.
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with served(
        tmp_path_factory, "overview-server", snapshot_poll_seconds=1.0, overview_sample_seconds=0.5
    ) as live:
        yield live


@dataclass(frozen=True)
class People:
    region: str
    branch: str


@pytest.fixture(scope="module")
def people(server: LiveServer) -> People:
    return People(
        region=make_token(server, "region", user="region-kim", region="EU"),
        branch=make_token(server, "branch", user="branch-kim", region="EU", country="DE", branch="DE-0001"),
    )


def taken(page: Page) -> int:
    found = TAKEN.search(page.get_by_text(TAKEN).inner_text())
    assert found
    return int(found[1])


def test_an_admin_sees_the_charts_move_on_without_a_reload(browsing: Browsing, server: LiveServer) -> None:
    assert server.ops is not None
    page = browsing.sign_in(ADMIN_TOKEN)
    expect(page.get_by_role("heading", name="This server, last hour")).to_be_visible()
    for name in CHARTS:
        expect(page.get_by_role("img", name=re.compile(f"^{name}"))).to_be_visible()
    expect(page.get_by_role("heading", name="Slowest endpoints (last 5 minutes)")).to_be_visible()
    expect(page.get_by_role("heading", name="The fleet: servers and engine instances")).to_be_visible()
    servers = page.get_by_role("table", name="Servers alive")
    replica = server.ops.fleet.replica_id
    expect(servers.get_by_role("rowheader", name=f"{replica} this server", exact=True)).to_be_visible()
    expect(page.get_by_text("No SDK engine instance is connected")).to_be_visible()
    page.evaluate("window.notReloaded = true")
    first = taken(page)

    deadline = time.monotonic() + 10
    while taken(page) <= first + 1 and time.monotonic() < deadline:
        page.wait_for_timeout(250)

    assert taken(page) > first + 1, "the charts did not update"
    assert page.evaluate("window.notReloaded") is True  # swapped in by the stream, not a reload
    cpu = page.get_by_role("img", name=re.compile("^CPU"))
    expect(cpu).to_have_accessible_name(re.compile(r"CPU: now [0-9.]+%, lowest [0-9.]+%, highest [0-9.]+%"))
    expect(page.locator("svg polyline").first).to_be_attached()
    browsing.settled()
    browsing.screenshot("console-overview-admin", full_page=True)


def test_a_region_operator_sees_the_engines_but_no_charts(browsing: Browsing, people: People) -> None:
    page = browsing.sign_in(people.region)
    expect(page.get_by_role("table", name="Engines")).to_be_visible()
    expect(page.get_by_role("rowheader", name="content", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Health")).to_be_visible()
    page.wait_for_timeout(1500)  # a few stream updates: they bring no part the page did not have
    assert page.get_by_role("img").count() == 0
    assert page.get_by_role("heading", name="This server, last hour").count() == 0
    assert page.get_by_role("heading", name="The fleet: servers and engine instances").count() == 0
    assert page.get_by_text("Median latency").count() == 0
    browsing.settled()
    browsing.screenshot("console-overview-region", full_page=True)


def test_a_branch_operator_sees_the_status_only(browsing: Browsing, people: People) -> None:
    page = browsing.sign_in(people.branch)
    expect(page.get_by_role("heading", name="Health")).to_be_visible()
    expect(page.locator(".status").first).to_be_visible()
    page.wait_for_timeout(1500)
    assert page.get_by_role("heading", name="Engines").count() == 0
    assert page.get_by_role("table").count() == 0
    assert page.get_by_role("img").count() == 0
    browsing.settled()
    browsing.screenshot("console-overview-branch", full_page=True)


def test_the_overview_in_korean(browsing: Browsing) -> None:
    browsing.sign_in(ADMIN_TOKEN)
    page = browsing.open("/console/language?to=ko&next=/console")
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.get_by_role("heading", name="개요", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="이 서버, 최근 1시간")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("^메모리"))).to_be_visible()
    page.wait_for_timeout(1500)  # the stream's parts come in Korean too
    expect(page.get_by_text("갱신 시각")).to_be_visible()
    assert page.get_by_text("Updated").count() == 0
    browsing.settled()
    browsing.screenshot("console-overview-admin-ko", full_page=True)
