"""Hot reload benchmark: end-to-end reload latency (upload excluded) for a small and a ~1 MB ruleset, and
request latency during a reload storm. Starts a real server in-process (uvicorn thread). Not a test.

    .venv/bin/python bench/reload_bench.py [--reloads 200]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table

from trainer_ops.app import build_ops, create_app
from trainer_ops.config import Settings

TOKEN = "tops_bench-admin"
console = Console()


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def scenarios(stamp: str, count: int) -> dict[str, Any]:
    return {
        "scenarios": [
            {
                "id": f"{stamp}-{i}",
                "title": f"Scenario {i} " + "x" * 150,
                "persona": "shopper",
                "objectives": ["greet", "ask", "close"],
                "difficulty": 1 + i % 5,
            }
            for i in range(count)
        ]
    }


def start_server() -> tuple[str, uvicorn.Server, threading.Thread]:
    home = Path(tempfile.mkdtemp(prefix="trainer-ops-reload-"))
    settings = Settings(
        home=home,
        database_url=f"sqlite:///{home / 'bench.db'}",
        bootstrap_admin_token=TOKEN,
        snapshot_poll_seconds=0,
    )
    ops = build_ops(settings)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, ops=ops), host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def reload_latency(client: httpx.Client, count: int, size: int, label: str) -> tuple[str, float, float, int]:
    for stamp in ("A", "B"):
        body = scenarios(f"{label}{stamp}", size)
        response = client.put(f"/operator/ops/engines/scenario/rulesets/{label}{stamp}", json=body)
        assert response.status_code in (200, 201), response.text
    nbytes = len(httpx.Request("PUT", "http://x", json=scenarios(f"{label}A", size)).content)
    samples = []
    for i in range(count):
        started = time.perf_counter()
        response = client.post(
            "/operator/ops/hot-reload", json={"type": "scenario", "targetId": f"{label}{'AB'[i % 2]}"}
        )
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return label, pct(samples, 0.5), pct(samples, 0.99), nbytes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reloads", type=int, default=200)
    args = parser.parse_args()
    base, server, thread = start_server()
    table = Table(title="hot reload, one process (SQLite)")
    for column in ("measure", "p50 ms", "p99 ms", "note"):
        table.add_column(column, justify="right" if "ms" in column else "left")
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
            for label, size in (("small", 3), ("large", 5000)):
                name, p50, p99, nbytes = reload_latency(
                    client, args.reloads if size < 100 else args.reloads // 4, size, label
                )
                table.add_row(
                    f"reload end to end, {name} ruleset",
                    f"{p50:.1f}",
                    f"{p99:.1f}",
                    f"{nbytes / 1e6:.2f} MB; target p99 <= 100 ms",
                )
            # Request latency of readers while reloads run back to back.
            quiet = []
            for _ in range(500):
                started = time.perf_counter()
                client.get("/operator/ops/engines/difficulty/active")
                quiet.append((time.perf_counter() - started) * 1000)
            stop = threading.Event()
            storm_reloads = [0]

            def storm() -> None:
                with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as other:
                    i = 0
                    while not stop.is_set():
                        other.post(
                            "/operator/ops/hot-reload",
                            json={"type": "scenario", "targetId": f"small{'AB'[i % 2]}"},
                        )
                        i += 1
                        storm_reloads[0] += 1

            storm_thread = threading.Thread(target=storm)
            storm_thread.start()
            loud = []
            errors = 0
            for _ in range(500):
                started = time.perf_counter()
                response = client.get("/operator/ops/engines/difficulty/active")
                loud.append((time.perf_counter() - started) * 1000)
                errors += response.status_code != 200
            stop.set()
            storm_thread.join()
            table.add_row(
                "read, no reloads",
                f"{pct(quiet, 0.5):.2f}",
                f"{pct(quiet, 0.99):.2f}",
                f"mean {statistics.mean(quiet):.2f} ms",
            )
            table.add_row(
                "read, during a reload storm",
                f"{pct(loud, 0.5):.2f}",
                f"{pct(loud, 0.99):.2f}",
                f"{storm_reloads[0]} reloads meanwhile, {errors} failed reads",
            )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    console.print(table)


if __name__ == "__main__":
    main()
