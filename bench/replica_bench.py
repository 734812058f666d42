"""Replicas on PostgreSQL. Prints figures; not a test.

1. Propagation: how long after one replica starts writing a change another replica holds it, through
   LISTEN/NOTIFY (poll off) and through the poll alone (two in-process `Ops`).
2. The fleet (ADR 0019): 3 `trainer-ops serve` processes on one database and Redis, 2 SDK engine
   instances on each: a hot reload until `applied`, a rollback everywhere after one NACK, and a change
   until every SDK holds it. Uses the fleet harness of tests/fleet.

    .venv/bin/python bench/replica_bench.py [--changes 200] [--reloads 100] [--no-fleet]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table

from trainer_ops.access.types import Principal, Role
from trainer_ops.app import Ops, build_ops
from trainer_ops.config import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fleet.harness import Fleet
from trainer_ops_sdk import OpsClient

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
ADMIN = Principal("bench", Role.ADMIN)
console = Console()


def measure(writer: Ops, reader: Ops, changes: int) -> tuple[float, float]:
    """(p50, p99) ms from the start of a write on `writer` until `reader` holds it."""
    delays = []
    for i in range(changes):
        value = round(0.1 + (i % 10) / 10, 1)
        if reader.holder.current.get("model_config").document["temperature"] == value:
            value = 1.5
        started = time.perf_counter()
        writer.model_config.update(
            principal=ADMIN, changes={"temperature": value}, if_match=None, request_id="bench"
        )
        while reader.holder.current.get("model_config").document["temperature"] != value:
            time.sleep(0.0002)
        delays.append((time.perf_counter() - started) * 1000)
    delays.sort()
    return delays[len(delays) // 2], delays[max(0, int(len(delays) * 0.99) - 1)]


def replica(url: str, home: Path, **settings: object) -> Ops:
    ops = build_ops(Settings(home=home, database_url=url, bootstrap_admin_token="tops_bench", **settings))
    ops.prepare()
    return ops


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ruleset(stamp: str) -> dict[str, Any]:
    return {
        "levels": [
            {"name": f"beginner@{stamp}", "minScore": 0, "maxScore": 49},
            {"name": f"advanced@{stamp}", "minScore": 50, "maxScore": 100},
        ],
        "adaptiveStep": 0.1,
    }


def fleet_figures(reloads: int, changes: int) -> Table:
    table = Table(title="3 replicas (processes) on PostgreSQL + Redis, 2 SDK instances on each")
    for column in ("what", "runs", "p50", "p99"):
        table.add_column(column, justify="left" if column == "what" else "right")
    refuse = threading.Event()

    def handler(rules: dict[str, Any]) -> None:
        if refuse.is_set() and "refused" in rules["levels"][0]["name"]:
            raise ValueError("refused on purpose")

    with Fleet(size=3, load_balancer=False) as fleet:
        token = fleet.create_token(role="service", user="bench-engines")
        clients = []
        for i, replica in enumerate(fleet.replicas):
            for j in range(2):
                client = OpsClient(replica.url, token=token, instance_id=f"bench-{i}-{j}", max_backoff=0.5)
                client.on_reload("difficulty", handler)
                clients.append(client.start())
        try:
            for client in clients:
                assert client.connected.wait(10)
            with fleet.admin_client(fleet.replicas[0].url, timeout=30) as admin:
                for target in ("b1", "b2", "refused"):
                    admin.put(f"/operator/ops/engines/difficulty/rulesets/{target}", json=ruleset(target))
                applied = []
                for i in range(reloads):
                    started = time.perf_counter()
                    answer = admin.post(
                        "/operator/ops/hot-reload", json={"type": "difficulty", "targetId": f"b{i % 2 + 1}"}
                    )
                    applied.append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200, answer.text
                    assert len(answer.json()["instances"]) == 9, answer.text  # 3 replicas + 6 SDKs
                table.add_row(
                    "hot reload -> applied",
                    f"{reloads}",
                    f"{pct(applied, 0.5):.1f} ms",
                    f"{pct(applied, 0.99):.1f} ms",
                )
                refuse.set()
                rolled = []
                for _ in range(max(10, reloads // 5)):
                    started = time.perf_counter()
                    answer = admin.post(
                        "/operator/ops/hot-reload", json={"type": "difficulty", "targetId": "refused"}
                    )
                    rolled.append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 409, answer.text
                table.add_row(
                    "one NACK -> rolled back everywhere",
                    f"{len(rolled)}",
                    f"{pct(rolled, 0.5):.1f} ms",
                    f"{pct(rolled, 0.99):.1f} ms",
                )
                seen = []
                for i in range(changes):
                    started = time.perf_counter()
                    answer = admin.patch(
                        "/operator/ops/model-config", json={"temperature": round(0.1 + (i % 9) / 10, 1)}
                    )
                    version = int(answer.headers["etag"].strip('W/"'))
                    for client in clients:
                        assert client.wait_for(lambda s, v=version: s.versions.get("model_config", 0) >= v, 5)
                    seen.append((time.perf_counter() - started) * 1000)
                table.add_row(
                    "PATCH -> held by all 6 SDKs",
                    f"{changes}",
                    f"{pct(seen, 0.5):.1f} ms",
                    f"{pct(seen, 0.99):.1f} ms",
                )
        finally:
            for client in clients:
                client.close()
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--reloads", type=int, default=100)
    parser.add_argument("--poll-seconds", type=float, default=1.0, help="the poll of the second run")
    parser.add_argument("--no-fleet", action="store_true", help="skip the 3-process fleet part")
    args = parser.parse_args()
    if not args.no_fleet:
        console.print(fleet_figures(args.reloads, args.changes))
    name = f"trainer_ops_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    home = Path(tempfile.mkdtemp(prefix="trainer-ops-replicas-"))
    table = Table(title="a change made on one replica, held by another (PostgreSQL)")
    for column in ("way", "changes", "p50", "p99"):
        table.add_column(column, justify="left" if column == "way" else "right")
    writer = replica(url, home, snapshot_poll_seconds=0, change_notifications=False)
    try:
        listening = replica(url, home, snapshot_poll_seconds=0)
        listening.changes.start()
        try:
            p50, p99 = measure(writer, listening, args.changes)
            table.add_row("LISTEN/NOTIFY, no poll", f"{args.changes}", f"{p50:.1f} ms", f"{p99:.1f} ms")
        finally:
            listening.close()
        polling = replica(url, home, change_notifications=False)
        done = threading.Event()

        def poll() -> None:  # what the app's lifespan runs every snapshot_poll_seconds
            while not done.wait(args.poll_seconds):
                polling.refresher.refresh()

        try:
            threading.Thread(target=poll, daemon=True).start()
            count = max(10, args.changes // 20)
            p50, p99 = measure(writer, polling, count)
            done.set()
            table.add_row(f"poll every {args.poll_seconds:g} s", f"{count}", f"{p50:.1f} ms", f"{p99:.1f} ms")
        finally:
            polling.close()
    finally:
        writer.close()
        shutil.rmtree(home, ignore_errors=True)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    console.print(table)


if __name__ == "__main__":
    main()
