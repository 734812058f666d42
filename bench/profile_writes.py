"""Where a feature toggle's CPU goes: the PATCH driven in-process through the app's ASGI callable.

A profiling aid, not a test. The real app from `create_app` (SQLite in a temporary home, or a scratch
PostgreSQL database with `--database-url`) toggles `quiz_auto_generate` as `api_bench.py` does, one
PATCH at a time, with no sockets, so the figure is the server's own work: process CPU time (every
thread: event loop, thread pool, writer) per write.

    .venv/bin/python bench/profile_writes.py cpu                 # CPU µs and wall µs per toggle
    .venv/bin/python bench/profile_writes.py phases              # CPU µs per toggle by thread and part
    .venv/bin/python bench/profile_writes.py cprofile --top 40   # cProfile over every thread
    .venv/bin/python bench/profile_writes.py server --phases     # through uvicorn (httptools, uvloop)
    .venv/bin/python bench/profile_writes.py cpu --database-url postgresql://postgres@127.0.0.1:5432/x

`cprofile` profiles the writer thread and the thread pool too (cProfile alone sees one thread): a
`threading.setprofile` hook starts a profiler in each thread the app creates, and the stats of all of
them are merged. `phases` times parts with each thread's own CPU clock, so a wait (disk, lock, GIL) is
not counted. `callgrind` runs `cpu` under valgrind for instruction counts (load independent, slow).
With `--database-url` a scratch database is created and dropped, as api_bench.py does.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_bench import TOGGLE_FEATURE, scratch_postgres
from profile_hot_path import TOKEN, Lifespan, _run, build

PATH = f"/operator/ops/features/{TOGGLE_FEATURE}"
BODIES = (b'{"enabled": true}', b'{"enabled": false}')


def patch_runner(app: Any) -> Callable[[], Awaitable[None]]:
    """One PATCH per call, alternating the two bodies so each is a real change."""
    headers = [
        (b"host", b"127.0.0.1:8080"),
        (b"user-agent", b"bench"),
        (b"accept", b"*/*"),
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {TOKEN}".encode()),
    ]
    state = {"n": 0}

    async def one() -> None:
        body = BODIES[state["n"] % 2]
        state["n"] += 1
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "PATCH",
            "scheme": "http",
            "path": PATH,
            "raw_path": PATH.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8080),
        }
        await app(scope, receive, send)
        if sent[0]["status"] != 200:
            raise RuntimeError(f"PATCH {PATH}: {sent}")

    return one


def _as_serve_does() -> None:
    """What `trainer-ops serve` does between building the app and serving (a source tree from before
    ADR 0031 has nothing to do)."""
    try:
        from trainer_ops.infra.process import freeze_startup_heap
    except ImportError:
        return
    freeze_startup_heap()


def _with_app(database_url: str, body: Callable[[Any], Awaitable[Any]]) -> Any:
    with tempfile.TemporaryDirectory(prefix="trainer-ops-writes-") as tmp:
        app = build("baseline", Path(tmp), database_url)
        _as_serve_does()

        async def inside() -> Any:
            async with Lifespan(app):
                return await body(app)

        return _run(inside())


def cmd_cpu(args: argparse.Namespace) -> None:
    async def body(app: Any) -> tuple[float, float, float]:
        one = patch_runner(app)
        for _ in range(args.warmup):
            await one()
        cpu, wall, lat = [], [], []
        for _ in range(args.reps):
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(args.requests):
                t0 = time.perf_counter()
                await one()
                lat.append(time.perf_counter() - t0)
            cpu.append((time.process_time() - c0) / args.requests * 1e6)
            wall.append((time.perf_counter() - w0) / args.requests * 1e6)
        return statistics.median(cpu), statistics.median(wall), statistics.median(lat) * 1e6

    cpu, wall, p50 = _with_app(args.database_url, body)
    print(
        f"PATCH {PATH} in-process, {args.reps} x {args.requests}: "
        f"CPU {cpu:,.0f} µs/write, wall {wall:,.0f} µs/write, p50 {p50:,.0f} µs"
    )


PHASES = (
    ("writer batch", "trainer_ops.db.writer", "BatchWriter", "_run_batch"),
    ("  chain lock + head", "trainer_ops.audit.service", "AuditService", "begin"),
    ("  current version", "trainer_ops.versions.store", "VersionStore", "current"),
    ("  latest version (ORM)", "trainer_ops.versions.store", "VersionStore", "latest"),
    ("  version + entry", "trainer_ops.versions.service", "DocumentService", "_write"),
    ("  insert entries", "trainer_ops.audit.service", "AuditService", "flush"),
    ("  commit", "sqlalchemy.orm.session", "SessionTransaction", "commit"),
    ("pool: publish", "trainer_ops.versions.snapshot", "SnapshotHolder", "publish"),
    ("pool: whole write", "trainer_ops.db.writer", "BatchWriter", "run"),
)


def _timed(table: dict[str, float], name: str, function: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.thread_time()  # this thread's CPU only: a wait on a lock or the disk is not counted
        try:
            return function(*args, **kwargs)
        finally:
            table[name] = table.get(name, 0.0) + time.thread_time() - t0

    return wrapper


def install_phases() -> dict[str, float]:
    import importlib

    table: dict[str, float] = {}
    for name, module, cls, attr in PHASES:
        owner = getattr(importlib.import_module(module), cls)
        if hasattr(owner, attr):  # an older source tree may lack it (comparing before and after)
            setattr(owner, attr, _timed(table, name, getattr(owner, attr)))
    return table


def print_phases(table: dict[str, float], total: float, count: int) -> None:
    print(f"CPU per write (thread CPU, µs), {count} toggles")
    print(f"{'process (all threads)':<24}{total / count * 1e6:>8,.0f}")
    for name in ["event loop (ASGI app)", *(phase[0] for phase in PHASES)]:
        if name in table:
            print(f"{name:<24}{table[name] / count * 1e6:>8,.0f}")


def cmd_phases(args: argparse.Namespace) -> None:
    table = install_phases()

    async def body(app: Any) -> float:
        one = patch_runner(app)
        for _ in range(args.warmup):
            await one()
        table.clear()
        c0, t0 = time.process_time(), time.thread_time()
        for _ in range(args.requests):
            await one()
        table["event loop (ASGI app)"] = time.thread_time() - t0
        return time.process_time() - c0

    print_phases(table, _with_app(args.database_url, body), args.requests)


class AllThreads:
    """A cProfile.Profile in every thread started after `start()`, plus the calling thread's."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self.lock = threading.Lock()

    def _hook(self, *_args: Any) -> None:
        profile = cProfile.Profile()
        with self.lock:
            self.profiles.append(profile)
        profile.enable()  # replaces this hook for this thread

    def start(self) -> None:
        threading.setprofile(self._hook)

    def main(self) -> cProfile.Profile:
        profile = cProfile.Profile()
        self.profiles.append(profile)
        return profile

    def stats(self, stream: io.StringIO) -> pstats.Stats:
        threading.setprofile(None)  # type: ignore[arg-type]
        for profile in self.profiles:
            profile.snapshot_stats()  # type: ignore[attr-defined]
        stats = pstats.Stats(stream=stream)
        for profile in self.profiles:
            stats.add(profile)
        return stats


def _package(filename: str) -> str:
    """`sqlalchemy`, `trainer_ops.audit`, `builtins`...: where a profiled function lives."""
    if filename == "~":
        return "builtins (C)"
    parts = Path(filename).parts
    for root in ("site-packages", "src"):
        if root in parts:
            rest = parts[parts.index(root) + 1 :]
            return ".".join(rest[:2]) if rest[0] == "trainer_ops" else rest[0]
    return "stdlib: " + Path(filename).stem


def cmd_cprofile(args: argparse.Namespace) -> None:
    threads = AllThreads()
    threads.start()  # before the app starts its thread pool and writer

    async def body(app: Any) -> None:
        one = patch_runner(app)
        for _ in range(args.warmup):
            await one()
        for profile in threads.profiles:
            profile.clear()
        main = threads.main()
        main.enable()
        for _ in range(args.requests):
            await one()
        main.disable()

    _with_app(args.database_url, body)
    stream = io.StringIO()
    stats = threads.stats(stream)
    calls = stats.total_calls / args.requests  # type: ignore[attr-defined]
    print(f"{calls:,.0f} Python function calls per write (all threads; load independent)")
    by_package: dict[str, int] = {}
    for (filename, _line, _name), (_cc, ncalls, *_rest) in stats.stats.items():  # type: ignore[attr-defined]
        package = _package(filename)
        by_package[package] = by_package.get(package, 0) + ncalls
    for package, n in sorted(by_package.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {package:<28}{n / args.requests:>8,.0f}")
    stats.strip_dirs().sort_stats(args.sort).print_stats(args.top)
    if args.callers:
        stats.print_callers(args.callers)
        stats.print_callees(args.callers)
    print(f"cProfile (all threads) of {args.requests} x PATCH {PATH}; times include profiler overhead")
    print(stream.getvalue())


def _client(url: str, warmup: int, count: int, ready: Any, done: Any) -> None:
    import httpx

    ready.wait()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as client:
        for n in range(warmup + count):
            response = client.patch(PATH, content=BODIES[n % 2], headers={"content-type": "application/json"})
            response.raise_for_status()
            if n + 1 == warmup:
                done.put(("warm", time.perf_counter()))
    done.put(("end", time.perf_counter()))


def cmd_server(args: argparse.Namespace) -> None:
    """The real server stack (uvicorn, httptools, uvloop) in this process; the client in another."""
    import multiprocessing
    import socket

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    ready, done = ctx.Event(), ctx.Queue()
    url = f"http://127.0.0.1:{port}"
    client = ctx.Process(target=_client, args=(url, args.warmup, args.requests, ready, done))
    client.start()
    threads = AllThreads()
    if args.profile:
        threads.start()
    table = install_phases() if args.phases else {}
    with tempfile.TemporaryDirectory(prefix="trainer-ops-writes-") as tmp:
        app = build("baseline", Path(tmp), args.database_url)
        _as_serve_does()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            loop="uvloop",
            http="httptools",
        )
        server = uvicorn.Server(config)
        marks: dict[str, float] = {}

        def watch() -> None:
            while not server.started:
                time.sleep(0.01)
            ready.set()
            _, _ = done.get()
            marks["cpu0"] = time.process_time()
            marks["user0"], marks["sys0"] = os.times()[:2]
            for profile in threads.profiles:
                profile.clear()
            table.clear()
            _, _ = done.get()
            marks["cpu1"] = time.process_time()
            marks["user1"], marks["sys1"] = os.times()[:2]
            server.should_exit = True

        watcher = threading.Thread(target=watch)
        watcher.start()
        loop_profile = threads.main() if args.profile else None
        if loop_profile is not None:
            loop_profile.enable()  # the event loop's thread
        server.run()
        if loop_profile is not None:
            loop_profile.disable()
        watcher.join()
    client.join()
    cpu = (marks["cpu1"] - marks["cpu0"]) / args.requests * 1e6
    user = (marks["user1"] - marks["user0"]) / args.requests * 1e6
    system = (marks["sys1"] - marks["sys0"]) / args.requests * 1e6
    print(
        f"server CPU {cpu:,.0f} µs per toggle (user {user:,.0f}, system {system:,.0f}; "
        f"{args.requests} toggles after {args.warmup})"
    )
    if args.phases:
        print_phases(table, marks["cpu1"] - marks["cpu0"], args.requests)
    if args.profile:
        stream = io.StringIO()
        stats = threads.stats(stream)
        stats.strip_dirs().sort_stats(args.sort).print_stats(args.top)
        print(stream.getvalue())


def cmd_callgrind(args: argparse.Namespace) -> None:
    out = Path(tempfile.gettempdir()) / "trainer-ops-writes.callgrind"
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        __file__,
        "cpu",
        "--requests",
        str(args.requests),
        "--reps",
        "1",
        "--warmup",
        str(args.warmup),
    ]
    subprocess.run(command, check=True)
    # Start-up is counted too: run it twice with different --requests and subtract for a per-write count.
    print(f"callgrind output: {out}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("command", choices=("cpu", "phases", "cprofile", "server", "callgrind"))
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--profile", action="store_true", help="server: cProfile every thread too")
    parser.add_argument("--phases", action="store_true", help="server: CPU of the write's phases too")
    parser.add_argument("--callers", default="", help="also print the callers of functions matching this")
    parser.add_argument("--database-url", default="", help="a PostgreSQL server URL (a scratch DB is made)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    command = {
        "cpu": cmd_cpu,
        "phases": cmd_phases,
        "cprofile": cmd_cprofile,
        "server": cmd_server,
        "callgrind": cmd_callgrind,
    }[args.command]
    if args.database_url:
        with scratch_postgres(args.database_url) as url:
            args.database_url = url
            command(args)
    else:
        command(args)


if __name__ == "__main__":
    main()
