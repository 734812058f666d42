"""Propagation between replicas on PostgreSQL: how long after one replica starts writing a change another
replica holds it, through LISTEN/NOTIFY (poll off) and through the poll alone. Prints figures; not a test.

    .venv/bin/python bench/replica_bench.py [--changes 200]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

from trainer_ops.access.types import Principal, Role
from trainer_ops.app import Ops, build_ops
from trainer_ops.config import Settings

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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--poll-seconds", type=float, default=1.0, help="the poll of the second run")
    args = parser.parse_args()
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
