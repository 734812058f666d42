"""A hot reload is decided by every engine instance on every replica (ADR 0019): a NACK on another
replica rolls it back everywhere, an answer posted to any replica counts, and an instance id belongs to
the user who attached it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from trainer_ops.access.types import Role
from trainer_ops.app import Ops
from trainer_ops.audit.types import SYSTEM_ACTOR
from trainer_ops.config import Settings
from trainer_ops_sdk import OpsClient

from .conftest import difficulty_ruleset

PG = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
ACTIVE = "/operator/ops/engines/difficulty/active"


def service_token(ops: Ops, user: str) -> str:
    return ops.write(
        lambda session: ops.tokens.create(session, actor=SYSTEM_ACTOR, role=Role.SERVICE, user_id=user)
    ).token


@pytest.fixture
def fleet_settings(settings: Settings) -> Settings:
    # Replicas hear each other through PostgreSQL alone: no poll.
    return settings.model_copy(
        update={"change_notifications": True, "snapshot_poll_seconds": 0, "reload_deadline_seconds": 3.0}
    )


@pytest.fixture
def replicas(fleet_settings: Settings) -> Iterator[tuple[LiveServer, LiveServer]]:
    first = LiveServer(fleet_settings).start()
    second = LiveServer(fleet_settings).start()
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def admin(server: LiveServer) -> httpx.Client:
    headers = {"Authorization": f"Bearer {server.settings.bootstrap_admin_token}"}
    return httpx.Client(base_url=server.url, headers=headers, timeout=15)


def upload(client: httpx.Client, target: str) -> None:
    response = client.put(
        f"/operator/ops/engines/difficulty/rulesets/{target}", json=difficulty_ruleset(target)
    )
    assert response.status_code in (200, 201), response.text


def active(server: LiveServer) -> str:
    with admin(server) as client:
        return str(client.get("/operator/ops/engines/difficulty/active").json()["targetId"])


@PG
def test_an_instance_on_another_replica_that_refuses_rolls_the_reload_back_everywhere(
    replicas: tuple[LiveServer, LiveServer],
) -> None:
    first, second = replicas
    assert first.ops is not None
    refusing = OpsClient(second.url, token=service_token(first.ops, "engine-b"), instance_id="engine-b")

    def refuse(ruleset: dict[str, Any]) -> None:
        if ruleset.get("meta", {}).get("stamp") == "refused":
            raise ValueError("rule 7 is not supported here")

    refusing.on_reload("difficulty", refuse)
    with refusing.start(), admin(first) as client:
        assert refusing.connected.wait(5)
        upload(client, "refused")
        response = client.post("/operator/ops/hot-reload", json={"type": "difficulty", "targetId": "refused"})
        assert response.status_code == 409, response.text
        problem = response.json()
        assert [i["instance"] for i in problem["failingInstances"]] == ["engine-b"]
        assert "rule 7 is not supported here" in problem["detail"]
        assert active(first) == active(second) == "initial"
        # The refusing instance never reports the refused ruleset as its active one.
        assert refusing.ruleset("difficulty") is not None
        assert refusing.ruleset("difficulty").targetId == "initial"
        assert refusing.last_error is not None
        assert "rule 7" in refusing.last_error


@PG
def test_every_replica_and_instance_answers_and_the_reload_applies_everywhere(
    replicas: tuple[LiveServer, LiveServer],
) -> None:
    first, second = replicas
    assert first.ops is not None
    assert second.ops is not None
    seen: list[str] = []
    accepting = OpsClient(second.url, token=service_token(first.ops, "engine-ok"), instance_id="engine-ok")
    accepting.on_reload("difficulty", lambda ruleset: seen.append(ruleset.get("meta", {}).get("stamp", "")))
    with accepting.start(), admin(first) as client:
        assert accepting.connected.wait(5)
        upload(client, "d2")
        response = client.post("/operator/ops/hot-reload", json={"type": "difficulty", "targetId": "d2"})
        assert response.status_code == 200, response.text
        answered = {i["instance"] for i in response.json()["instances"]}
        assert answered == {
            "engine-ok",
            f"{first.ops.fleet.replica_id}/difficulty",
            f"{second.ops.fleet.replica_id}/difficulty",
        }
        assert seen == ["d2"]
        assert accepting.wait_for(lambda s: s.rulesets["difficulty"].targetId == "d2", 5)
        assert first.ops.engines.current("difficulty").target_id == "d2"
        assert second.ops.engines.current("difficulty").target_id == "d2"


def read_reload_event(server: LiveServer, token: str, instance: str, got: list[dict[str, Any]]) -> None:
    """Hold an engine instance's stream on `server` and keep the first reload command it is sent."""
    headers = {"Authorization": f"Bearer {token}"}
    params = {"instance": instance, "engines": "difficulty"}
    try:
        with (
            httpx.Client(base_url=server.url, headers=headers, timeout=httpx.Timeout(10, read=15)) as client,
            client.stream("GET", "/operator/ops/stream", params=params) as response,
        ):
            kind = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line[len("event: ") :]
                elif line.startswith("data: ") and kind == "reload":
                    got.append(json.loads(line[len("data: ") :]))
                    return
    except httpx.HTTPError:
        return  # the server stopped under the stream: the test has its answer by then


@PG
def test_a_reply_posted_to_a_replica_that_does_not_hold_the_stream_is_taken(
    replicas: tuple[LiveServer, LiveServer],
) -> None:
    first, second = replicas
    assert first.ops is not None
    assert second.ops is not None
    token = service_token(first.ops, "engine-lb")
    got: list[dict[str, Any]] = []
    reader = threading.Thread(target=read_reload_event, args=(second, token, "engine-lb", got), daemon=True)
    reader.start()
    with admin(first) as client:
        upload(client, "d3")
        waiting = first.ops.fleet  # the stream is attached once its binding is in the store
        for _ in range(100):
            if waiting.owner("engine-lb") == "engine-lb":
                break
            threading.Event().wait(0.05)
        answer: dict[str, Any] = {}

        def reply_through_the_other_replica() -> None:
            reader.join(10)
            if not got:
                return  # the stream never carried the command: asserted below
            with httpx.Client(base_url=first.url, headers={"Authorization": f"Bearer {token}"}) as other:
                answer["status"] = other.post(
                    "/operator/ops/engines/difficulty/instances/engine-lb/replies",
                    json={"epoch": got[0]["epoch"], "ok": True},
                ).status_code

        replier = threading.Thread(target=reply_through_the_other_replica, daemon=True)
        replier.start()
        response = client.post("/operator/ops/hot-reload", json={"type": "difficulty", "targetId": "d3"})
        replier.join(10)
        assert got, "the instance's stream never received the reload command"
        assert answer["status"] == 204
        assert response.status_code == 200, response.text
        assert "engine-lb" in {i["instance"] for i in response.json()["instances"]}
        assert active(second) == "d3"


def test_an_instance_id_belongs_to_the_user_who_attached_it(settings: Settings) -> None:
    server = LiveServer(settings.model_copy(update={"instance_ttl_seconds": 30})).start()
    try:
        assert server.ops is not None
        owner, intruder = service_token(server.ops, "engine-1"), service_token(server.ops, "intruder")
        got: list[dict[str, Any]] = []
        holder = threading.Thread(
            target=read_reload_event, args=(server, owner, "shared-id", got), daemon=True
        )
        holder.start()
        for _ in range(100):
            if server.ops.fleet.owner("shared-id") == "engine-1":
                break
            threading.Event().wait(0.05)
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {intruder}"}) as client:
            attach = client.get(
                "/operator/ops/stream", params={"instance": "shared-id", "engines": "difficulty"}
            )
            assert attach.status_code == 403, attach.text
            assert attach.headers["content-type"].startswith("application/problem+json")
            assert "belongs to another user" in attach.json()["detail"]
            reply = client.post(
                "/operator/ops/engines/difficulty/instances/shared-id/replies", json={"epoch": 1, "ok": False}
            )
            assert reply.status_code == 403, reply.text
        with admin(server) as client:
            denied = client.get(
                "/operator/ops/audit", params={"action": "access_denied", "userId": "intruder"}
            )
            entries = denied.json()
            items = entries["items"] if isinstance(entries, dict) else entries
            assert len(items) == 2
    finally:
        server.stop()


def test_an_instance_id_left_stale_may_be_taken_by_another_user(settings: Settings) -> None:
    server = LiveServer(settings.model_copy(update={"instance_ttl_seconds": 0.3})).start()
    try:
        assert server.ops is not None
        fleet = server.ops.fleet
        assert fleet.attach(instance_id="old-id", user_id="engine-1", engines=["difficulty"])
        assert not fleet.attach(instance_id="old-id", user_id="engine-2", engines=["difficulty"])
        threading.Event().wait(0.5)  # nobody holds it, so no heartbeat keeps the binding alive
        assert fleet.owner("old-id") is None
        assert fleet.attach(instance_id="old-id", user_id="engine-2", engines=["difficulty"])
        assert fleet.owner("old-id") == "engine-2"
    finally:
        server.stop()


def test_an_unknown_instance_answer_is_404(client: Any, token_for: Any) -> None:
    token = token_for("service", user="nobody")
    response = client.post(
        "/operator/ops/engines/difficulty/instances/never-attached/replies",
        json={"epoch": 1, "ok": True},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


@PG
def test_a_release_rollback_refused_on_another_replica_changes_nothing_anywhere(
    replicas: tuple[LiveServer, LiveServer],
) -> None:
    first, second = replicas
    assert first.ops is not None
    refuse_initial = threading.Event()

    def handler(ruleset: dict[str, Any]) -> None:
        if refuse_initial.is_set() and "meta" not in ruleset:
            raise ValueError("the initial levels are retired here")

    instance = OpsClient(second.url, token=service_token(first.ops, "engine-r"), instance_id="engine-r")
    instance.on_reload("difficulty", handler)
    with instance.start(), admin(first) as client:
        assert instance.connected.wait(5)
        release = {"version": "1.0.0", "notes": "initial", "includedEngines": ["difficulty"]}
        assert client.post("/operator/ops/releases", json=release).status_code == 201
        upload(client, "d4")
        assert (
            client.post("/operator/ops/hot-reload", json={"type": "difficulty", "targetId": "d4"}).status_code
            == 200
        )
        refuse_initial.set()
        response = client.post("/operator/ops/releases/rollback", json={"targetVersion": "1.0.0"})
        assert response.status_code == 409, response.text
        assert "engine-r" in response.text
        assert active(first) == active(second) == "d4"


@PG
def test_a_scoped_reload_across_replicas_asks_only_that_place_and_a_nack_there_rolls_back_only_it(
    replicas: tuple[LiveServer, LiveServer],
) -> None:
    first, second = replicas
    assert first.ops is not None
    assert second.ops is not None
    places = {"regions": [{"code": "APAC", "name": "Asia", "countries": [{"code": "KR", "name": "Korea"}]}]}
    seen: dict[str, list[str]] = {"korea": [], "apac": []}

    def engine(name: str, place: str) -> OpsClient:
        client = OpsClient(second.url, token=service_token(first.ops, name), instance_id=name, place=place)

        def handle(ruleset: dict[str, Any]) -> None:
            stamp = ruleset.get("meta", {}).get("stamp", "")
            seen[name].append(stamp)
            if stamp == "refused":
                raise ValueError("not in Korea")

        client.on_reload("difficulty", handle)
        return client

    with admin(first) as client:
        assert client.put("/operator/ops/places", json=places).status_code == 200
        korea, apac = engine("korea", "KR"), engine("apac", "APAC")
        with korea.start(), apac.start():
            assert korea.connected.wait(5)
            assert apac.connected.wait(5)
            upload(client, "kr")
            upload(client, "refused")
            body = {"type": "difficulty", "targetId": "kr", "scope": "KR"}
            response = client.post("/operator/ops/hot-reload", json=body)
            assert response.status_code == 200, response.text
            assert [i["instance"] for i in response.json()["instances"]] == ["korea"]
            assert seen == {"korea": ["kr"], "apac": []}
            with admin(second) as other:  # the other replica installed the scoped activation too
                deadline = time.monotonic() + 5
                while other.get(ACTIVE, params={"scope": "KR"}).json()["targetId"] != "kr":
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
            refused = client.post("/operator/ops/hot-reload", json={**body, "targetId": "refused"})
            assert refused.status_code == 409, refused.text
            assert refused.json()["scopes"] == ["KR"]
            # The instance refused, so it still runs kr: wait for the restore command itself, which
            # may arrive after the 409 (its ruleset alone says nothing about that).
            deadline = time.monotonic() + 5
            while len(seen["korea"]) < 3:
                assert time.monotonic() < deadline, seen
                time.sleep(0.02)
            assert seen == {"korea": ["kr", "refused", "kr"], "apac": []}
            assert korea.wait_for(lambda s: s.rulesets["difficulty"].targetId == "kr", 5)
            assert client.get(ACTIVE, params={"scope": "KR"}).json()["targetId"] == "kr"
            assert active(first) == active(second) == "initial"
