"""The Overview's live stream against a real server (uvicorn), on both stores: each part as an event
while the session lives, cut to the caller's view; it ends when the session ends or the server drains."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from conftest import LiveServer
from trainer_ops.access.types import Role
from trainer_ops.audit.types import SYSTEM_ACTOR
from trainer_ops.config import Settings

from ..support import ADMIN_TOKEN
from .helpers import sign_in

EVENTS = "/console/overview/events"


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings.model_copy(update={"overview_sample_seconds": 0.5})).start()
    try:
        yield server
    finally:
        server.stop()


def signed_in_browser(live: LiveServer, token: str) -> httpx.Client:
    page = httpx.Client(base_url=live.url, timeout=10)
    answer = sign_in(page, token)  # type: ignore[arg-type]  # the same calls as a TestClient's
    assert answer.status_code == 303, answer.text
    return page


def read_events(lines: Iterator[str], *, until: set[str], limit: int = 40) -> list[tuple[str, str]]:
    """(name, data) of each event until every name in `until` was seen (or the stream ended).
    `lines`: one response's iter_lines(), shared by successive calls."""
    found: list[tuple[str, str]] = []
    name, data = "", []
    for line in lines:
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            data.append(line[len("data: ") :])
        elif line == "" and name:
            found.append((name, "\n".join(data)))
            name, data = "", []
            if until <= {n for n, _ in found} or len(found) >= limit:
                break
    return found


def token(live: LiveServer, role: str, **scope: str) -> tuple[str, int]:
    ops = live.ops
    assert ops is not None
    made = ops.write(
        lambda s: ops.tokens.create(s, actor=SYSTEM_ACTOR, role=Role(role), user_id=f"{role}-live", **scope)
    )
    return made.token, made.row_id


def test_an_admin_gets_every_part_again_and_again(live: LiveServer) -> None:
    page = signed_in_browser(live, ADMIN_TOKEN)
    with page.stream("GET", EVENTS) as response:
        lines = response.iter_lines()
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        assert "default-src 'self'" in response.headers["content-security-policy"]
        first = read_events(lines, until={"health", "engines", "charts", "slowest", "instances"})
        names = [n for n, _ in first]
        assert set(names) == {"health", "engines", "charts", "slowest", "instances"}
        assert "this server" in dict(first)["instances"]  # the fleet, read from the store each time
        assert live.ops is not None
        assert live.ops.fleet.replica_id in dict(first)["instances"]
        charts = dict(first)["charts"]
        assert charts.count('role="img"') == 5
        taken = int(_taken(charts))
        later = read_events(lines, until={"charts"}, limit=20)
        assert int(_taken(dict(later)["charts"])) > taken  # sampled every 0.5 s: the charts moved on
    page.close()


def _taken(html: str) -> str:
    found = re.search(r"\(([0-9]+) taken since start\)", html)
    assert found, html
    return found[1]


def test_a_branch_operator_gets_the_status_only(live: LiveServer) -> None:
    branch, _ = token(live, "branch", region="EU", country="DE", branch="DE-0001")
    page = signed_in_browser(live, branch)
    with page.stream("GET", EVENTS) as response:
        lines = response.iter_lines()
        seen = read_events(lines, until={"never"}, limit=3)
    assert [n for n, _ in seen] == ["health", "health", "health"]
    assert "Median latency" not in seen[0][1]
    assert "status-" in seen[0][1]
    page.close()


def test_a_region_operator_gets_status_and_engines(live: LiveServer) -> None:
    region, _ = token(live, "region", region="EU")
    page = signed_in_browser(live, region)
    with page.stream("GET", EVENTS) as response:
        lines = response.iter_lines()
        seen = read_events(lines, until={"never"}, limit=4)
    assert [n for n, _ in seen] == ["health", "engines", "health", "engines"]
    assert "scenario" in seen[1][1]
    page.close()


def test_a_revoked_token_ends_the_stream_with_gone(live: LiveServer) -> None:
    admin, row_id = token(live, "admin")
    page = signed_in_browser(live, admin)
    ops = live.ops
    assert ops is not None
    with page.stream("GET", EVENTS) as response:
        lines = response.iter_lines()
        read_events(lines, until={"health"})
        ops.write(lambda s: ops.tokens.revoke(s, actor=SYSTEM_ACTOR, token_id=row_id))
        rest = read_events(lines, until={"gone"})
        assert rest[-1][0] == "gone"
        assert "Sign in again" in rest[-1][1]
        assert list(lines) == []  # and the server ended the response
    page.close()


def test_without_a_session_the_stream_is_refused(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as anonymous:
        answer = anonymous.get(EVENTS, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/console/sign-in")


def test_a_draining_server_ends_the_stream_at_once(live: LiveServer) -> None:
    page = signed_in_browser(live, ADMIN_TOKEN)
    ops = live.ops
    assert ops is not None
    with page.stream("GET", EVENTS) as response:
        lines = response.iter_lines()
        read_events(lines, until={"health"})
        started = time.monotonic()
        ops.sync.broadcaster.close()  # what cli/draining.py does once the listening socket is closed
        tail = []
        for line in lines:  # a stream that did not end would go on: give up after 3 s
            tail.append(line)
            if time.monotonic() - started > 3.0:
                break
        assert time.monotonic() - started < 2.0
    assert ": shutting down, reconnect" in tail
    page.close()


def test_a_client_that_leaves_is_let_go_and_its_stay_is_no_slow_request(live: LiveServer) -> None:
    ops = live.ops
    assert ops is not None
    page = signed_in_browser(live, ADMIN_TOKEN)
    with page.stream("GET", EVENTS) as response:
        read_events(response.iter_lines(), until={"health"}, limit=4)
        assert ops.sync.broadcaster.subscribers == 1
        time.sleep(1.5)
    page.close()
    deadline = time.monotonic() + 5
    while ops.sync.broadcaster.subscribers and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ops.sync.broadcaster.subscribers == 0
    # Timed to its start: an open tab is not a 1.5 s request in latency or in slowQueries.
    _calls, mean_ms = ops.metrics.window().endpoints[EVENTS]
    assert mean_ms < 1000
