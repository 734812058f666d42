"""One `trainer-ops serve` process of a fleet: started, probed, stopped with SIGTERM or killed with
SIGKILL, its output kept in a log file. Plus the small waits and ports the fleet modules share."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

HOST = "127.0.0.1"
TRAINER_OPS = Path(sys.executable).parent / "trainer-ops"


class FleetError(RuntimeError):
    """A fleet (or a part of it) could not be brought up or taken down."""


def wait_until(
    condition: Callable[[], bool], *, timeout: float, interval: float = 0.05, what: str = ""
) -> None:
    """Poll `condition()` until it is true; FleetError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise FleetError(f"timed out after {timeout:g} s waiting for {what or condition}")
        time.sleep(interval)


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now (all held open together, so they are distinct)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


class Replica:
    """One `trainer-ops serve` process with its own home (secret files), working directory and log file,
    as a container of its own would have."""

    def __init__(self, name: str, port: int, root: Path, env: Mapping[str, str]) -> None:
        self.name = name
        self.port = port
        self.home = root / "home"
        self.workdir = root / "work"
        self.log_path = root / "replica.log"
        self.env = {**env, "TRAINER_OPS_HOME": str(self.home)}
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.killed_at: float | None = None  # monotonic time of the last SIGKILL that ended it

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def start(self) -> None:
        if self.running:
            raise FleetError(f"{self.name} is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        with self.log_path.open("ab") as log:
            stamp = time.strftime("%H:%M:%S")
            log.write(f"----- {self.name}: start #{self.starts} at {stamp} -----\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [str(TRAINER_OPS), "serve", "--host", HOST, "--port", str(self.port)],
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, not the replicas
            )

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if not self.running:
                raise FleetError(f"{self.name} exited with {self.returncode} before it was ready")
            if time.monotonic() > deadline:
                raise FleetError(f"{self.name} was not ready within {timeout:g} s")
            time.sleep(0.1)

    def wait_exit(self, timeout: float) -> int | None:
        """The exit code, or None if the process still runs after `timeout` seconds."""
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal_stop(self) -> None:
        """SIGTERM, as an orchestrator stops a container; returns at once."""
        if self.running:
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)

    def terminate(self, timeout: float) -> float | None:
        """SIGTERM, then the seconds it took to exit, or None if it still ran after `timeout` (it is
        then left running; `kill()` ends it)."""
        if not self.running:
            return 0.0
        started = time.monotonic()
        self.signal_stop()
        if self.wait_exit(timeout) is None:
            return None
        return time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL (kill -9): no shutdown code runs."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
            self.killed_at = time.monotonic()
        self.process.wait(timeout=10)

    def stop(self, grace: float = 5.0) -> None:
        if self.terminate(grace) is None:
            self.kill()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
