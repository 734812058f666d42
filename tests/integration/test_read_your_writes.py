"""Read-your-writes (ADR 0018): a read that names `minVersion` is answered at that version or newer by
any replica, even one that has not heard of the change; a version the store does not have yet is a 504
after a bounded wait; a malformed one is a 422 naming the parameter; the SDK reads its writes back.

The replicas share one PostgreSQL database with change notifications and the poll off, so the second
one never learns of a change by itself: without `minVersion` it answers the older version (which shows
these tests can fail), with it the new one every time. Tokens are cached, so that plain reads and reads
with `minVersion` take the fast path where they may.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import LiveServer
from trainer_ops.app import create_app
from trainer_ops.config import Settings
from trainer_ops_sdk import OpsClient

OPS = "/operator/ops"
MODEL_CONFIG, FEATURES, LIMITS = f"{OPS}/model-config", f"{OPS}/features", f"{OPS}/limits"
postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
# Any X-Envelope header sends a read on to the routes, and `bare` leaves the answer as it is.
ROUTED = {"X-Envelope": "bare"}


@pytest.fixture
def replicas(settings: Settings) -> Iterator[tuple[LiveServer, LiveServer]]:
    shared = settings.model_copy(update={"token_cache_seconds": 60})
    first = LiveServer(shared).start()
    second = LiveServer(shared).start()
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


@pytest.fixture
def admin(settings: Settings) -> Iterator[httpx.Client]:
    with httpx.Client(headers={"Authorization": f"Bearer {settings.bootstrap_admin_token}"}, timeout=10) as c:
        yield c


def version_of(response: httpx.Response) -> int:
    return int(response.headers["etag"].strip('"'))


@postgres_only
def test_a_replica_that_never_heard_of_a_change_answers_min_version_with_it_every_time(
    replicas: tuple[LiveServer, LiveServer], admin: httpx.Client
) -> None:
    first, second = replicas
    for path in (MODEL_CONFIG, FEATURES, LIMITS):
        admin.get(f"{second.url}{path}")  # caches the token there: reads may take the fast path
    for round_ in range(5):
        temperature = round(0.1 + 0.1 * round_, 1)
        written = admin.patch(f"{first.url}{MODEL_CONFIG}", json={"temperature": temperature})
        assert written.status_code == 200
        version = version_of(written)
        assert written.json()["temperature"] == temperature

        stale = admin.get(f"{second.url}{MODEL_CONFIG}")
        assert version_of(stale) == version - 1, (
            "the second replica learnt by itself: the test proves nothing"
        )

        fresh = admin.get(f"{second.url}{MODEL_CONFIG}", params={"minVersion": version})
        assert fresh.status_code == 200
        assert version_of(fresh) == version
        assert fresh.json()["temperature"] == temperature
        # From then on the replica holds it: an older minVersion is answered with the newer version.
        older = admin.get(f"{second.url}{MODEL_CONFIG}", params={"minVersion": version - 1})
        assert version_of(older) == version

    limits = admin.patch(f"{first.url}{LIMITS}", json={"aiCallsPerMinute": 61})
    assert version_of(admin.get(f"{second.url}{LIMITS}")) == version_of(limits) - 1
    read = admin.get(f"{second.url}{LIMITS}", params={"minVersion": version_of(limits)})
    assert (version_of(read), read.json()["aiCallsPerMinute"]) == (version_of(limits), 61)

    toggled = admin.patch(f"{first.url}{FEATURES}/quiz_auto_generate", json={"enabled": True})
    assert admin.get(f"{second.url}{FEATURES}").json()["quiz_auto_generate"] is False
    read = admin.get(f"{second.url}{FEATURES}", params={"minVersion": version_of(toggled)})
    assert (version_of(read), read.json()["quiz_auto_generate"]) == (version_of(toggled), True)
    one = admin.get(f"{second.url}{FEATURES}/quiz_auto_generate", params={"minVersion": version_of(toggled)})
    assert one.json()["enabled"] is True


@postgres_only
def test_snapshot_min_version_names_each_kind_and_never_answers_older(
    replicas: tuple[LiveServer, LiveServer], admin: httpx.Client
) -> None:
    first, second = replicas
    config = version_of(admin.patch(f"{first.url}{MODEL_CONFIG}", json={"temperature": 0.9}))
    features = version_of(admin.patch(f"{first.url}{FEATURES}/quiz_auto_generate", json={"enabled": True}))
    stale = admin.get(f"{second.url}{OPS}/snapshot").json()
    assert stale["versions"]["model_config"] == config - 1

    snapshot = admin.get(
        f"{second.url}{OPS}/snapshot", params={"minVersion": f"model_config:{config},features:{features}"}
    )
    assert snapshot.status_code == 200
    body = snapshot.json()
    assert body["versions"]["model_config"] == config
    assert body["versions"]["features"] == features
    assert body["modelConfig"]["temperature"] == 0.9
    assert body["features"]["features"]["quiz_auto_generate"]["enabled"] is True


@postgres_only
def test_a_version_from_the_future_waits_then_is_504_and_is_answered_once_it_is_written(
    replicas: tuple[LiveServer, LiveServer], admin: httpx.Client
) -> None:
    first, second = replicas
    current = version_of(admin.get(f"{first.url}{MODEL_CONFIG}"))

    started = time.monotonic()
    too_new = admin.get(f"{second.url}{MODEL_CONFIG}", params={"minVersion": current + 5})
    waited = time.monotonic() - started
    assert too_new.status_code == 504
    assert too_new.headers["content-type"] == "application/problem+json"
    assert too_new.headers["retry-after"] == "1"
    assert too_new.json()["reason"] == "versions.not_yet"
    assert 2.5 <= waited <= 6, waited  # bounded: about 3 s of re-checking, never an older document
    snapshot = admin.get(f"{second.url}{OPS}/snapshot", params={"minVersion": f"limits:{current + 100}"})
    assert snapshot.status_code == 504

    # A read that waits for the next version gets it as soon as another replica has written it.
    answers: list[httpx.Response] = []
    waiter = threading.Thread(
        target=lambda: answers.append(
            admin.get(f"{second.url}{MODEL_CONFIG}", params={"minVersion": current + 1})
        )
    )
    waiter.start()
    time.sleep(0.5)
    assert admin.patch(f"{first.url}{MODEL_CONFIG}", json={"temperature": 0.3}).status_code == 200
    waiter.join(10)
    assert [(a.status_code, version_of(a), a.json()["temperature"]) for a in answers] == [
        (200, current + 1, 0.3)
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_malformed_min_version_is_a_422_naming_the_parameter(settings: Settings) -> None:
    server = LiveServer(settings.model_copy(update={"token_cache_seconds": 60})).start()
    headers = {"Authorization": f"Bearer {settings.bootstrap_admin_token}"}
    try:
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
            check_malformed_and_satisfied(client)
    finally:
        server.stop()


def check_malformed_and_satisfied(client: httpx.Client) -> None:
    cases: list[tuple[str, Any]] = [
        (MODEL_CONFIG, "abc"),
        (MODEL_CONFIG, "-1"),
        (LIMITS, "1.5"),
        (FEATURES, "99999999999"),
        (f"{FEATURES}/quiz_auto_generate", "x"),
        (f"{OPS}/snapshot", "7"),
        (f"{OPS}/snapshot", "model_config:x"),
        (f"{OPS}/snapshot", "policy:1"),
        (f"{OPS}/snapshot", "model_config:1,model_config:2"),
    ]
    for path, value in cases:
        response = client.get(path, params={"minVersion": value})
        assert response.status_code == 422, (path, value, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == ["minVersion"], (path, value)
    # Satisfied at once: the plain answer, from the fast path and the routes alike.
    for path in (MODEL_CONFIG, LIMITS, FEATURES):
        plain = client.get(path)
        fast = client.get(path, params={"minVersion": "1"})
        routed = client.get(path, params={"minVersion": "1"}, headers=ROUTED)
        for named in (fast, routed):
            assert named.status_code == 200
            assert named.content == plain.content
            for header in ("content-type", "content-length", "etag", "cache-control"):
                assert named.headers[header] == plain.headers[header], (path, header)
    assert client.get(f"{OPS}/snapshot", params={"minVersion": ""}).status_code == 200


@postgres_only
def test_sdk_refresh_reads_its_own_write_back_from_a_replica_that_never_heard_of_it(
    replicas: tuple[LiveServer, LiveServer], admin: httpx.Client, tmp_path: Path
) -> None:
    first, second = replicas
    sdk = OpsClient(
        second.url, token=first.settings.bootstrap_admin_token, cache_path=tmp_path / "lkg.json"
    ).start()
    try:
        assert sdk.connected.wait(5)
        before = sdk.version("model_config")
        written = admin.patch(f"{first.url}{MODEL_CONFIG}", json={"temperature": 0.8})
        version = version_of(written)
        time.sleep(0.3)
        assert sdk.version("model_config") == before, "the stream brought it: the test proves nothing"

        snapshot = sdk.refresh({"model_config": version})

        assert snapshot.versions["model_config"] == version
        assert sdk.model_config["temperature"] == 0.8
        assert sdk.version("model_config") == version
        assert sdk.refresh({"model_config": version}) is sdk.snapshot  # nothing to fetch
        with pytest.raises(httpx.HTTPStatusError) as raised:
            sdk.refresh({"limits": version + 1000})
        assert raised.value.response.status_code == 504
    finally:
        sdk.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_how_long_a_version_from_the_future_is_waited_for_is_a_setting(settings: Settings) -> None:
    quick = settings.model_copy(update={"min_version_wait_seconds": 0.2})
    with TestClient(create_app(quick)) as client:
        started = time.monotonic()
        answer = client.get(
            MODEL_CONFIG,
            params={"minVersion": 1000},
            headers={"Authorization": f"Bearer {quick.bootstrap_admin_token}"},
        )
        waited = time.monotonic() - started

    assert answer.status_code == 504
    assert answer.json()["reason"] == "versions.not_yet"
    assert "waited 0.2 s" in answer.json()["detail"]
    assert 0.2 <= waited < 2.5, waited
