"""Store fault benchmark: from freezing PostgreSQL to a 503 answer, for a write, for /readyz and for a
read with an uncached token, over several runs (ADR 0016; target <= 3 s). Not a test.

    .venv/bin/python bench/store_fault_bench.py [--runs 5] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

Creates a PostgreSQL database (dropped at the end) and serves the app in-process (uvicorn thread, the
settings' defaults) through a TCP proxy that can be frozen: it stops forwarding bytes both ways and
keeps the sockets open, which is what a client of a server stopped with SIGSTOP sees. Each run makes a
write (the writer then holds a connection, the worst case), freezes the proxy, sends the three requests
at once and times each answer from the moment of freezing, thaws, and times until a write succeeds
again (recovery).
"""

from __future__ import annotations

import argparse
import logging
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import uvicorn
from psycopg.conninfo import conninfo_to_dict
from rich.console import Console
from rich.table import Table

from trainer_ops.access.types import Role
from trainer_ops.app import Ops, build_ops, create_app
from trainer_ops.audit.types import SYSTEM_ACTOR
from trainer_ops.config import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from freezable_proxy import FreezableProxy  # the tests' fake frozen store, no pytest in it

TOKEN = "tops_bench-admin-0123456789abcdef"
MODEL_CONFIG = "/operator/ops/model-config"
TARGET_SECONDS = 3.0
console = Console()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(settings: Settings) -> tuple[uvicorn.Server, Ops, str]:
    ops = build_ops(settings)
    port = free_port()
    config = uvicorn.Config(create_app(settings, ops=ops), host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, ops, f"http://127.0.0.1:{port}"


def time_from(
    frozen_at: float, call: Callable[[], httpx.Response], into: dict[str, tuple[int, float]], key: str
) -> None:
    try:
        status = call().status_code
    except httpx.HTTPError:
        status = 0  # no answer within the client's own timeout: a hang
    into[key] = (status, time.monotonic() - frozen_at)


def one_run(base: str, ops: Ops, proxy: FreezableProxy) -> tuple[dict[str, tuple[int, float]], float]:
    late = ops.write(
        lambda session: ops.tokens.create(session, actor=SYSTEM_ACTOR, role=Role.ADMIN, user_id="late")
    ).token
    admin = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base, timeout=30.0) as client:
        client.patch(MODEL_CONFIG, json={"temperature": 0.5}, headers=admin).raise_for_status()
        answers: dict[str, tuple[int, float]] = {}
        calls: dict[str, Callable[[], httpx.Response]] = {
            "write (PATCH)": lambda: client.patch(MODEL_CONFIG, json={"temperature": 0.6}, headers=admin),
            "/readyz": lambda: client.get("/readyz"),
            "read, uncached token": lambda: client.get(
                MODEL_CONFIG, headers={"Authorization": f"Bearer {late}"}
            ),
        }
        proxy.freeze()
        frozen_at = time.monotonic()
        threads = [
            threading.Thread(target=time_from, args=(frozen_at, call, answers, key))
            for key, call in calls.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        proxy.thaw()
        thawed_at = time.monotonic()
        while client.patch(MODEL_CONFIG, json={"temperature": 0.7}, headers=admin).status_code != 200:
            time.sleep(0.05)
        return answers, time.monotonic() - thawed_at


def report(runs: list[tuple[dict[str, tuple[int, float]], float]]) -> None:
    table = Table("what", "statuses", "p50 s", "max s", f"target <= {TARGET_SECONDS:g} s")
    for key in runs[0][0]:
        statuses = sorted({answers[key][0] for answers, _ in runs})
        seconds = [answers[key][1] for answers, _ in runs]
        ok = max(seconds) <= TARGET_SECONDS and statuses == [503]
        table.add_row(
            key,
            ",".join(map(str, statuses)),
            f"{statistics.median(seconds):.2f}",
            f"{max(seconds):.2f}",
            "[green]met[/green]" if ok else "[red]missed[/red]",
        )
    recovery = [seconds for _, seconds in runs]
    table.add_row(
        "recovery after thaw (write 200)",
        "200",
        f"{statistics.median(recovery):.2f}",
        f"{max(recovery):.2f}",
        "",
    )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="an admin DSN")
    args = parser.parse_args()
    logging.getLogger("trainer_ops").setLevel(logging.ERROR)  # the expected store failures, logged by the app
    admin = conninfo_to_dict(args.pg)
    name = f"trainer_ops_fault_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    proxy = FreezableProxy((str(admin.get("host", "127.0.0.1")), int(str(admin.get("port", 5432)))))
    url = f"postgresql://{admin.get('user', 'postgres')}@127.0.0.1:{proxy.port}/{name}"
    server = None
    try:
        with tempfile.TemporaryDirectory() as home:
            settings = Settings(
                home=Path(home), database_url=url, bootstrap_admin_token=TOKEN, token_cache_seconds=300
            )
            server, ops, base = serve(settings)
            console.print(f"store timeout {settings.store_timeout_seconds:g} s; {args.runs} runs")
            report([one_run(base, ops, proxy) for _ in range(args.runs)])
            server.should_exit = True
            time.sleep(1.0)
    finally:
        proxy.close()
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
