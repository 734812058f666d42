"""Under a steady load of requests that read a ruleset, 100 reloads and rollbacks: zero failed requests
and zero requests that saw a mixed state. Runs a real server (uvicorn) on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
import uvicorn

from conftest import ADMIN_TOKEN
from trainer_ops.app import Ops, create_app
from trainer_ops.config import Settings

from .conftest import difficulty_ruleset
from .fakes import NackingInstance


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(settings: Settings, ops: Ops):
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings, ops=ops), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_reload_storm_never_fails_a_request_nor_shows_a_mixed_ruleset(server: str, ops: Ops) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=server, headers=headers, timeout=10) as admin:
        for stamp in ("A", "B"):
            response = admin.put(
                f"/operator/ops/engines/difficulty/rulesets/{stamp}", json=difficulty_ruleset(stamp)
            )
            assert response.status_code == 201

        stop = threading.Event()
        failures: list[str] = []
        mixed: list[str] = []
        reads = [0]

        def reader() -> None:
            with httpx.Client(base_url=server, headers=headers, timeout=10) as client:
                while not stop.is_set():
                    response = client.get("/operator/ops/engines/difficulty/active")
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text[:200]}")
                        continue
                    body = response.json()
                    stamps = {level["name"].split("@")[-1] for level in body["ruleset"]["levels"]}
                    stamps.add(body["ruleset"].get("meta", {}).get("stamp", "initial"))
                    if body["targetId"] != "initial" and stamps != {body["targetId"]}:
                        mixed.append(str(body))
                    reads[0] += 1

        readers = [threading.Thread(target=reader) for _ in range(4)]
        for thread in readers:
            thread.start()
        flaky = NackingInstance()
        outcomes = {"applied": 0, "rolled_back": 0}
        try:
            for i in range(100):
                target = "A" if i % 2 == 0 else "B"
                if i % 4 == 3:  # every fourth reload is refused by one instance and rolled back
                    ops.engines.add_instance("difficulty", flaky)
                response = admin.post(
                    "/operator/ops/hot-reload", json={"type": "difficulty", "targetId": target}
                )
                ops.engines.remove_instance("difficulty", flaky.instance_id)
                assert response.status_code in (200, 409), response.text
                outcomes["applied" if response.status_code == 200 else "rolled_back"] += 1
        finally:
            stop.set()
            for thread in readers:
                thread.join()
    assert outcomes == {"applied": 75, "rolled_back": 25}
    assert reads[0] > 100
    assert failures == []
    assert mixed == []
