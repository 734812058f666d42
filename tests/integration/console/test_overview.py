"""The live Overview's page on both stores: what each role sees (charts, slowest endpoints and engine
instances only for the full view and diagnostics readers), charts drawn from the samples, data as text."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from trainer_ops.app import Ops
from trainer_ops.sync.broadcaster import Subscriber
from trainer_ops.sync.remote import RemoteInstance

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


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    made = asyncio.new_event_loop()
    yield made
    made.close()


def sdk_instance(
    ops: Ops, loop: asyncio.AbstractEventLoop, instance_id: str, engine: str = "content"
) -> RemoteInstance:
    """An SDK client as the sync stream attaches one (its stream is not read here)."""
    remote = RemoteInstance(instance_id, Subscriber(loop))
    ops.engines.add_instance(engine, remote)
    return remote


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
    local = ops.engines.slot("content").local.instance_id
    assert f"<code>{local}</code>" in html
    assert ops.engines.replica_id in html  # "this server" is named


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


def test_sdk_instances_are_listed_with_their_engine_and_ruleset(
    client: TestClient, ops: Ops, loop: asyncio.AbstractEventLoop
) -> None:
    sdk_instance(ops, loop, "shop-7/engine-a", "missions")
    html = overview_as(client, ADMIN_TOKEN)
    row = re.search(r"<code>shop-7/engine-a</code></th>(.*?)</tr>", html, flags=re.S)
    assert row, html
    assert "<td>missions</td>" in row[1]
    assert "SDK client" in row[1]
    assert "<time datetime=" in row[1]


def test_data_values_render_as_inert_text(
    client: TestClient, ops: Ops, loop: asyncio.AbstractEventLoop
) -> None:
    for value in XSS:
        sdk_instance(ops, loop, value)
    html = overview_as(client, ADMIN_TOKEN)
    assert "<script>alert(1)</script>" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
