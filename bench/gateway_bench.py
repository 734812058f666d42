"""AI gateway benchmark against an instant local mock upstream: CPU time per proxied request, req/s at
10 concurrent, added p50 latency at 1 concurrent (each beside the mock called directly); propagation
delay from a PATCH to a subscribed SDK client; SDK flag evaluations per second. Not a test.

    .venv/bin/python bench/gateway_bench.py [--duration 8]

Load comes from `hey` when it is on PATH (apt-get install hey), else from an httpx loop (slower: the
Python client then costs more CPU than the server and the figures say more about the client).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
import psutil
from rich.console import Console
from rich.table import Table

from trainer_ops_sdk import OpsClient

TOKEN = "tops_gateway-bench"
BODY = '{"model":"x","messages":[{"role":"user","content":"How do I greet a customer?"}],"max_tokens":64}'
console = Console()

MOCK = textwrap.dedent("""
    import orjson
    REPLY = orjson.dumps({"id": "chatcmpl-mock", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}})
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": REPLY})
""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def hey(url: str, *, concurrency: int, seconds: float, token: str | None) -> tuple[float, float]:
    """(requests/s, p50 ms) with hey."""
    args = [
        "hey",
        "-z",
        f"{seconds}s",
        "-c",
        str(concurrency),
        "-m",
        "POST",
        "-T",
        "application/json",
        "-d",
        BODY,
    ]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = float(re.search(r"50%% in ([\d.]+) secs".replace("%%", "%"), out).group(1)) * 1000  # type: ignore[union-attr]
    status = re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)
    bad = [s for s in status if s[0] != "200"]
    if bad:
        console.print(f"[yellow]non-200 answers: {bad}")
    return rps, p50


def httpx_load(url: str, *, concurrency: int, seconds: float, token: str | None) -> tuple[float, float]:
    headers = (
        {"Authorization": f"Bearer {token}", "content-type": "application/json"}
        if token
        else {"content-type": "application/json"}
    )
    samples: list[float] = []
    with httpx.Client(headers=headers) as client:
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            started = time.perf_counter()
            client.post(url, content=BODY)
            samples.append((time.perf_counter() - started) * 1000)
    return len(samples) / seconds, statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--propagations", type=int, default=200)
    args = parser.parse_args()
    load = hey if shutil.which("hey") else httpx_load
    home = Path(tempfile.mkdtemp(prefix="trainer-ops-gw-"))
    (home / "mock.py").write_text(MOCK)
    mock_port, ops_port = free_port(), free_port()
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "mock:app",
                    "--port",
                    str(mock_port),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                cwd=home,
            )
        )
        env = {
            **os.environ,
            "TRAINER_OPS_HOME": str(home / "state"),
            "TRAINER_OPS_BOOTSTRAP_ADMIN_TOKEN": TOKEN,
            "TRAINER_OPS_DATABASE_URL": f"sqlite:///{home / 'ops.db'}",
            "TRAINER_OPS_UPSTREAM_URL": f"http://127.0.0.1:{mock_port}/v1",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "trainer_ops.cli.main", "serve", "--port", str(ops_port)],
            cwd=home,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        procs.append(server)
        mock_url = f"http://127.0.0.1:{mock_port}/v1/chat/completions"
        base = f"http://127.0.0.1:{ops_port}"
        gateway_url = f"{base}/v1/chat/completions"
        wait_ready(mock_url)
        wait_ready(f"{base}/readyz")
        admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"})
        admin.patch("/operator/ops/limits", json={"aiCallsPerMinute": 100_000})
        load(gateway_url, concurrency=4, seconds=2, token=TOKEN)  # warm up

        table = Table(title="AI gateway vs the mock upstream called directly")
        for column in ("measure", "mock direct", "through gateway", "target"):
            table.add_column(column, justify="right" if column != "measure" else "left")
        process = psutil.Process(server.pid)
        cpu_before = sum(process.cpu_times()[:2])
        rps_direct, _ = load(mock_url, concurrency=10, seconds=args.duration, token=None)
        rps_gateway, _ = load(gateway_url, concurrency=10, seconds=args.duration, token=TOKEN)
        cpu_used = sum(process.cpu_times()[:2]) - cpu_before
        requests = rps_gateway * args.duration
        table.add_row("req/s, 10 concurrent", f"{rps_direct:,.0f}", f"{rps_gateway:,.0f}", ">= 1,000")
        table.add_row("gateway CPU per request", "", f"{cpu_used / requests * 1000:.2f} ms", "<= 1 ms")
        _, p50_direct = load(mock_url, concurrency=1, seconds=args.duration / 2, token=None)
        _, p50_gateway = load(gateway_url, concurrency=1, seconds=args.duration / 2, token=TOKEN)
        table.add_row(
            "p50 latency, 1 concurrent",
            f"{p50_direct:.2f} ms",
            f"{p50_gateway:.2f} ms",
            f"added {p50_gateway - p50_direct:.2f} ms (<= 1.5)",
        )

        # Propagation: PATCH -> a subscribed SDK client sees it.
        sdk = OpsClient(base, token=TOKEN).start()
        sdk.connected.wait(10)
        delays = []
        for i in range(args.propagations):
            value = round(0.1 + (i % 10) / 10, 1)
            if sdk.model_config["temperature"] == value:
                value = 1.5
            started = time.perf_counter()
            admin.patch("/operator/ops/model-config", json={"temperature": value})
            sdk.wait_for(lambda s, v=value: s.modelConfig["temperature"] == v, 5)
            delays.append((time.perf_counter() - started) * 1000)
        delays.sort()
        table.add_row(
            "PATCH -> SDK sees it (incl. the PATCH)",
            "",
            f"p50 {delays[len(delays) // 2]:.1f} / p99 {delays[int(len(delays) * 0.99) - 1]:.1f} ms",
            "p99 <= 50 ms",
        )
        count = 1_000_000
        started = time.perf_counter()
        for _ in range(count):
            sdk.is_enabled("quiz_auto_generate", region="EU")
        table.add_row("SDK flag evaluations", "", f"{count / (time.perf_counter() - started):,.0f} /s", "")
        sdk.close()
        console.print(table)
        console.print(f"load generator: {load.__name__}")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
