"""Load benchmark of the trainer-ops HTTP API. A benchmark, not a test: it prints figures and never fails
on a missed target (it exits non-zero only when the run itself broke: no server, failed requests).

What it does:

1. starts `trainer-ops serve` in a subprocess on a free 127.0.0.1 port, with a fresh temporary home
   (SQLite store) or a scratch PostgreSQL database that it creates and drops itself, and a fixed
   bootstrap admin token; waits for /readyz; always stops the server at the end;
2. loads GET /operator/ops/features and GET /operator/ops/model-config (admin bearer token) with
   32 keep-alive connections for a fixed duration, using `wrk` if it is on PATH, else `hey`, else an
   asyncio httpx load loop in worker processes; prints req/s and p50/p90/p99 latency, plus the
   server's own CPU time per request;
3. measures the toggle round trip: PATCH /operator/ops/features/quiz_auto_generate alternating
   {"enabled": true}/{"enabled": false}, sequentially on one keep-alive connection, N times; every
   request is a real change (a new version and its audit entry, in one transaction), checked by the
   ETag version stepping by one each time;
4. compares with the targets: reads >= 7,000 req/s (3x Unleash's ~2,400 req/s at wrk -c32 on this
   machine); a toggle at p50 <= 1.5 ms on SQLite and <= 2 ms on PostgreSQL, its server CPU half of
   f9b8426's (issue #14).

Only 127.0.0.1 is ever contacted, and every phase is bounded in time or count.

    .venv/bin/python bench/api_bench.py
    .venv/bin/python bench/api_bench.py --database-url postgresql://postgres@127.0.0.1:5432/trainer_ops_bench
    .venv/bin/python bench/api_bench.py --tool httpx --duration 5 --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from rich.console import Console
from rich.markup import escape
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
# Registered on the throwaway store only; it never leaves this machine's loopback.
ADMIN_TOKEN = "tops_bench_admin_7f3c9a1e5b2d4c6e8a0f"
READ_PATHS = ("/operator/ops/features", "/operator/ops/model-config")
TOGGLE_FEATURE = "quiz_auto_generate"
TOGGLE_PATH = f"/operator/ops/features/{TOGGLE_FEATURE}"

READ_TARGET_RPS = 7_000.0
UNLEASH_RPS = 2_400.0  # Unleash at wrk -t2 -c32 on this machine; the read target is 3x this
# Issue #14's write figures, by store: the toggle's p50, and its server CPU halved from f9b8426's
# (1,720 µs on SQLite, 2,030 µs on PostgreSQL, measured on a quiet machine; bench/README.md).
TOGGLE_TARGETS = {"sqlite": (1.5, 860.0), "postgresql": (2.0, 1015.0)}

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
TOOLS = ("auto", "wrk", "hey", "httpx")

# wrk reports through done() only: a per-response Lua callback would slow wrk itself down.
WRK_SCRIPT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.3f %.3f %.3f %.3f %.3f\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""

err = Console(stderr=True)


# ---------------------------------------------------------------------------------------------- results


@dataclass
class Result:
    name: str
    tool: str
    connections: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    errors: int
    server_cpu_us_per_request: float | None = None
    server_cpu_percent: float | None = None
    notes: list[str] = field(default_factory=list)


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); `sorted_values` ascending."""
    if not sorted_values:
        return float("nan")
    pos = (len(sorted_values) - 1) * q
    low = int(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


def result_from_latencies(
    name: str, tool: str, connections: int, latencies_s: list[float], seconds: float, errors: int
) -> Result:
    ms = sorted(v * 1000.0 for v in latencies_s)
    return Result(
        name=name,
        tool=tool,
        connections=connections,
        requests=len(ms),
        seconds=seconds,
        rps=len(ms) / seconds if seconds > 0 else 0.0,
        p50_ms=percentile(ms, 0.50),
        p90_ms=percentile(ms, 0.90),
        p99_ms=percentile(ms, 0.99),
        max_ms=ms[-1] if ms else float("nan"),
        mean_ms=statistics.fmean(ms) if ms else float("nan"),
        errors=errors,
    )


# ----------------------------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_command(variant: str | None, port: int) -> list[str]:
    if variant:
        # A what-if build of the same app (bench/profile_hot_path.py); see the README.
        script = Path(__file__).resolve().parent / "profile_hot_path.py"
        return [
            sys.executable,
            str(script),
            "serve",
            "--variant",
            variant,
            "--host",
            HOST,
            "--port",
            str(port),
        ]
    exe = Path(sys.executable).parent / "trainer-ops"
    if not exe.exists():
        found = shutil.which("trainer-ops")
        if found is None:
            raise SystemExit("trainer-ops is not installed; run `make install` (or pip install -e '.[dev]')")
        exe = Path(found)
    return [str(exe), "serve", "--host", HOST, "--port", str(port)]


class Server:
    """`trainer-ops serve` in a subprocess of its own session; stop() is safe to call at any time."""

    def __init__(self, *, home: Path, database_url: str | None, variant: str | None) -> None:
        self.home = home
        self.database_url = database_url
        self.variant = variant
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = home / "server.log"

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        for attempt in range(3):
            self.port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINER_OPS_")}
            env["TRAINER_OPS_HOME"] = str(self.home)
            env["TRAINER_OPS_BOOTSTRAP_ADMIN_TOKEN"] = ADMIN_TOKEN
            # Always explicit: the default SQLite path has moved before (home, then the working directory).
            env["TRAINER_OPS_DATABASE_URL"] = self.database_url or f"sqlite:///{self.home / 'trainer-ops.db'}"
            if env.get("PYTHONPATH"):  # the server runs in its home: PYTHONPATH=src must still find src
                paths = env["PYTHONPATH"].split(os.pathsep)
                env["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve()) for p in paths if p)
            with self.log_path.open("ab") as log:
                self.proc = subprocess.Popen(
                    server_command(self.variant, self.port),
                    cwd=self.home,  # what the server writes relative to its working directory stays here
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a Ctrl-C reaches the bench, which then stops the server
                )
            if self._wait_ready():
                return
            if b"address already in use" not in self.log_tail().lower() or attempt == 2:
                raise RuntimeError(
                    f"the server did not become ready:\n{self.log_tail().decode(errors='replace')}"
                )

    def _wait_ready(self) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    return False
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/readyz").status_code == 200:
                        return True
                time.sleep(0.1)
        raise RuntimeError(f"no 200 from /readyz within {READY_TIMEOUT_S:.0f} s")

    def log_tail(self, size: int = 4000) -> bytes:
        try:
            return self.log_path.read_bytes()[-size:]
        except OSError:
            return b""

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown (runs the lifespan's cleanup)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def scratch_postgres(url: str) -> Iterator[str]:
    """Create the database named in `url`, yield the URL, drop the database. Refuses an existing one:
    the bench drops only what it created."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database
    if not name or name in ("postgres", "template0", "template1"):
        raise SystemExit("--database-url must name a new, scratch database (the bench creates and drops it)")
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            raise SystemExit(
                f"database {name!r} already exists; name a new one (the bench drops what it made)"
            )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# -------------------------------------------------------------------------------------------- load tools


def pick_tool(requested: str) -> str:
    if requested != "auto":
        if requested != "httpx" and shutil.which(requested) is None:
            raise SystemExit(f"--tool {requested}: not on PATH")
        return requested
    for tool in ("wrk", "hey"):
        if shutil.which(tool):
            return tool
    return "httpx"


def tool_version(tool: str) -> str:
    if tool == "httpx":
        return f"httpx {httpx.__version__}"
    try:
        out = subprocess.run(
            [tool, "-v" if tool == "wrk" else "-h"], capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return tool
    text = (out.stdout + out.stderr).decode(errors="replace").strip().splitlines()
    return text[0].split(" Copyright")[0] if tool == "wrk" and text else tool


def run_wrk(url: str, *, connections: int, threads: int, duration: float, script: Path) -> Result:
    cmd = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        "-H",
        f"Authorization: Bearer {ADMIN_TOKEN}",
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    f = [float(x) for x in line.split()[1:]]
    requests, duration_us = int(f[0]), f[1]
    errors = int(sum(f[2:7]))
    seconds = duration_us / 1e6
    return Result(
        name=url,
        tool="wrk",
        connections=connections,
        requests=requests,
        seconds=seconds,
        rps=requests / seconds if seconds else 0.0,
        p50_ms=f[7] / 1000,
        p90_ms=f[8] / 1000,
        p99_ms=f[9] / 1000,
        max_ms=f[10] / 1000,
        mean_ms=f[11] / 1000,
        errors=errors,
    )


def run_hey(url: str, *, connections: int, duration: float) -> Result:
    cmd = [
        "hey",
        "-z",
        f"{max(1, round(duration))}s",
        "-c",
        str(connections),
        "-t",
        "10",
        "-H",
        f"Authorization: Bearer {ADMIN_TOKEN}",
        "-o",
        "csv",
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"hey failed ({out.returncode}):\n{out.stderr}")
    latencies: list[float] = []
    errors = 0
    first = float("inf")
    last = 0.0
    for row in out.stdout.splitlines()[1:]:
        cols = row.split(",")
        if len(cols) < 8:
            continue
        rt, status, offset = float(cols[0]), int(cols[6]), float(cols[7])
        first, last = min(first, offset), max(last, offset + rt)
        if 200 <= status < 400:
            latencies.append(rt)
        else:
            errors += 1
    seconds = last - first if latencies else duration
    return result_from_latencies(url, "hey", connections, latencies, seconds, errors)


def _httpx_worker(url: str, connections: int, duration: float) -> tuple[list[float], int, float]:
    """One load process: `connections` concurrent keep-alive connections for `duration` seconds."""
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run

    async def main() -> tuple[list[float], int, float]:
        # One client per connection: a shared pool serialises on its own bookkeeping under concurrency.
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        latencies: list[float] = []
        errors = 0
        clients = [
            httpx.AsyncClient(limits=limits, headers=headers, timeout=10.0) for _ in range(connections)
        ]
        start = time.perf_counter()
        deadline = start + duration

        async def loop(client: httpx.AsyncClient) -> None:
            nonlocal errors
            clock = time.perf_counter
            while clock() < deadline:
                t0 = clock()
                try:
                    response = await client.get(url)
                except httpx.HTTPError:
                    errors += 1
                    continue
                if response.status_code == 200:
                    latencies.append(clock() - t0)
                else:
                    errors += 1

        try:
            await asyncio.gather(*(loop(client) for client in clients))
            return latencies, errors, time.perf_counter() - start
        finally:
            for client in clients:
                await client.aclose()

    result: tuple[list[float], int, float] = runner(main())
    return result


def run_httpx(url: str, *, connections: int, processes: int, duration: float) -> Result:
    processes = max(1, min(processes, connections))
    shares = [connections // processes + (1 if i < connections % processes else 0) for i in range(processes)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes) as pool:
        parts = pool.starmap(_httpx_worker, [(url, share, duration) for share in shares])
    latencies = [v for part in parts for v in part[0]]
    errors = sum(part[1] for part in parts)
    seconds = max(part[2] for part in parts)
    result = result_from_latencies(url, "httpx", connections, latencies, seconds, errors)
    result.notes.append(
        f"httpx load loop in {processes} process(es): client-bound, a lower bound of the server's rate"
    )
    return result


def load(tool: str, url: str, *, connections: int, threads: int, duration: float, script: Path) -> Result:
    if tool == "wrk":
        return run_wrk(url, connections=connections, threads=threads, duration=duration, script=script)
    if tool == "hey":
        return run_hey(url, connections=connections, duration=duration)
    return run_httpx(url, connections=connections, processes=threads, duration=duration)


# ------------------------------------------------------------------------------------------- the phases


def check_reads(client: httpx.Client) -> None:
    """Each endpoint answers 200 with a JSON object before it is loaded."""
    for path in READ_PATHS:
        response = client.get(path)
        if response.status_code != 200 or not isinstance(response.json(), dict):
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:300]}")


def measure_read(server: Server, tool: str, path: str, args: argparse.Namespace, script: Path) -> Result:
    url = server.base_url + path
    if args.warmup > 0:
        load(
            tool, url, connections=args.connections, threads=args.threads, duration=args.warmup, script=script
        )
    cpu0 = server.cpu_seconds()
    result = load(
        tool, url, connections=args.connections, threads=args.threads, duration=args.duration, script=script
    )
    cpu = server.cpu_seconds() - cpu0
    result.name = f"GET {path}"
    if result.requests:
        result.server_cpu_us_per_request = cpu / result.requests * 1e6
    result.server_cpu_percent = 100.0 * cpu / result.seconds if result.seconds else None
    return result


def _version(response: httpx.Response) -> int:
    return int(response.headers["etag"].strip('"'))


def measure_toggle(server: Server, count: int, warmup: int) -> Result:
    """PATCH the feature back and forth, one request at a time on one keep-alive connection."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    latencies: list[float] = []
    errors = 0
    with httpx.Client(base_url=server.base_url, headers=headers, limits=limits, timeout=10.0) as client:
        enabled = bool(client.get("/operator/ops/features").json()[TOGGLE_FEATURE])
        version = -1

        def toggle() -> float:
            nonlocal enabled, version, errors
            enabled = not enabled
            t0 = time.perf_counter()
            response = client.patch(TOGGLE_PATH, json={"enabled": enabled})
            elapsed = time.perf_counter() - t0
            if response.status_code != 200 or response.json().get("enabled") is not enabled:
                errors += 1
                raise RuntimeError(f"PATCH {TOGGLE_PATH}: {response.status_code} {response.text[:300]}")
            new = _version(response)
            if version >= 0 and new != version + 1:
                raise RuntimeError(f"PATCH {TOGGLE_PATH}: version went {version} -> {new}, not one step")
            version = new
            return elapsed

        for _ in range(warmup):
            toggle()
        first_version = version
        cpu0 = server.cpu_seconds()
        start = time.perf_counter()
        for _ in range(count):
            latencies.append(toggle())
        seconds = time.perf_counter() - start
        cpu = server.cpu_seconds() - cpu0
        # Every change wrote its audit entry: the newest update_config entry names the last version.
        audit = client.get("/operator/ops/audit", params={"action": "update_config", "limit": 1}).json()
        newest = audit["items"][0] if audit.get("items") else {}
        audited = newest.get("details", {}).get("version")
    result = result_from_latencies(f"PATCH {TOGGLE_PATH}", "httpx.Client", 1, latencies, seconds, errors)
    result.server_cpu_us_per_request = cpu / count * 1e6 if count else None
    result.server_cpu_percent = 100.0 * cpu / seconds if seconds else None
    result.notes.append(
        f"{count} sequential changes, versions {first_version + 1}..{version}; "
        f"newest audit entry: version {audited}"
    )
    if audited != version:
        raise RuntimeError(f"the newest audit entry is for version {audited}, expected {version}")
    return result


# ---------------------------------------------------------------------------------------------- context


def machine_busy_percent(seconds: float = 1.0) -> float:
    """CPU busy over `seconds` across all cores, before any load: other work skews the figures."""
    return float(psutil.cpu_percent(interval=seconds))


def served_source() -> str:
    """Where the server's trainer_ops comes from (PYTHONPATH may point at another checkout)."""
    spec = importlib.util.find_spec("trainer_ops")
    return str(Path(spec.origin).parent) if spec and spec.origin else "unknown"


def git_revision(source: str) -> str:
    """The commit of the checkout that holds `source`, marked when its src/ has uncommitted changes."""
    where = Path(source)
    repo = where.parent.parent if where.parent.name == "src" else where
    try:
        rev = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return f"{rev}{' (src modified)' if dirty else ''}" if rev else "not a git checkout"


def verdicts(reads: list[Result], toggle: Result | None, store: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in reads:
        out[r.name] = {
            "met": r.rps >= READ_TARGET_RPS,
            "short": f"{r.rps / READ_TARGET_RPS:.0%} of {READ_TARGET_RPS / 1000:g}k req/s",
            "text": f"{r.rps:,.0f} req/s is {r.rps / READ_TARGET_RPS:.0%} of the "
            f"{READ_TARGET_RPS:,.0f} req/s target "
            f"({r.rps / UNLEASH_RPS:.2f}x Unleash's ~{UNLEASH_RPS:,.0f} req/s)",
        }
    if toggle is not None:
        p50_target, cpu_target = TOGGLE_TARGETS[store]
        cpu = toggle.server_cpu_us_per_request
        cpu_met = cpu is not None and cpu <= cpu_target
        cpu_text = f"{cpu:,.0f} µs" if cpu is not None else "not measured"
        out[toggle.name] = {
            "met": toggle.p50_ms <= p50_target and cpu_met,
            "short": f"p50 <= {p50_target:g} ms, CPU <= {cpu_target:,.0f} µs",
            "text": f"p50 {toggle.p50_ms:.2f} ms against {p50_target:g} ms, server CPU {cpu_text} "
            f"a toggle against {cpu_target:,.0f} µs (issue #14, {store})",
        }
    return out


def _short(name: str) -> str:
    return name.replace("/operator/ops", "").replace(f"/features/{TOGGLE_FEATURE}", "toggle")


def print_table(summary: dict[str, Any], reads: list[Result], toggle: Result | None) -> None:
    out = Console(width=max(Console().width, 170))
    env = summary["environment"]
    variant = f"  variant: {summary['variant']}" if summary["variant"] else ""
    out.print(
        f"[bold]trainer-ops API benchmark[/bold]  store: {summary['store']}{variant}  "
        f"tool: {escape(env['tool'])}  "
        f"source: {env['source']} ({env['git']})  cores: {env['cpus']}  "
        f"CPU busy before the run: {env['busy_before_percent']:.0f}%"
    )
    table = Table(
        caption=f"paths under /operator/ops; toggle = PATCH /features/{TOGGLE_FEATURE}; "
        "latency is per request as the client saw it"
    )
    for col in ("measurement", "tool", "conns", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"):
        table.add_column(col, justify="left" if col in ("measurement", "tool") else "right", no_wrap=True)
    for col in ("errors", "server CPU µs/req", "server CPU %", "target"):
        table.add_column(col, justify="left" if col == "target" else "right", no_wrap=True)
    results = [*reads, *([toggle] if toggle else [])]
    for r in results:
        verdict = summary["verdicts"][r.name]
        mark = "[green]MET[/green]" if verdict["met"] else "[red]MISSED[/red]"
        table.add_row(
            _short(r.name),
            r.tool,
            str(r.connections),
            f"{r.requests:,}",
            f"{r.rps:,.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p90_ms:.2f}",
            f"{r.p99_ms:.2f}",
            f"{r.max_ms:.1f}",
            str(r.errors),
            f"{r.server_cpu_us_per_request:,.0f}" if r.server_cpu_us_per_request else "-",
            f"{r.server_cpu_percent:.0f}" if r.server_cpu_percent is not None else "-",
            f"{mark} {verdict['short']}",
        )
    out.print(table)
    out.print("[bold]targets[/bold]")
    for r in results:
        verdict = summary["verdicts"][r.name]
        mark = "[green]MET[/green]   " if verdict["met"] else "[red]MISSED[/red]"
        out.print(f"  {mark} {_short(r.name)}: {verdict['text']}")
    for r in results:
        for note in r.notes:
            out.print(f"  note, {_short(r.name)}: {note}")
    if env["busy_before_percent"] > 15:
        out.print(
            f"[yellow]warning:[/yellow] the machine was {env['busy_before_percent']:.0f}% busy "
            "before the run; other work shares these cores, so the figures are low"
        )


# ------------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per read load (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument(
        "--threads", type=int, default=2, help="wrk threads / httpx load processes (default 2)"
    )
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of unmeasured load first (default 2)"
    )
    parser.add_argument("--toggle-requests", type=int, default=500, help="sequential PATCHes (default 500)")
    parser.add_argument(
        "--tool", choices=TOOLS, default="auto", help="load generator (default: wrk, hey, httpx)"
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="postgresql://user@127.0.0.1:5432/NEWDB: the bench creates NEWDB and drops it at the end "
        "(default: SQLite in a fresh temporary home)",
    )
    parser.add_argument(
        "--variant",
        default=None,
        help="serve a what-if build from bench/profile_hot_path.py (e.g. async-principal) instead of "
        "`trainer-ops serve`",
    )
    parser.add_argument("--skip-toggle", action="store_true", help="measure the reads only")
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout only")
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= 300 or not 0 <= args.warmup <= 60:
        parser.error("--duration must be 1..300 s and --warmup 0..60 s")
    if not 1 <= args.connections <= 1024 or not 1 <= args.threads <= 64:
        parser.error("--connections must be 1..1024 and --threads 1..64")
    if not 1 <= args.toggle_requests <= 100_000:
        parser.error("--toggle-requests must be 1..100000")
    if args.database_url and "127.0.0.1" not in args.database_url and "localhost" not in args.database_url:
        parser.error("--database-url must point at this machine (127.0.0.1 or localhost)")
    return args


def _raise_exit(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def run(args: argparse.Namespace) -> dict[str, Any]:
    tool = pick_tool(args.tool)
    busy = machine_busy_percent()
    reads: list[Result] = []
    toggle: Result | None = None
    with contextlib.ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="trainer-ops-bench-")))
        database_url = stack.enter_context(scratch_postgres(args.database_url)) if args.database_url else None
        script = home / "report.lua"
        script.write_text(WRK_SCRIPT)
        server = Server(home=home, database_url=database_url, variant=args.variant)
        stack.callback(server.stop)  # registered before start: a half-started server is stopped too
        err.print(f"starting the server ({'PostgreSQL' if database_url else 'SQLite'}) ...")
        server.start()
        err.print(f"ready on {server.base_url}; loading with {tool}")
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=10.0) as client:
            check_reads(client)
        for path in READ_PATHS:
            err.print(f"GET {path}: {args.duration:g} s at {args.connections} connections ...")
            reads.append(measure_read(server, tool, path, args, script))
        if not args.skip_toggle:
            err.print(f"PATCH {TOGGLE_PATH}: {args.toggle_requests} sequential changes ...")
            toggle = measure_toggle(server, args.toggle_requests, warmup=min(20, args.toggle_requests))
    store = "postgresql" if args.database_url else "sqlite"
    summary: dict[str, Any] = {
        "store": store,
        "variant": args.variant,
        "settings": {
            "duration_s": args.duration,
            "connections": args.connections,
            "threads": args.threads,
            "warmup_s": args.warmup,
            "toggle_requests": args.toggle_requests,
        },
        "environment": {
            "tool": tool_version(tool),
            "source": served_source(),
            "git": git_revision(served_source()),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "busy_before_percent": busy,
            "loadavg": os.getloadavg(),
            "pythonpath": os.environ.get("PYTHONPATH", ""),
        },
        "targets": {
            "read_rps": READ_TARGET_RPS,
            "unleash_rps": UNLEASH_RPS,
            "toggle_p50_ms": TOGGLE_TARGETS[store][0],
            "toggle_cpu_us": TOGGLE_TARGETS[store][1],
        },
        "reads": [asdict(r) for r in reads],
        "toggle": asdict(toggle) if toggle else None,
        "verdicts": verdicts(reads, toggle, store),
    }
    summary["_results"] = (reads, toggle)
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_exit)
    try:
        summary = run(args)
    except (RuntimeError, OSError, httpx.HTTPError, subprocess.TimeoutExpired) as exc:
        err.print(f"[red]benchmark failed:[/red] {exc}")
        return 1
    reads, toggle = summary.pop("_results")
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_table(summary, reads, toggle)
    failed = sum(r.errors for r in reads) + (toggle.errors if toggle else 0)
    if failed:
        err.print(f"[red]{failed} request(s) failed[/red]: the figures above are not trustworthy")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
