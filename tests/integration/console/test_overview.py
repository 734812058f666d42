"""The live Overview's page on both stores: what each role sees (charts and slowest endpoints for
diagnostics readers, the fleet's servers and engine instances for the full view), charts drawn from the
samples, the fleet read from the store whichever replica answers, data as text."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from trainer_ops.app import Ops, build_ops
from trainer_ops.config import Settings
from trainer_ops.engines.fleet_store import FleetStore
from trainer_ops.sync.broadcaster import Subscriber

from ..support import ADMIN_TOKEN, store_document
from .helpers import browser, new_token, signed_in

CHART_KEYS = ("cpu", "memory", "error_rate", "timeouts", "latency")
XSS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")


def overview_as(client: TestClient, token: str) -> str:
    page = browser(client)
    signed_in(page, token)
    answer = page.get("/console")
    assert answer.status_code == 200, answer.text
    return answer.text


# Other replicas of the fleet, as their heartbeats write them to the store they share with this one.
OTHER = "replica-b:41:beef"
DEAD = "replica-c:42:dead"


def now_ms() -> int:
    return int(time.time() * 1000)


def beat(ops: Ops, replica_id: str, held: list[str], *, at_ms: int | None = None) -> None:
    with ops.database.write() as session:
        FleetStore().beat(session, replica_id=replica_id, held=held, now_ms=at_ms or now_ms())


def attach(
    ops: Ops,
    instance_id: str,
    *,
    replica_id: str,
    user: str = "engine-user",
    engines: str = "content",
    at_ms: int | None = None,
) -> None:
    """An SDK instance's binding, as the replica whose stream took it writes it."""
    with ops.database.write() as session:
        FleetStore().put_instance(
            session,
            instance_id=instance_id,
            user_id=user,
            engines=engines,
            replica_id=replica_id,
            now_ms=at_ms or now_ms(),
        )


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    made = asyncio.new_event_loop()
    yield made
    made.close()


def held_here(
    ops: Ops, loop: asyncio.AbstractEventLoop, instance_id: str, user: str, engines: list[str]
) -> None:
    """An SDK client on this replica's stream, as the sync stream takes one (the stream is not read):
    bound in the store, and held here, so this replica's heartbeats keep it."""
    assert ops.sync.claim(instance_id, user_id=user, engines=engines)
    ops.sync.attach(instance_id, engines, Subscriber(loop))


def row_of(html: str, code: str) -> str:
    """The table row whose header cell is `code` (in <code>)."""
    found = re.search(rf"<tr[^>]*>\s*<th scope=\"row\"><code>{re.escape(code)}</code>(.*?)</tr>", html, re.S)
    assert found, f"no row for {code}"
    return found[1]


def test_an_admin_sees_health_charts_slowest_endpoints_and_instances_live(
    client: TestClient, ops: Ops
) -> None:
    client.get("/operator/ops/limits")  # a request in the window: a route to list
    html = overview_as(client, ADMIN_TOKEN)
    assert 'sse-connect="/console/overview/events"' in html
    assert 'hx-ext="sse"' in html
    for part in ("health", "engines", "charts", "slowest", "instances"):
        assert f'sse-swap="{part}"' in html
    for key in CHART_KEYS:
        assert f'aria-labelledby="chart-{key}-title chart-{key}-desc"' in html
    assert html.count('role="img"') == len(CHART_KEYS)
    assert "This server, last hour" in html
    assert "<code>/operator/ops/limits</code>" in html
    assert "this server" in row_of(html, ops.fleet.replica_id)  # its own heartbeat, from the lifespan


def test_charts_draw_the_samples_and_say_the_current_value_and_range(client: TestClient, ops: Ops) -> None:
    empty = overview_as(client, ADMIN_TOKEN)
    assert "no samples yet" in empty
    assert "<polyline" not in empty
    for _ in range(3):
        ops.health.live.record()
    html = overview_as(client, ADMIN_TOKEN)
    assert html.count('<polyline class="series') == len(CHART_KEYS) + 1  # latency: median and p95
    points = re.findall(r'points="([^"]+)"', html)
    assert all(len(p.split()) == 3 for p in points)
    desc = re.search(r'<desc id="chart-memory-desc">([^<]+)</desc>', html)
    assert desc
    assert re.fullmatch(
        r"Memory: now [0-9.]+%, lowest [0-9.]+%, highest [0-9.]+% in the last hour\. ", desc[1]
    )
    assert "3 samples shown" in html


def test_a_region_operator_sees_the_engines_but_no_charts_endpoints_or_instances(
    client: TestClient, ops: Ops
) -> None:
    token, _ = new_token(ops, "region", region="EU")
    html = overview_as(client, token)
    assert '<th scope="row">content</th>' in html
    assert 'sse-swap="engines"' in html
    for hidden in ("charts", "slowest", "instances"):
        assert f'sse-swap="{hidden}"' not in html
    assert "<svg" not in html
    assert ops.engines.replica_id not in html


def test_a_country_operator_sees_what_a_region_operator_sees(client: TestClient, ops: Ops) -> None:
    token, _ = new_token(ops, "country", region="EU", country="DE")
    html = overview_as(client, token)
    assert '<th scope="row">content</th>' in html
    assert "<svg" not in html
    assert 'sse-swap="instances"' not in html


def test_a_branch_operator_sees_the_status_only_and_it_is_live(client: TestClient, ops: Ops) -> None:
    token, _ = new_token(ops, "branch", region="EU", country="DE", branch="DE-0001")
    html = overview_as(client, token)
    assert 'sse-swap="health"' in html
    assert "status-ok" in html
    for hidden in ("engines", "charts", "slowest", "instances"):
        assert f'sse-swap="{hidden}"' not in html
    assert "scenario" not in html
    assert "Median latency" not in html


def test_diagnostics_parts_follow_the_policy_not_the_role(client: TestClient, ops: Ops) -> None:
    # A stored policy that lets region operators read diagnostics: the page shows them the charts.
    policy = ops.holder.current.get("policy").document
    operations = {**policy["operations"], "diagnostics.read": {"admin": {}, "region": {}}}
    store_document(ops, "policy", {**policy, "operations": operations}, request_id="test-policy")
    token, _ = new_token(ops, "region", region="EU")
    html = overview_as(client, token)
    assert 'sse-swap="charts"' in html
    assert 'sse-swap="slowest"' in html
    assert 'sse-swap="instances"' not in html  # instances follow health.read's full view


def test_the_fleet_is_listed_from_the_store_this_replica_marked_and_the_dead_left_out(
    client: TestClient, ops: Ops, loop: asyncio.AbstractEventLoop
) -> None:
    long_ago = now_ms() - 60_000  # beyond the 15 s liveness window
    beat(ops, DEAD, [], at_ms=long_ago)
    attach(ops, "shop-9/engine-dead", replica_id=DEAD, at_ms=long_ago)
    beat(ops, OTHER, [])
    attach(ops, "shop-7/engine-a", replica_id=OTHER, user="shop-7-engine", engines="missions,content")
    held_here(ops, loop, "shop-8/engine-b", "shop-8-engine", ["scenario"])
    attach(ops, "shop-8/engine-stale", replica_id=OTHER, at_ms=long_ago)  # held there, not seen lately
    html = overview_as(client, ADMIN_TOKEN)

    mine, other = row_of(html, ops.fleet.replica_id), row_of(html, OTHER)
    assert "this server" in mine
    assert "this server" not in other
    assert other.count("<time datetime=") == 2  # started, last seen
    assert f"{len(ops.engines.names())} engines, one instance each" in other
    assert DEAD not in html
    assert "shop-9/engine-dead" not in html
    assert "shop-8/engine-stale" not in html

    remote = row_of(html, "shop-7/engine-a")
    assert "<td>missions, content</td>" in remote
    assert "<td>shop-7-engine</td>" in remote
    assert f"<code>{OTHER}</code></td>" in remote
    assert remote.count("<time datetime=") == 2  # attached, last seen
    here = row_of(html, "shop-8/engine-b")
    assert f'<code>{ops.fleet.replica_id}</code> <span class="tag">this server</span>' in here


def test_another_replica_answers_with_the_same_fleet(
    settings: Settings, client: TestClient, ops: Ops
) -> None:
    beat(ops, OTHER, [])
    attach(ops, "shop-7/engine-a", replica_id=OTHER)
    other = build_ops(settings)  # another replica on the same store
    try:
        seen = other.fleet.view()
    finally:
        other.close()
    assert {r.replica_id for r in seen.replicas} == {ops.fleet.replica_id, OTHER, other.fleet.replica_id}
    assert [r.replica_id for r in seen.replicas if r.this] == [other.fleet.replica_id]
    assert [(i.instance_id, i.replica_id) for i in seen.instances] == [("shop-7/engine-a", OTHER)]
    assert ops.fleet.view(limit=1).more is False
    attach(ops, "shop-8/engine-b", replica_id=OTHER)
    assert ops.fleet.view(limit=1).more is True


def test_a_replica_without_a_heartbeat_shows_itself_outside_the_fleet(client: TestClient, ops: Ops) -> None:
    ops.fleet.leave()
    html = overview_as(client, ADMIN_TOKEN)
    mine = row_of(html, ops.fleet.replica_id)
    assert "this server" in mine
    assert "not in the fleet" in mine


def test_no_sdk_instance_says_so(client: TestClient, ops: Ops) -> None:
    html = overview_as(client, ADMIN_TOKEN)
    assert "No SDK engine instance is connected" in html


def test_data_values_render_as_inert_text(client: TestClient, ops: Ops) -> None:
    beat(ops, OTHER, [])
    for n, value in enumerate(XSS):
        attach(ops, value, replica_id=OTHER, user=XSS[1 - n])
    html = overview_as(client, ADMIN_TOKEN)
    assert "<script>alert(1)</script>" not in html
    assert "<img src=x" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2  # an id and a user
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") == 2
