"""SDK instances with a place (ADR 0025) against a live server, on both stores: a scoped reload asks and
changes only the instances under that place, a client gets its own place's rulesets, and an unknown place
is refused when the client starts or attaches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from trainer_ops_sdk import OpsClient

CATALOGUE = {
    "regions": [
        {
            "code": "APAC",
            "name": "Asia Pacific",
            "countries": [
                {"code": "KR", "name": "Korea", "branches": [{"code": "KR-0012", "name": "Gangnam"}]}
            ],
        },
        {"code": "EU", "name": "Europe", "countries": [{"code": "DE", "name": "Germany"}]},
    ]
}


def content(fmt: str) -> dict[str, Any]:
    return {"transforms": [], "allowedFormats": [fmt]}


@pytest.fixture
def server(live_server: LiveServer) -> LiveServer:
    return live_server.start()


@pytest.fixture
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {server.settings.bootstrap_admin_token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
        assert client.put("/operator/ops/places", json=CATALOGUE).status_code == 200
        for target, fmt in (("c-kr", "text/korean"), ("c-all", "text/plain")):
            assert client.put(
                f"/operator/ops/engines/content/rulesets/{target}", json=content(fmt)
            ).is_success
        yield client


class Engine:
    """An SDK engine instance in a place, recording the rulesets its handler was given."""

    def __init__(self, server: LiveServer, token: str, name: str, place: str | None) -> None:
        self.seen: list[list[str]] = []
        self.client = OpsClient(server.url, token=token, instance_id=name, place=place, max_backoff=0.2)
        self.client.on_reload("content", lambda ruleset: self.seen.append(ruleset["allowedFormats"]))

    def target(self) -> str | None:
        held = self.client.ruleset("content")
        return held.targetId if held else None


def test_a_scoped_reload_reaches_only_the_sdk_instances_under_that_place(
    server: LiveServer, admin: httpx.Client, token_for: Any
) -> None:
    gangnam = Engine(server, token_for("service", user="gangnam"), "gangnam", "kr-0012")
    berlin = Engine(server, token_for("service", user="berlin"), "berlin", "DE")
    with gangnam.client.start(), berlin.client.start():
        assert gangnam.client.connected.wait(5)
        assert berlin.client.connected.wait(5)
        scoped = admin.post(
            "/operator/ops/hot-reload", json={"type": "content", "targetId": "c-kr", "scope": "KR"}
        )
        assert scoped.status_code == 200, scoped.text
        assert [i["instance"] for i in scoped.json()["instances"]] == ["gangnam"]
        assert gangnam.seen == [["text/korean"]]
        assert berlin.seen == []
        assert gangnam.client.wait_for(lambda s: s.rulesets["content"].targetId == "c-kr", 5)
        assert gangnam.client.ruleset("content").scope == "KR"  # type: ignore[union-attr]

        everywhere = admin.post("/operator/ops/hot-reload", json={"type": "content", "targetId": "c-all"})
        assert everywhere.status_code == 200, everywhere.text
        assert {i["instance"] for i in everywhere.json()["instances"]} >= {"berlin"}
        assert "gangnam" not in {i["instance"] for i in everywhere.json()["instances"]}
        assert berlin.client.wait_for(lambda s: s.rulesets["content"].targetId == "c-all", 5)
        assert gangnam.target() == "c-kr"  # the global change does not reach a place with its own
        assert gangnam.client.snapshot.scopedRulesets["content"]["KR"].targetId == "c-kr"


def test_a_client_with_a_place_starts_on_that_place_s_rulesets(
    server: LiveServer, admin: httpx.Client, token_for: Any
) -> None:
    scoped = admin.post(
        "/operator/ops/hot-reload", json={"type": "content", "targetId": "c-kr", "scope": "KR"}
    )
    assert scoped.status_code == 200, scoped.text
    token = token_for("service", user="reader")
    with (
        OpsClient(server.url, token=token, place="KR-0012") as korean,
        OpsClient(server.url, token=token) as plain,
    ):
        assert korean.ruleset("content").targetId == "c-kr"  # type: ignore[union-attr]
        assert plain.ruleset("content").targetId == "initial"  # type: ignore[union-attr]
    snapshot = admin.get("/operator/ops/snapshot", params={"place": "DE"}).json()
    assert snapshot["rulesets"]["content"]["targetId"] == "initial"
    assert snapshot["scopedRulesets"]["content"]["KR"]["targetId"] == "c-kr"


def test_an_unknown_place_is_refused_at_start_and_at_attach(
    server: LiveServer, admin: httpx.Client, token_for: Any
) -> None:
    token = token_for("service", user="lost")
    with pytest.raises(ValueError, match="refused place 'ZZ'"):
        OpsClient(server.url, token=token, instance_id="lost", place="zz").start()
    params = {"instance": "lost", "engines": "content", "place": "ZZ"}
    headers = {"Authorization": f"Bearer {token}"}
    attach = httpx.get(f"{server.url}/operator/ops/stream", params=params, headers=headers, timeout=10)
    assert attach.status_code == 422
    assert attach.json()["reason"] == "places.unknown"
    assert "known countries: DE, KR" in attach.json()["detail"]
    assert server.ops is not None
    assert "lost" not in server.ops.sync.held()
