"""Where a hot GET spends its time: in-process ASGI timings, what-if variants, cProfile and py-spy.

A profiling aid, not a test. Nothing under src/ is changed: each variant is the real app from
`create_app` with one thing swapped (guard.principal replaced by an async twin before the routes are
imported, EdgeMiddleware left out, FastAPI's telemetry hooks off), so the cost of that thing is the
difference to `baseline`. Each variant runs in a process of its own.

    .venv/bin/python bench/profile_hot_path.py asgi               # µs per request, per variant and path
    .venv/bin/python bench/profile_hot_path.py parts              # µs per call of the route's own pieces
    .venv/bin/python bench/profile_hot_path.py cprofile --path /operator/ops/features
    .venv/bin/python bench/profile_hot_path.py pyspy              # real server under wrk, py-spy summary
    .venv/bin/python bench/profile_hot_path.py serve --variant async-principal --port 8081
    .venv/bin/python bench/api_bench.py --variant async-principal # end-to-end figures of a variant
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import io
import multiprocessing
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

# trainer_ops is imported lazily: the async-principal variant must patch guard.principal before the
# route modules import it.

TOKEN = "tops_bench_admin_7f3c9a1e5b2d4c6e8a0f"
PATHS = ("/livez", "/operator/ops/features", "/operator/ops/model-config")
FLOORS = ("raw-asgi", "bare-fastapi", "bare-fastapi+query", "bare-fastapi+sync-dep", "bare-fastapi+async-dep")


# ------------------------------------------------------------------------------------------- variants


async def principal_async(request: Request) -> Any:
    """guard.principal as an async dependency: a cached token costs no thread hop; a miss (once per
    token per TRAINER_OPS_TOKEN_CACHE_SECONDS) still goes to the thread pool, as its lookup does I/O."""
    from trainer_ops.http.context import edge_of

    authenticator = edge_of(request).authenticator
    header = request.headers.get("authorization")
    found = _from_cache(authenticator, header)
    if found is None:
        found = await run_in_threadpool(authenticator.authenticate, header)
    return found


def _from_cache(authenticator: Any, header: str | None) -> Any:
    """Authenticator.from_cache where the service has it; else the same peek at its private cache."""
    if hasattr(authenticator, "from_cache"):
        return authenticator.from_cache(header)
    if not header or header[:7].lower() != "bearer ":
        return None
    hit = authenticator._cache.get(header[7:].strip())
    return hit[0] if hit is not None and hit[0] is not None and hit[1] > time.monotonic() else None


def _patch_principal() -> None:
    """Make every route depend on principal_async, as if guard.principal were written that way."""
    import inspect

    import trainer_ops.http.guard as guard

    if inspect.iscoroutinefunction(guard.principal):
        print("note: guard.principal is already async here; async-principal changes nothing", file=sys.stderr)
        return
    routes = [m for m in sys.modules if m.startswith("trainer_ops.") and m.endswith(".routes")]
    if routes or "trainer_ops.app" in sys.modules:
        raise RuntimeError(f"patch guard.principal before the routes are imported (imported: {routes})")
    guard.principal = principal_async  # type: ignore[assignment]


def _no_edge(app: FastAPI) -> FastAPI:
    from trainer_ops.http.middleware import EdgeMiddleware

    app.user_middleware = [m for m in app.user_middleware if m.cls is not EdgeMiddleware]
    return app


def _telemetry_off(app: FastAPI) -> FastAPI:
    # In src this is FastAPI(..., telemetry={"tracing": False, "metrics": False, "logs": False,
    # "operation_spans": False}); here the built app's private config is replaced instead.
    from fastapi.telemetry._asgi import NativeTelemetry

    app._telemetry.update(tracing=False, metrics=False, logs=False, operation_spans=False)
    app._native_telemetry = NativeTelemetry(app._telemetry)
    return app


class FastReads:
    """What-if: a pure-ASGI fast path, outermost, for the two hot cached reads.

    It answers GET /operator/ops/features and /operator/ops/model-config (no query string) itself when
    the bearer token is in the authenticator's cache and the policy gives the caller the full view;
    everything else (a cache miss, a denial that must be audited, ?region=, another route) falls through
    to the FastAPI app unchanged. Same headers (ETag, Cache-Control, X-Request-ID), 304 on If-None-Match,
    and the same metrics observation as EdgeMiddleware. A sketch to size the gain, not production code."""

    def __init__(self, app: Any, ops: Any) -> None:
        from trainer_ops.modelconfig.types import KIND as MODEL_CONFIG

        self.app = app
        self.ops = ops

        def features() -> tuple[bytes, int]:
            body, version = ops.features.values_body(None)
            return body, version

        def model_config() -> tuple[bytes, int]:
            doc = ops.holder.current.get(MODEL_CONFIG)
            return doc.body, doc.version

        self.routes: dict[str, tuple[str, Callable[[], tuple[bytes, int]]]] = {
            "/operator/ops/features": ("features.read", features),
            "/operator/ops/model-config": ("model_config.read", model_config),
        }

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        route = None
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            route = self.routes.get(scope["path"])
        if route is None or not await self._answer(scope, send, *route):
            await self.app(scope, receive, send)

    async def _answer(self, scope: Any, send: Any, operation: str, body_of: Any) -> bool:
        started = time.perf_counter()
        authorization = if_none_match = request_id = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"if-none-match":
                if_none_match = value
            elif name == b"x-request-id":
                request_id = value
        who = _from_cache(self.ops.authenticator, authorization.decode("latin-1"))
        if who is None:
            return False
        decision = self.ops.policy().decide(who, operation)
        if (
            not decision.allowed
            or decision.view != "full"
            or (request_id and not _REQUEST_ID.fullmatch(request_id))
        ):
            return False
        body, version = body_of()
        etag = f'"{version}"'.encode()
        request_id = request_id or os.urandom(8).hex().encode()
        headers = [(b"etag", etag), (b"cache-control", b"no-cache"), (b"x-request-id", request_id)]
        if if_none_match == etag:
            status, body = 304, b""
        else:
            status = 200
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.ops.metrics.observe(
            method="GET", route=scope["path"], status=status, seconds=time.perf_counter() - started
        )
        return True


_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


def _fast_reads(app: Any) -> Any:
    return FastReads(app, app.state.ops)


def _access_log_off(app: FastAPI) -> FastAPI:
    # TRAINER_OPS_ACCESS_LOG=false; the baseline writes its lines to stdout (here /dev/null, see
    # _asgi_worker), so the difference is the line's cost, system call included.
    from trainer_ops.http.middleware import EdgeMiddleware

    for middleware in app.user_middleware:
        if middleware.cls is EdgeMiddleware:
            middleware.kwargs["access_log"] = None
    return app


def _tracing_env() -> None:
    # Tracing on (ADR 0029), spans exported by the SDK's console exporter (stdout: /dev/null here), so
    # the figure is the instrumentation's and the export's CPU, without a collector's network.
    os.environ["OTEL_TRACES_EXPORTER"] = "console"


# name -> (patch guard.principal at import time?, changes to the built app, each returning the app)
VARIANTS: dict[str, tuple[bool, tuple[Callable[[Any], Any], ...]]] = {
    "baseline": (False, ()),
    "async-principal": (True, ()),
    "no-edge-middleware": (False, (_no_edge,)),
    "telemetry-off": (False, (_telemetry_off,)),
    "async-principal+telemetry-off": (True, (_telemetry_off,)),
    "fast-reads": (False, (_fast_reads,)),
    "access-log-off": (False, (_access_log_off,)),
    "tracing-on": (False, ()),
}
# Variants that change the environment before the app is built (build_ops reads OTEL_* there).
ENVIRONMENTS: dict[str, Callable[[], None]] = {"tracing-on": _tracing_env}


def prepare(variant: str) -> None:
    """Call once per process, before build() or any trainer_ops.app import."""
    if VARIANTS[variant][0]:
        _patch_principal()
    if variant in ENVIRONMENTS:
        ENVIRONMENTS[variant]()


def apply(variant: str, app: Any) -> Any:
    for change in VARIANTS[variant][1]:
        app = change(app)  # before the first call: Starlette builds the middleware stack lazily
    return app


def build(variant: str, home: Path, database_url: str = "") -> Any:
    prepare(variant)
    from trainer_ops.app import create_app
    from trainer_ops.config import Settings

    database_url = (
        database_url or f"sqlite:///{home / 'trainer-ops.db'}"
    )  # never the default ./trainer-ops.db
    settings = Settings(home=home, bootstrap_admin_token=TOKEN, database_url=database_url)
    return apply(variant, create_app(settings))


# ---------------------------------------------------------------------------------------- ASGI driver


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"user-agent", b"bench"),
            (b"accept", b"*/*"),
            (b"authorization", f"Bearer {TOKEN}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


class Lifespan:
    """Runs the app's lifespan (startup on enter, shutdown on exit) as a server would."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Lifespan:
        self.task = asyncio.create_task(
            self.app(
                {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, self.inbox.get, self._send
            )
        )
        await self.inbox.put({"type": "lifespan.startup"})
        message = await self.outbox.get()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"startup failed: {message}")
        return self

    async def _send(self, message: dict[str, Any]) -> None:
        await self.outbox.put(message)

    async def __aexit__(self, *_exc: object) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.outbox.get()
        if self.task is not None:
            await self.task


def request_runner(app: Any, path: str) -> Callable[[], Awaitable[None]]:
    template = _scope(path)

    async def one() -> None:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = dict(template)
        scope["headers"] = list(template["headers"])
        await app(scope, _receive, send)
        if sent[0]["status"] != 200:
            raise RuntimeError(f"GET {path}: {sent}")

    return one


async def time_requests(
    one: Callable[[], Awaitable[None]], n: int, reps: int, *, warmup: int = 500
) -> tuple[float, float]:
    """(median CPU µs, median wall µs) per request over `reps` runs of `n` sequential requests.
    CPU time (all threads of this process) is the figure to trust on a shared machine."""
    for _ in range(warmup):
        await one()
    cpu, wall = [], []
    for _ in range(reps):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            await one()
        cpu.append((time.process_time() - c0) / n * 1e6)
        wall.append((time.perf_counter() - w0) / n * 1e6)
    return statistics.median(cpu), statistics.median(wall)


def _run(coro: Awaitable[Any]) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)  # the server's loop (trainer-ops serve uses loop="uvloop")
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]


def _floor_app(name: str, paths: tuple[str, ...] = ("/x",)) -> Any:
    """The floors: a raw ASGI callable, and bare FastAPI apps whose one endpoint (on each of `paths`)
    returns fixed bytes, plain or with one query parameter or one sync or async dependency."""
    body = b'{"mission_auto_assign":true}'
    if name == "raw-asgi":

        async def raw(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
                return
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        return raw

    async def plain() -> Response:
        return Response(body, media_type="application/json")

    async def with_query(region: str | None = Query(None)) -> Response:
        return Response(body, media_type="application/json")

    async def with_sync_dep(who: Any = Depends(_sync_dep)) -> Response:
        return Response(body, media_type="application/json")

    async def with_async_dep(who: Any = Depends(_async_dep)) -> Response:
        return Response(body, media_type="application/json")

    endpoint = {
        "bare-fastapi": plain,
        "bare-fastapi+query": with_query,
        "bare-fastapi+sync-dep": with_sync_dep,
        "bare-fastapi+async-dep": with_async_dep,
    }[name]
    bare = FastAPI()
    for path in paths:
        bare.add_api_route(path, endpoint, methods=["GET"])
    return bare


def _sync_dep(request: Request) -> Any:
    return request.headers.get("authorization")


async def _async_dep(request: Request) -> Any:
    return request.headers.get("authorization")


def _asgi_worker(conn: Any, name: str, home: str, paths: list[str], n: int) -> None:
    """One variant in a process of its own; measures `paths` each time the parent says "run"."""
    # The access log (and the console exporter of `tracing-on`) write to stdout: a real write per
    # line, to nowhere, rather than thousands of lines on the terminal.
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)

    async def main() -> None:
        app = _floor_app(name) if name in FLOORS else build(name, Path(home))
        async with Lifespan(app):
            runners = {path: request_runner(app, path) for path in paths}
            for one in runners.values():
                for _ in range(300):
                    await one()
            conn.send("ready")
            # A blocking recv: the idle variant's loop (and its background tasks) sleep meanwhile.
            while conn.recv() == "run":
                conn.send({path: await time_requests(one, n, 1, warmup=0) for path, one in runners.items()})

    _run(main())


def cmd_asgi(args: argparse.Namespace) -> None:
    """One process per variant, run round-robin, so a burst of other work on the machine hits all of
    them alike; the minimum over the runs is the least disturbed figure."""
    ctx = multiprocessing.get_context("spawn")
    names = [*FLOORS, *args.variants]
    results: dict[tuple[str, str], list[tuple[float, float]]] = collections.defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="trainer-ops-profile-") as tmp:
        workers = []
        try:
            for i, name in enumerate(names):
                parent, child = ctx.Pipe()
                paths = ["/x"] if name in FLOORS else list(args.paths)
                proc = ctx.Process(
                    target=_asgi_worker, args=(child, name, f"{tmp}/{i}", paths, args.requests)
                )
                proc.start()
                workers.append((name, parent, proc))
            for name, parent, _ in workers:
                if parent.recv() != "ready":
                    raise RuntimeError(f"{name} did not start")
            for _ in range(args.reps):
                for name, parent, _ in workers:
                    parent.send("run")
                    for path, timing in parent.recv().items():
                        results[name, path].append(timing)
        finally:
            for _, parent, proc in workers:
                if proc.is_alive():
                    parent.send("stop")
                proc.join(timeout=30)
                if proc.is_alive():
                    proc.kill()
    best = {key: min(cpu for cpu, _ in runs) for key, runs in results.items()}
    base = {path: cpu for (name, path), cpu in best.items() if name == "baseline"}
    print(f"in-process ASGI (uvloop): {args.reps} round-robin runs of {args.requests} sequential requests")
    print("CPU = process CPU time (all threads) per request; min and median over the runs")
    header = f"{'variant':30s} {'path':28s} {'CPU min µs':>10s} {'CPU med µs':>10s} {'wall med µs':>11s}"
    print(f"{header} {'min vs baseline':>16s}")
    for (name, path), runs in results.items():
        cpu_med = statistics.median(cpu for cpu, _ in runs)
        wall_med = statistics.median(wall for _, wall in runs)
        delta = f"{best[name, path] - base[path]:+.0f} µs" if path in base and name != "baseline" else ""
        print(f"{name:30s} {path:28s} {best[name, path]:10.1f} {cpu_med:10.1f} {wall_med:11.1f} {delta:>16s}")


# ----------------------------------------------------------------------------------------------- parts


def cmd_parts(args: argparse.Namespace) -> None:
    """µs per call of what the features route and the edge do, each alone."""
    from trainer_ops.http.guard import scoped_place
    from trainer_ops.infra.metrics import RequestMetrics
    from trainer_ops.versions.snapshot import make_etag

    with tempfile.TemporaryDirectory(prefix="trainer-ops-profile-") as tmp:
        app = build("baseline", Path(tmp))
        ops = app.state.ops

        async def inside() -> list[tuple[str, float]]:
            async with Lifespan(app):
                await request_runner(app, "/operator/ops/features")()
                who = ops.authenticator.authenticate(f"Bearer {TOKEN}")
                request = Request({**_scope("/operator/ops/features"), "app": app, "state": {}})
                metrics = RequestMetrics()
                body, version = ops.features.values_body(None)
                n = args.requests * 4
                items: list[tuple[str, Callable[[], Any]]] = [
                    ("request id: os.urandom(8).hex()", lambda: os.urandom(8).hex().encode()),
                    (
                        "RequestMetrics.observe (window + Prometheus)",
                        lambda: metrics.observe(
                            method="GET", route="/operator/ops/features", status=200, seconds=0.0004
                        ),
                    ),
                    (
                        "Authenticator.authenticate (cache hit)",
                        lambda: ops.authenticator.authenticate(f"Bearer {TOKEN}"),
                    ),
                    (
                        "Request(scope).headers.get(...)",
                        lambda: Request(request.scope).headers.get("authorization"),
                    ),
                    (
                        "scoped_place (policy view_for)",
                        lambda: scoped_place(request, who, "features.read", None),
                    ),
                    ("Ops.policy().decide", lambda: ops.policy().decide(who, "features.read", region=None)),
                    ("FeaturesService.values_body (cached)", lambda: ops.features.values_body(None)),
                    ("make_etag", lambda: make_etag(version)),
                    (
                        "starlette Response(bytes, headers)",
                        lambda: Response(
                            body,
                            media_type="application/json",
                            headers={"ETag": make_etag(version), "Cache-Control": "no-cache"},
                        ),
                    ),
                ]
                out = [(label, min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6) for label, fn in items]

                async def hop() -> None:
                    await run_in_threadpool(int)

                cpu, wall = await time_requests(hop, args.requests, 5)
                out.append(("run_in_threadpool(noop) hop, CPU", cpu))
                out.append(("run_in_threadpool(noop) hop, wall", wall))

                async def burst() -> None:  # 32 hops at once, as 32 connections cause
                    await asyncio.gather(*(run_in_threadpool(int) for _ in range(32)))

                cpu, wall = await time_requests(burst, max(50, args.requests // 32), 5)
                out.append(("run_in_threadpool x32 concurrent, CPU per hop", cpu / 32))
                return out

        rows = _run(inside())
    print("µs per call (best of 5), each piece alone")
    for label, us in rows:
        print(f"{us:9.2f} µs  {label}")


# -------------------------------------------------------------------------------------------- cProfile


def cmd_cprofile(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="trainer-ops-profile-") as tmp:
        app = build(args.variant, Path(tmp))

        async def inside() -> cProfile.Profile:
            async with Lifespan(app):
                one = request_runner(app, args.path)
                for _ in range(500):
                    await one()
                profile = cProfile.Profile()
                profile.enable()
                for _ in range(args.requests):
                    await one()
                profile.disable()
                return profile

        profile = _run(inside())
    stream = io.StringIO()
    stats = pstats.Stats(profile, stream=stream)
    stats.strip_dirs().sort_stats(args.sort).print_stats(args.top)
    print(f"cProfile of {args.requests} x GET {args.path} ({args.variant}); times include profiler overhead")
    print(stream.getvalue())


# ---------------------------------------------------------------------------------------------- py-spy


def summarise_collapsed(path: Path, top: int) -> str:
    """Self and inclusive shares of the event-loop thread's samples from py-spy's raw output."""
    self_count: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or "Runner.run" not in stack:  # the event loop thread only
            continue
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        self_count[frames[-1]] += n
        for name in set(frames):
            incl[name] += n
    lines = [f"{total} samples of the event-loop thread"]
    lines.append("-- self (the frame on top) --")
    lines += [f"{100 * n / total:6.2f}%  {name}" for name, n in self_count.most_common(top)]
    lines.append("-- inclusive (the frame anywhere on the stack) --")
    lines += [f"{100 * n / total:6.2f}%  {name}" for name, n in incl.most_common(top)]
    return "\n".join(lines)


def cmd_pyspy(args: argparse.Namespace) -> None:
    import api_bench

    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    if shutil.which("wrk") is None:
        raise SystemExit("this profile drives the server with wrk: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="trainer-ops-pyspy-") as tmp:
        home = Path(tmp)
        server = api_bench.Server(home=home, database_url=None, variant=args.variant)
        try:
            server.start()
            assert server.proc is not None
            url = server.base_url + args.path
            out = home / "pyspy.txt"
            cmd = [
                "wrk",
                "-t2",
                "-c32",
                f"-d{args.duration + 4}s",
                "-H",
                f"Authorization: Bearer {TOKEN}",
                url,
            ]
            with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as wrk:
                time.sleep(2)
                subprocess.run(
                    [
                        spy,
                        "record",
                        "--nonblocking",
                        "-r",
                        str(args.rate),
                        "-d",
                        str(args.duration),
                        "-f",
                        "raw",
                        "-o",
                        str(out),
                        "-p",
                        str(server.proc.pid),
                    ],
                    check=True,
                    capture_output=True,
                    timeout=args.duration + 60,
                )
                wrk_out, _ = wrk.communicate(timeout=args.duration + 60)
            print(wrk_out)
            if args.keep:
                shutil.copy(out, args.keep)
            print(summarise_collapsed(out, args.top))
        finally:
            server.stop()


# ------------------------------------------------------------------------------------------------ serve


def cmd_serve(args: argparse.Namespace) -> None:
    """`trainer-ops serve`, but with a variant applied (for api_bench.py --variant)."""
    import uvicorn

    if args.variant in FLOORS:  # a ceiling: what the server stack alone serves on this machine
        app = _floor_app(args.variant, ("/readyz", "/livez", *PATHS[1:]))
    else:
        prepare(args.variant)
        from trainer_ops.app import build_ops, create_app
        from trainer_ops.config import Settings

        settings = Settings()
        ops = build_ops(settings)
        ops.prepare()
        app = apply(args.variant, create_app(settings, ops=ops))
    print(f"serving variant {args.variant} on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("asgi", help="µs per request in-process, per variant and path")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--paths", nargs="+", default=list(PATHS))
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--reps", type=int, default=5)
    p.set_defaults(func=cmd_asgi)
    p = sub.add_parser("parts", help="µs per call of the pieces of the features route")
    p.add_argument("--requests", type=int, default=5000)
    p.set_defaults(func=cmd_parts)
    p = sub.add_parser("cprofile", help="cProfile of in-process requests")
    p.add_argument("--path", default="/operator/ops/features")
    p.add_argument("--variant", choices=list(VARIANTS), default="baseline")
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument("--sort", default="tottime")
    p.add_argument("--top", type=int, default=30)
    p.set_defaults(func=cmd_cprofile)
    p = sub.add_parser("pyspy", help="py-spy on the real server while wrk loads one path")
    p.add_argument("--path", default="/operator/ops/features")
    p.add_argument("--variant", choices=[*VARIANTS, *FLOORS], default=None)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--rate", type=int, default=100)
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--keep", default=None, help="copy py-spy's raw collapsed stacks here")
    p.set_defaults(func=cmd_pyspy)
    p = sub.add_parser("serve", help="serve a variant or a floor (settings from TRAINER_OPS_* as usual)")
    p.add_argument("--variant", choices=[*VARIANTS, *FLOORS], default="baseline")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.set_defaults(func=cmd_serve)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
