"""SIGTERM to exit of `trainer-ops serve` with many open SDK streams (ADR 0018). Prints figures; not a test.

1. starts `trainer-ops serve` on a free 127.0.0.1 port with a temporary home and SQLite store (or a
   scratch PostgreSQL database with --database-url, created and dropped here), and waits for /readyz;
2. opens --streams (200) server-sent-event streams (GET /operator/ops/stream) and waits until each has
   its snapshot, while a poller asks /readyz every 5 ms;
3. sends SIGTERM and measures, from the signal: the first 503 from /readyz, the first refused
   connection, every stream's `retry:` and end, and the process's exit (its code, and whether the
   ordered shutdown logged "trainer-ops stopped").

Target: exit within TRAINER_OPS_SHUTDOWN_SECONDS (10 s) with 200 streams; before ADR 0018 the process
never exited while a stream was open. Only 127.0.0.1 is contacted; every phase is bounded in time.

    .venv/bin/python bench/shutdown_bench.py
    .venv/bin/python bench/shutdown_bench.py --streams 500 --runs 3 --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from api_bench import free_port, scratch_postgres  # bench/ is on sys.path when run as a script

HOST = "127.0.0.1"
ADMIN_TOKEN = "tops_bench_admin_shutdown_5d1e9a7c3b"  # registered on the throwaway store only
TARGET_SECONDS = 10.0
err = Console(stderr=True)


@dataclass
class Run:
    streams: int
    exit_code: int | None
    stopped_logged: bool
    readyz_503_ms: float | None  # SIGTERM to the first 503 from /readyz
    refused_ms: float | None  # SIGTERM to the first refused connection
    streams_ended_ms: float | None  # SIGTERM to the last stream's end
    streams_told_to_reconnect: int  # streams whose last bytes held `retry:`
    streams_failed: int  # streams that ended in an error instead
    exit_ms: float  # SIGTERM to the process's exit
    notes: list[str] = field(default_factory=list)


def start_server(
    home: Path, database_url: str, shutdown_seconds: float
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINER_OPS_")}
    env.update(
        TRAINER_OPS_HOME=str(home / "secrets"),
        TRAINER_OPS_DATABASE_URL=database_url,
        TRAINER_OPS_BOOTSTRAP_ADMIN_TOKEN=ADMIN_TOKEN,
        TRAINER_OPS_SHUTDOWN_SECONDS=str(shutdown_seconds),
    )
    exe = Path(sys.executable).parent / "trainer-ops"
    if not exe.exists():
        exe = Path(shutil.which("trainer-ops") or "trainer-ops")
    with (home / "server.log").open("ab") as log:
        process = subprocess.Popen(
            [str(exe), "serve", "--host", HOST, "--port", str(port)],
            cwd=home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C reaches the bench only
        )
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((home / "server.log").read_text()[-3000:])
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        time.sleep(0.1)
    process.kill()
    process.wait()
    raise RuntimeError("the server did not become ready within 60 s")


async def follow(client: httpx.AsyncClient, started: asyncio.Event, tail: list[str]) -> float:
    """One stream: sets `started` after its snapshot; returns when it ended, with its last bytes in tail."""
    text = ""
    async with client.stream("GET", "/operator/ops/stream") as response:
        async for chunk in response.aiter_text():
            text = (text + chunk)[-4096:]
            if not started.is_set() and "event: snapshot" in text and text.endswith("\n\n"):
                started.set()
                text = ""
    tail.append(text)
    return time.monotonic()


async def poll_readyz(url: str, seen: list[tuple[float, int | str]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        async with httpx.AsyncClient(base_url=url, timeout=2) as client:
            while not stop.is_set():
                try:
                    status: int | str = (await client.get("/readyz")).status_code
                except httpx.HTTPError as exc:
                    seen.append((time.monotonic(), type(exc).__name__))
                    break
                seen.append((time.monotonic(), status))
                await asyncio.sleep(0.005)
        await asyncio.sleep(0.005)


async def measure(process: subprocess.Popen[bytes], url: str, streams: int, wait_s: float) -> Run:
    limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=0)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    timeout = httpx.Timeout(10, read=wait_s + 30)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=timeout) as client:
        started = [asyncio.Event() for _ in range(streams)]
        tails: list[str] = []
        followers = [asyncio.create_task(follow(client, event, tails)) for event in started]
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in started)), 60)
        seen: list[tuple[float, int | str]] = []
        stop = asyncio.Event()
        poller = asyncio.create_task(poll_readyz(url, seen, stop))
        await asyncio.sleep(0.2)

        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            code: int | None = await asyncio.to_thread(process.wait, wait_s)
        except subprocess.TimeoutExpired:
            code = None
        exited = time.monotonic()
        stop.set()
        await poller
        ends = await asyncio.gather(*followers, return_exceptions=True)

    def first(match: object) -> float | None:
        return next(((at - signalled) * 1000 for at, s in seen if at > signalled and s == match), None)

    ended = [e for e in ends if isinstance(e, float)]
    return Run(
        streams=streams,
        exit_code=code,
        stopped_logged=False,
        readyz_503_ms=first(503),
        refused_ms=first("ConnectError"),
        streams_ended_ms=(max(ended) - signalled) * 1000 if len(ended) == streams else None,
        streams_told_to_reconnect=sum("retry:" in tail for tail in tails),
        streams_failed=streams - len(ended),
        exit_ms=(exited - signalled) * 1000,
    )


def one_run(database_url: str | None, streams: int, shutdown_seconds: float) -> Run:
    home = Path(tempfile.mkdtemp(prefix="trainer-ops-shutdown-bench-"))
    try:
        with contextlib.ExitStack() as stack:
            url = stack.enter_context(scratch_postgres(database_url)) if database_url else None
            process, base = start_server(home, url or f"sqlite:///{home / 'store.db'}", shutdown_seconds)
            try:
                run = asyncio.run(measure(process, base, streams, shutdown_seconds + 20))
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            run.stopped_logged = "trainer-ops stopped" in (home / "server.log").read_text()
            if run.exit_code is None:
                run.notes.append(f"still running {shutdown_seconds + 20:g} s after SIGTERM: killed")
            return run
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=200, help="open streams (default 200)")
    parser.add_argument("--runs", type=int, default=1, help="repeat the measurement (default 1)")
    parser.add_argument("--shutdown-seconds", type=float, default=TARGET_SECONDS, help="the server's bound")
    parser.add_argument("--database-url", default=None, help="a new PostgreSQL database (default SQLite)")
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary only")
    args = parser.parse_args()

    runs = []
    for index in range(args.runs):
        err.print(f"run {index + 1}/{args.runs}: {args.streams} streams, SIGTERM ...")
        runs.append(one_run(args.database_url, args.streams, args.shutdown_seconds))
    if args.json:
        print(json.dumps({"target_s": args.shutdown_seconds, "runs": [asdict(r) for r in runs]}, indent=2))
        return

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f} ms"

    table = Table(title=f"SIGTERM with {args.streams} open streams (times from the signal)")
    for column in (
        "run",
        "/readyz 503",
        "refused",
        "streams ended",
        "retry: sent",
        "exit",
        "code",
        "stopped",
    ):
        table.add_column(column, justify="right")
    for index, run in enumerate(runs, 1):
        table.add_row(
            str(index),
            ms(run.readyz_503_ms),
            ms(run.refused_ms),
            ms(run.streams_ended_ms),
            f"{run.streams_told_to_reconnect}/{run.streams}",
            ms(run.exit_ms),
            str(run.exit_code),
            "yes" if run.stopped_logged else "no",
        )
    Console().print(table)
    worst = max(run.exit_ms for run in runs) / 1000
    ok = all(run.exit_code == 0 for run in runs) and worst <= args.shutdown_seconds
    verdict = "met" if ok else "MISSED"
    print(
        f"target: exit 0 within {args.shutdown_seconds:g} s: {verdict} (worst {worst:.2f} s, "
        f"median {statistics.median(r.exit_ms for r in runs) / 1000:.2f} s)"
    )
    for run in runs:
        for note in run.notes:
            print(f"note: {note}")


if __name__ == "__main__":
    main()
