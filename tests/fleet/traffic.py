"""What clients of a fleet do in the fleet tests: engines embedding the SDK, raw change streams, a probe
that keeps reading through the load balancer, a writer that keeps changing the model config."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from trainer_ops_sdk import OpsClient

from .harness import Fleet
from .replica import HOST, Replica

OPS = "/operator/ops"
Handler = Callable[[dict[str, Any]], None]


def etag_version(response: httpx.Response) -> int:
    return int(response.headers["etag"].removeprefix("W/").strip('"'))


@contextlib.contextmanager
def sdk_clients(fleet: Fleet) -> Iterator[Callable[..., OpsClient]]:
    """connect(base_url, token, instance=None, engine=None, handler=None) -> a started SDK client whose
    stream is connected; with `instance`, `engine` and `handler` it is an engine instance.

    All are closed at the end, together: `OpsClient.close()` waits up to 5 s for its stream thread,
    which only notices the stop at the stream's next event, so one change gives every stream one."""
    clients: list[OpsClient] = []

    def connect(
        base_url: str,
        token: str,
        *,
        instance: str | None = None,
        engine: str | None = None,
        handler: Handler | None = None,
    ) -> OpsClient:
        client = OpsClient(base_url, token=token, instance_id=instance, timeout=5, max_backoff=0.5)
        if engine and handler:
            client.on_reload(engine, handler)
        clients.append(client)
        client.start()
        assert client.connected.wait(10), "the SDK never connected its stream"
        return client

    try:
        yield connect
    finally:
        closers = [threading.Thread(target=client.close, daemon=True) for client in clients]
        for closer in closers:
            closer.start()
        for _ in range(3):
            if not any(closer.is_alive() for closer in closers):
                break
            time.sleep(0.05)
            poke_every_stream(fleet)
            for closer in closers:
                closer.join(timeout=2)


def poke_every_stream(fleet: Fleet) -> None:
    """A change every replica announces on every stream: aiCallsPerMinute toggled between 60 and 61."""
    with fleet.admin_client() as client:
        current = client.get(f"{OPS}/limits").json()["aiCallsPerMinute"]
        client.patch(f"{OPS}/limits", json={"aiCallsPerMinute": 61 if current == 60 else 60})


@contextlib.contextmanager
def open_event_stream(replica: Replica, token: str) -> Iterator[socket.socket]:
    """A raw SSE connection to one replica, open once its first (snapshot) event has arrived. Raw
    sockets, so a hundred of them cost no threads."""
    sock = socket.create_connection((HOST, replica.port), timeout=10)
    try:
        request = (
            f"GET {OPS}/stream HTTP/1.1\r\nHost: {replica.address}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
        )
        sock.sendall(request.encode())
        received = b""
        while b"event: snapshot" not in received:
            chunk = sock.recv(65536)
            assert chunk, f"the stream closed at once: {received[:300]!r}"
            received += chunk
        yield sock
    finally:
        sock.close()


class LoadBalancerProbe:
    """Reads the model config through the load balancer every 20 ms (for at most 60 s), counting
    answers and failures."""

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lb-probe", daemon=True)
        self.answers = 0
        self.failures: list[str] = []

    def __enter__(self) -> LoadBalancerProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        deadline = time.monotonic() + 60
        with self._fleet.admin_client(timeout=5) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    response = client.get(f"{OPS}/model-config")
                    if response.status_code == 200:
                        self.answers += 1
                    else:
                        self.failures.append(f"{response.status_code} {response.text[:200]}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                self._stop.wait(0.02)


class Writer:
    """Changes maxTokens through the load balancer as fast as it can (at most 5000 times), each write
    with its own request id and value. `acked` maps the request id of every 2xx answer to (version,
    value); `refused` lists the others."""

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)
        self.acked: dict[str, tuple[int, int]] = {}
        self.refused: list[str] = []

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        run = uuid.uuid4().hex[:6]
        with self._fleet.admin_client(timeout=5) as client:
            for i in range(5000):
                if self._stop.is_set():
                    return
                request_id, value = f"fleet-kill-{run}-{i}", 10_000 + i
                try:
                    response = client.patch(
                        f"{OPS}/model-config", json={"maxTokens": value}, headers={"X-Request-Id": request_id}
                    )
                except httpx.HTTPError as exc:
                    self.refused.append(f"{request_id}: {exc!r}")
                    continue
                if response.is_success:
                    self.acked[request_id] = (etag_version(response), value)
                else:
                    self.refused.append(f"{request_id}: {response.status_code}")


def whole_history(fleet: Fleet) -> list[dict[str, Any]]:
    """Every model-config version, newest first (through the load balancer, page by page)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    with fleet.admin_client() as client:
        for _ in range(100):
            params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = client.get(f"{OPS}/model-config/history", params=params).json()
            items += page["items"]
            cursor = page["nextCursor"]
            if not cursor:
                return items
    raise AssertionError("more than 100 pages of history")
