"""Three real replicas on PostgreSQL and Redis behind HAProxy (issue 10): a simultaneous start on an empty
database, a hot reload's NACK from an instance on another replica, an ACK through the load balancer, a
replica with a foreign key, read-your-writes, a console session used on every replica (whose Overview
lists all three), SIGTERM with open streams, and kill -9 under writes."""

from __future__ import annotations

import contextlib
import re
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from trainer_ops.config import Settings

from .harness import Fleet
from .replica import FleetError, Replica, wait_until
from .traffic import (
    OPS,
    LoadBalancerProbe,
    Writer,
    etag_version,
    open_event_stream,
    sdk_clients,
    whole_history,
)

# One xdist worker runs them all (make test: --dist loadgroup), so the module's fleet is started once.
pytestmark = [pytest.mark.fleet, pytest.mark.xdist_group("fleet")]

# SIGTERM to exit: TRAINER_OPS_SHUTDOWN_SECONDS (its default), plus slack for a loaded CI machine.
SHUTDOWN_BOUND = float(Settings.model_fields["shutdown_seconds"].default) + 5.0


@pytest.fixture(scope="module")
def service_token(shared_fleet: Fleet) -> str:
    """An engine's token, made as an operator would: `trainer-ops token create --role service`."""
    return shared_fleet.create_token(role="service", user="fleet-engine")


# (a) ---------------------------------------------------------------------------------------------------
def test_three_replicas_started_at_once_on_an_empty_database_all_come_up(
    new_fleet: Callable[..., Fleet],
) -> None:
    fleet = new_fleet(size=3, load_balancer=False)
    failure = ""
    try:
        fleet.start(together=True)
    except FleetError as error:
        failure = str(error)  # with the logs; reported outside the except, so it is shown once
    if failure:
        pytest.fail(f"a replica did not come up: {failure}", pytrace=False)
    # And the first start's initialisation happened once: one version of each default, one activation
    # of each engine's initial ruleset, whichever replica is asked.
    for replica in fleet.replicas:
        with fleet.admin_client(replica.url) as client:
            history = client.get(f"{OPS}/model-config/history").json()["items"]
            assert [item["version"] for item in history] == [1], replica.name
            engines = client.get(f"{OPS}/engines").json()
            assert {engine["version"] for engine in engines} == {1}, replica.name


# (b) ---------------------------------------------------------------------------------------------------
def test_a_nack_from_an_instance_on_another_replica_rolls_the_reload_back_everywhere(
    fleet: Fleet, service_token: str
) -> None:
    engine, target = "difficulty", f"nack-{uuid.uuid4().hex[:8]}"
    instance = f"fleet-nack-{uuid.uuid4().hex[:6]}"
    first, second = fleet.replicas[0], fleet.replicas[1]

    def refuse(ruleset: dict[str, Any]) -> None:  # the new ruleset only: going back is fine
        if ruleset.get("meta", {}).get("stamp") == target:
            raise ValueError(f"this engine cannot run {target}")

    previous = active_target(fleet, engine)
    with fleet.admin_client() as admin:
        upload(admin, engine, target, difficulty_ruleset(target))
    with sdk_clients(fleet) as connect:
        sdk = connect(second.url, service_token, instance=instance, engine=engine, handler=refuse)
        wait_attached(fleet, instance, engine, on=[second])
        with fleet.admin_client(first.url) as admin:
            answer = admin.post(f"{OPS}/hot-reload", json={"type": engine, "targetId": target})
        assert answer.status_code == 409, f"{answer.status_code} {answer.text}"
        body = answer.json()
        assert (body["status"], body["reason"], body["outcome"]) == (
            409,
            "engines.rolled_back",
            "rolled_back",
        )
        assert instance in [failing["instance"] for failing in body["failingInstances"]], body
        seen = {r.name: active_target(fleet, engine, r) for r in fleet.replicas}
        assert seen == {r.name: previous for r in fleet.replicas}
        # The instance that refused never reports the refused ruleset as active.
        assert not sdk.wait_for(lambda s: target_of(s, engine) == target, timeout=1.0)
        assert target_of(sdk.snapshot, engine) == previous


# (c) ---------------------------------------------------------------------------------------------------
def test_an_ack_from_an_instance_attached_through_the_load_balancer_applies_the_reload_everywhere(
    fleet: Fleet, service_token: str
) -> None:
    engine, target = "scenario", f"ack-{uuid.uuid4().hex[:8]}"
    instance = f"fleet-ack-{uuid.uuid4().hex[:6]}"
    applied: list[dict[str, Any]] = []

    with fleet.admin_client() as admin:
        upload(admin, engine, target, scenario_ruleset(target))
        with sdk_clients(fleet) as connect:
            sdk = connect(
                fleet.lb_url, service_token, instance=instance, engine=engine, handler=applied.append
            )
            wait_attached(fleet, instance, engine, on=fleet.replicas)
            answer = admin.post(f"{OPS}/hot-reload", json={"type": engine, "targetId": target})
            assert answer.status_code == 200, f"{answer.status_code} {answer.text}"
            body = answer.json()
            assert body["status"] == "applied"
            assert instance in [i["instance"] for i in body["instances"] if i["ok"]], body
            assert [r["scenarios"][0]["id"] for r in applied] == [target]
            assert sdk.wait_for(lambda s: target_of(s, engine) == target, timeout=5)
    wait_until(
        lambda: all(active_target(fleet, engine, r) == target for r in fleet.replicas),
        timeout=5,
        what=f"every replica to run {target}",
    )


# (d) ---------------------------------------------------------------------------------------------------
def test_a_replica_with_another_audit_mac_key_refuses_to_start(fleet: Fleet) -> None:
    stranger = fleet.add_replica("foreign-key", env={"TRAINER_OPS_AUDIT_MAC_KEY": secrets.token_urlsafe(32)})
    stranger.start()
    deadline = time.monotonic() + 30
    while stranger.running and not stranger.ready() and time.monotonic() < deadline:
        time.sleep(0.1)
    served = stranger.running and stranger.ready()
    stranger.stop(grace=3)
    log = stranger.log_text()
    assert not served, f"a replica with a foreign audit MAC key started and served:\n{log[-3000:]}"
    assert stranger.returncode not in (None, 0), f"exit code {stranger.returncode}:\n{log[-3000:]}"
    assert re.search(r"mac[ _-]?key", log, re.IGNORECASE), f"the message does not name the key:\n{log}"


# (e) ---------------------------------------------------------------------------------------------------
def test_a_read_through_the_load_balancer_asking_for_the_version_just_written_gets_it(fleet: Fleet) -> None:
    assert fleet.lb is not None
    stale = []
    sent_before = fleet.lb.requests_sent()
    with fleet.admin_client() as client:  # round robin: the read goes to another replica than the write
        current = client.get(f"{OPS}/model-config").json()["maxTokens"]
        for i in range(50):
            value = 2000 + i if current != 2000 + i else 3000 + i
            written = client.patch(f"{OPS}/model-config", json={"maxTokens": value})
            assert written.status_code == 200, written.text
            version = etag_version(written)
            read = client.get(f"{OPS}/model-config", params={"minVersion": version})
            assert read.status_code == 200, read.text
            if etag_version(read) < version or read.json()["maxTokens"] != value:
                stale.append(f"wrote {version}, read {etag_version(read)}")
    assert not stale, f"{len(stale)} of 50 reads came back older than the write: {stale[:10]}"
    sent = {name: count - sent_before[name] for name, count in fleet.lb.requests_sent().items()}
    assert min(sent.values()) >= 25, f"the load balancer did not spread the 101 requests: {sent}"


# (a2) --------------------------------------------------------------------------------------------------
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
# A row of the Overview's servers table: a replica id is host:pid:suffix (engines/fleet.py).
REPLICA_ROW = re.compile(r'<tr[^>]*>\s*<th scope="row"><code>[^<:]+:([0-9]+):[0-9a-f]+</code>')
THIS_REPLICA_ROW = re.compile(
    r'<tr class="this-replica">\s*<th scope="row"><code>[^<:]+:([0-9]+):[0-9a-f]+</code>'
)


def test_a_console_session_made_on_one_replica_serves_and_writes_on_every_replica(fleet: Fleet) -> None:
    # A browser behind the load balancer: cookies, no bearer token, requests spread round robin.
    assert fleet.lb is not None
    sent_before = fleet.lb.requests_sent()
    with httpx.Client(base_url=fleet.lb_url, timeout=10) as browser, fleet.admin_client() as api:
        form = browser.get("/console/sign-in")
        pre = CSRF_FIELD.search(form.text)
        assert pre, form.text
        signed = browser.post(
            "/console/sign-in",
            data={"token": fleet.secrets.admin_token, "csrf": pre.group(1)},
            follow_redirects=False,
        )
        assert signed.status_code == 303, signed.text
        pages = [browser.get("/console/model-config") for _ in range(6)]
        assert [page.status_code for page in pages] == [200] * 6
        # The Overview lists the whole fleet whichever replica answers, and marks the one that did.
        pids = {str(r.process.pid) for r in fleet.replicas if r.process is not None}
        marked = set()
        for _ in range(9):  # round robin: three are enough unless other requests interleave
            overview = browser.get("/console")
            assert overview.status_code == 200, overview.text
            servers = overview.text.split('id="sdk-heading"')[0]
            assert set(REPLICA_ROW.findall(servers)) == pids, servers
            marked |= set(THIS_REPLICA_ROW.findall(servers))
            if marked == pids:
                break
        assert marked == pids, f"not every replica answered the Overview once: {marked}"
        csrf = CSRF_FIELD.search(pages[-1].text)
        assert csrf
        before = api.get(f"{OPS}/features").json()["quiz_auto_generate"]
        for value in (not before, before, not before):  # three writes, each to whichever replica is next
            switched = browser.post(
                "/console/features/quiz_auto_generate/switch",
                data={"csrf": csrf.group(1), "enabled": str(value).lower()},
                follow_redirects=False,
            )
            assert switched.status_code == 303, switched.text
            wait_until(
                lambda value=value: api.get(f"{OPS}/features").json()["quiz_auto_generate"] is value,
                timeout=10,
                what=f"quiz_auto_generate={value} through the load balancer",
            )
        out = browser.post("/console/sign-out", data={"csrf": csrf.group(1)}, follow_redirects=False)
        assert out.status_code == 303
        after = [browser.get("/console", follow_redirects=False) for _ in range(3)]
        assert [(page.status_code, page.headers["location"]) for page in after] == [
            (303, "/console/sign-in")
        ] * 3
    sent = {name: count - sent_before[name] for name, count in fleet.lb.requests_sent().items()}
    assert min(sent.values()) >= 3, f"the load balancer did not spread the console's requests: {sent}"


# (f) ---------------------------------------------------------------------------------------------------
def test_sigterm_with_100_open_streams_exits_in_time_and_the_load_balancer_keeps_answering(
    fleet: Fleet, service_token: str
) -> None:
    victim, lb = fleet.replicas[1], fleet.lb
    assert lb is not None
    with contextlib.ExitStack() as streams:
        for _ in range(100):
            streams.enter_context(open_event_stream(victim, service_token))
        with LoadBalancerProbe(fleet) as probe:
            took = victim.terminate(timeout=SHUTDOWN_BOUND)
            if took is None:
                victim.kill()
            lb.wait_states({victim.name: "DOWN"})  # and the load balancer has taken it out
            time.sleep(0.5)
    assert took is not None, (
        f"{victim.name} still ran {SHUTDOWN_BOUND:g} s after SIGTERM with 100 open streams (killed)"
    )
    assert probe.answers >= 10, "the probe hardly ran"
    assert not probe.failures, (
        f"the load balancer failed {len(probe.failures)} requests: {probe.failures[:5]}"
    )


# (g) ---------------------------------------------------------------------------------------------------
def test_kill_9_of_a_replica_under_writes_loses_no_acknowledged_write_and_sdks_converge(
    fleet: Fleet, service_token: str
) -> None:
    victim = fleet.replicas[2]
    with sdk_clients(fleet) as connect:
        followers = [connect(fleet.lb_url, service_token) for _ in range(3)]
        with Writer(fleet) as writer:
            wait_until(lambda: len(writer.acked) >= 20, timeout=15, what="20 acknowledged writes")
            victim.kill()
            killed_at = len(writer.acked)
            wait_until(
                lambda: len(writer.acked) >= killed_at + 30, timeout=15, what="30 writes after the kill"
            )
        history = whole_history(fleet)
        by_request = {item["requestId"]: item for item in history}
        lost = sorted(set(writer.acked) - set(by_request))
        assert not lost, f"{len(lost)} acknowledged writes are not in the store: {lost[:10]}"
        changed = [
            rid
            for rid, (version, value) in writer.acked.items()
            if (by_request[rid]["version"], by_request[rid]["document"]["maxTokens"]) != (version, value)
        ]
        assert not changed, f"stored under another version or value: {changed[:10]}"
        final = history[0]["version"]
        lagging = [
            i
            for i, sdk in enumerate(followers)
            if not sdk.wait_for(lambda s: s.versions.get("model_config") == final, timeout=10)
        ]
        assert not lagging, f"SDK clients {lagging} never reached version {final}"
    # The killed replica comes back on the final version, and the audit chain that all three replicas
    # wrote verifies with the shared keys.
    victim.start()
    victim.wait_ready()
    with fleet.admin_client(victim.url) as client:
        wait_until(
            lambda: etag_version(client.get(f"{OPS}/model-config")) == final,
            timeout=5,
            what="the final version",
        )
    verify = fleet.cli("audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


# helpers -----------------------------------------------------------------------------------------------
def upload(client: httpx.Client, engine: str, target: str, ruleset: dict[str, Any]) -> None:
    response = client.put(f"{OPS}/engines/{engine}/rulesets/{target}", json=ruleset)
    assert response.status_code in (200, 201), response.text


def active_target(fleet: Fleet, engine: str, replica: Replica | None = None) -> str:
    """The ruleset `replica` runs (or whichever replica the load balancer picks)."""
    with fleet.admin_client(replica.url if replica else None) as client:
        response = client.get(f"{OPS}/engines/{engine}/active")
    assert response.status_code == 200, response.text
    return str(response.json()["targetId"])


def wait_attached(fleet: Fleet, instance: str, engine: str, *, on: list[Replica]) -> None:
    """Until one of the replicas `on` lists the instance among the engine's instances."""

    def listed() -> bool:
        for replica in on:
            with fleet.admin_client(replica.url) as client:
                engines = client.get(f"{OPS}/engines").json()
            # str(): instances are ids today, and may become objects naming the id.
            if any(e["type"] == engine and instance in str(e.get("instances")) for e in engines):
                return True
        return False

    wait_until(listed, timeout=10, what=f"instance {instance} to be attached")


def target_of(snapshot: Any, engine: str) -> str | None:
    """The targetId an SDK snapshot reports active for `engine`."""
    ruleset = snapshot.rulesets.get(engine)
    return None if ruleset is None else str(ruleset.targetId)


def difficulty_ruleset(stamp: str) -> dict[str, Any]:
    return {
        "levels": [
            {"name": f"beginner@{stamp}", "minScore": 0, "maxScore": 49},
            {"name": f"advanced@{stamp}", "minScore": 50, "maxScore": 100},
        ],
        "adaptiveStep": 0.1,
        "meta": {"stamp": stamp},
    }


def scenario_ruleset(stamp: str) -> dict[str, Any]:
    scenario = {"id": stamp, "title": "Suggest an accessory", "objectives": ["offer one"], "difficulty": 2}
    return {"scenarios": [scenario]}
