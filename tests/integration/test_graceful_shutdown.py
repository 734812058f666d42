"""SIGTERM drains `trainer-ops serve` (ADR 0018), tested on a real process: with 50 SDK streams and a
request in flight, /readyz answers 503 at once, new connections are then refused, every stream is told
to reconnect (`retry:`) and ends, the in-flight request finishes, the ordered shutdown runs, and the
process exits 0 within TRAINER_OPS_SHUTDOWN_SECONDS. (It used to wait for the streams forever.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from conftest import _free_port, change_model_config_elsewhere
from trainer_ops.config import Settings

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

TOKEN = "tops_shutdown-test-admin-0123456789abcdef"
STREAMS = 50
SHUTDOWN_SECONDS = 5.0
SLACK_SECONDS = 3.0  # process start-up of the exit, the interpreter's own teardown


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    settings: Settings
    stderr: Path


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    port = _free_port()
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINER_OPS_")}
    env.update(
        TRAINER_OPS_HOME=str(home),
        TRAINER_OPS_DATABASE_URL=database_url,
        TRAINER_OPS_BOOTSTRAP_ADMIN_TOKEN=TOKEN,
        TRAINER_OPS_SHUTDOWN_SECONDS=str(SHUTDOWN_SECONDS),
    )
    exe = Path(sys.executable).parent / "trainer-ops"
    stderr = tmp_path / "stderr.log"
    with (tmp_path / "stdout.log").open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, stderr.read_text()
            assert time.monotonic() < deadline, "the server did not become ready"
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        settings = Settings(
            home=home,
            database_url=database_url,
            bootstrap_admin_token=TOKEN,
            snapshot_poll_seconds=0,
            change_notifications=False,
        )
        yield Server(process, url, settings, stderr)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


@dataclass
class Stream:
    """One SDK-like stream: what it received, and how it ended."""

    started: threading.Event = field(default_factory=threading.Event)
    text: str = ""
    after_start: str = ""  # what came after the first snapshot event
    ended_at: float | None = None
    error: str | None = None

    def follow(self, url: str) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(10, read=30)) as client,
                client.stream("GET", f"{url}/operator/ops/stream", headers=headers) as response,
            ):
                for chunk in response.iter_text():
                    self.text += chunk
                    if self.started.is_set():
                        self.after_start += chunk
                    elif "event: snapshot" in self.text and self.text.endswith("\n\n"):
                        self.started.set()
        except httpx.HTTPError as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        self.ended_at = time.monotonic()


class ReadyzPoller:
    """Asks /readyz every few milliseconds on a keep-alive connection (a new one after a failure) and
    records (when, status or exception name)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[tuple[float, int | str]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            with httpx.Client(timeout=2) as client:
                while not self.stop.is_set():
                    try:
                        status: int | str = client.get(f"{self.url}/readyz").status_code
                    except httpx.HTTPError as exc:
                        self.seen.append((time.monotonic(), type(exc).__name__))
                        break
                    self.seen.append((time.monotonic(), status))
                    time.sleep(0.005)
            time.sleep(0.005)


def test_sigterm_drains_streams_and_in_flight_work_and_exits_0_in_time(server: Server) -> None:
    admin = {"Authorization": f"Bearer {TOKEN}"}
    version = int(
        httpx.get(f"{server.url}/operator/ops/model-config", headers=admin).headers["etag"].strip('"')
    )
    streams = [Stream() for _ in range(STREAMS)]
    threads = [threading.Thread(target=s.follow, args=(server.url,), daemon=True) for s in streams]
    for thread in threads:
        thread.start()
    for stream in streams:
        assert stream.started.wait(20), f"a stream never got its snapshot: {stream.error}"

    # In flight when the signal comes: a read waiting for the next version (read-your-writes).
    in_flight: list[httpx.Response | str] = []

    def wait_for_next_version() -> None:
        try:
            in_flight.append(
                httpx.get(
                    f"{server.url}/operator/ops/model-config",
                    params={"minVersion": version + 1},
                    headers=admin,
                    timeout=10,
                )
            )
        except httpx.HTTPError as exc:
            in_flight.append(f"{type(exc).__name__}: {exc}")

    waiter = threading.Thread(target=wait_for_next_version, daemon=True)
    waiter.start()
    poller = ReadyzPoller(server.url)
    polling = threading.Thread(target=poller.run, daemon=True)
    polling.start()
    deadline = time.monotonic() + 10
    while not poller.seen or poller.seen[-1][1] != 200:
        assert time.monotonic() < deadline, f"/readyz is not ready: {poller.seen[-3:]}"
        time.sleep(0.01)
    time.sleep(0.2)  # the read is waiting in the server by now

    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    change_model_config_elsewhere(server.settings, temperature=0.9)  # what the waiting read waits for
    try:
        code = server.process.wait(SHUTDOWN_SECONDS + SLACK_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {SHUTDOWN_SECONDS + SLACK_SECONDS} s after SIGTERM")
    exited = time.monotonic()
    poller.stop.set()
    polling.join(5)
    waiter.join(5)
    for thread in threads:
        thread.join(5)
    stderr = server.stderr.read_text()

    assert code == 0, stderr
    assert exited - signalled <= SHUTDOWN_SECONDS + SLACK_SECONDS
    assert "trainer-ops stopped" in stderr, stderr  # the lifespan's ordered shutdown ran to its end

    after = [(at, seen) for at, seen in poller.seen if at > signalled]
    statuses = [seen for _, seen in after]
    assert 503 in statuses, statuses
    assert 200 not in statuses[statuses.index(503) :], statuses  # never ready again once draining
    refused = [at for at, seen in after if seen == "ConnectError"]
    assert refused, statuses
    assert refused[0] < exited, statuses  # new connections were refused before the exit

    for stream in streams:
        assert stream.error is None, stream.error
        assert "retry:" in stream.after_start, stream.after_start  # told to reconnect, then ended
        assert stream.ended_at is not None
        assert stream.ended_at < exited

    assert len(in_flight) == 1
    answer = in_flight[0]
    assert isinstance(answer, httpx.Response), answer
    assert (answer.status_code, answer.headers["etag"], answer.json()["temperature"]) == (
        200,
        f'"{version + 1}"',
        0.9,
    )
