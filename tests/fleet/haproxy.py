"""The load balancer in front of a fleet: HAProxy's configuration (the one docs/deploy.md shows) and
`haproxy -db` run in the foreground, with its admin socket for `show stat`."""

from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from .replica import HOST, FleetError, wait_until

BACKEND = "replicas"  # the backend's name, as `show stat` reports it


def haproxy_binary() -> str | None:
    """Debian installs HAProxy in /usr/sbin, which is not on every user's PATH."""
    found = shutil.which("haproxy")
    if found:
        return found
    return "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None


def haproxy_config(*, bind: str, servers: Sequence[tuple[str, str]], stats_socket: str) -> str:
    """The load balancer's configuration; docs/deploy.md shows this same text (a test keeps them equal).

    `servers` are (name, "host:port") pairs. No stickiness: any replica can serve any request."""
    server_lines = "\n".join(f"    server {name} {address}" for name, address in servers)
    return f"""\
global
    maxconn 4096
    log stderr format raw local0 info
    stats socket {stats_socket} mode 600 level admin

defaults
    mode http
    log global
    option httplog
    # Server-sent events (the change stream, streamed chat completions) are sent as they happen:
    # without this each event reached the client about 200 ms late through HAProxy (measured).
    option http-no-delay
    # Only a failed connect is retried, and always on another replica: a request the replica may
    # already have acted on (a PATCH, a hot reload) is never sent twice.
    retries 2
    option redispatch 1
    timeout connect 2s
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout queue 5s
    timeout check 2s
    # Above TRAINER_OPS_UPSTREAM_TIMEOUT_SECONDS (60 s), and far above the change stream's 15 s
    # keep-alive comment, which keeps an idle SSE stream from hitting these.
    timeout client 75s
    timeout server 75s
    timeout client-fin 5s
    # For upgraded connections (WebSocket, CONNECT) only; an SSE stream is an ordinary response.
    timeout tunnel 1h

frontend trainer_ops
    bind {bind}
    default_backend {BACKEND}

backend {BACKEND}
    balance roundrobin
    # A replica is taken out when /readyz fails (store down, or shutting down after SIGTERM) and put
    # back after two good checks.
    option httpchk
    http-check send meth GET uri /readyz
    http-check expect status 200
    default-server check inter 1s fastinter 250ms downinter 1s rise 2 fall 2
{server_lines}
"""


class LoadBalancer:
    """`haproxy -f cfg -db` on HOST:port in front of `servers` ((name, "host:port") pairs)."""

    def __init__(self, binary: str, port: int, root: Path, servers: Sequence[tuple[str, str]]) -> None:
        self.binary = binary
        self.port = port
        self.config_path = root / "haproxy.cfg"
        self.socket_path = root / "haproxy.sock"  # root must be short: a socket path fits in 108 bytes
        self.log_path = root / "haproxy.log"
        self.servers = list(servers)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        self.config_path.write_text(
            haproxy_config(
                bind=f"{HOST}:{self.port}", servers=self.servers, stats_socket=str(self.socket_path)
            )
        )
        check = subprocess.run(
            [self.binary, "-c", "-q", "-f", str(self.config_path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if check.returncode != 0:
            raise FleetError(f"haproxy refused its configuration:\n{check.stdout}{check.stderr}")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "-f", str(self.config_path), "-db"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(self.socket_path.exists, timeout=10, what="haproxy's admin socket")

    def _show_stat(self) -> list[dict[str, str]]:
        """HAProxy's `show stat`, one record per replica of the backend."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(str(self.socket_path))
            sock.sendall(b"show stat\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        lines = b"".join(chunks).decode().splitlines()
        if not lines or not lines[0].startswith("#"):
            raise FleetError(f"unexpected answer from haproxy's socket: {lines[:3]}")
        header = lines[0].lstrip("# ").split(",")
        records = [dict(zip(header, row, strict=False)) for row in csv.reader(lines[1:])]
        return [
            r
            for r in records
            if r.get("pxname") == BACKEND and r.get("svname") not in ("FRONTEND", "BACKEND")
        ]

    def server_states(self) -> dict[str, str]:
        """Each replica's state as HAProxy sees it: UP, DOWN, "UP 1/2" (going down), MAINT, ..."""
        return {r["svname"]: r["status"] for r in self._show_stat()}

    def requests_sent(self) -> dict[str, int]:
        """How many requests HAProxy has sent to each replica so far (health checks not counted)."""
        return {r["svname"]: int(r["stot"] or 0) for r in self._show_stat()}

    def wait_states(self, expected: Mapping[str, str], timeout: float = 15.0) -> None:
        """Until every named replica is in the expected state ("UP" or "DOWN")."""

        def reached() -> bool:
            states = self.server_states()
            return all(states.get(name) == state for name, state in expected.items())

        wait_until(reached, timeout=timeout, interval=0.1, what=f"haproxy to see {dict(expected)}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()  # in -db mode SIGTERM is an immediate stop
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
