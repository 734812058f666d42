"""OpsClient: fetch the snapshot, follow the change stream, keep a last-known-good file, run handlers."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from trainer_ops_sdk.models import Ruleset, Snapshot

log = logging.getLogger("trainer_ops_sdk")
ReloadHandler = Callable[[dict[str, Any]], None]
DOCUMENT_FIELDS = {"model_config": "modelConfig", "features": "features", "limits": "limits"}


class OpsUnavailable(RuntimeError):
    """The ops server cannot be reached and there is no last-known-good file to start from."""


class OpsClient:
    def __init__(
        self,
        base_url: str,
        *,
        token: str,
        cache_path: str | Path | None = None,
        instance_id: str | None = None,
        timeout: float = 10.0,
        max_backoff: float = 5.0,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._cache = Path(cache_path) if cache_path else None
        self.instance_id = instance_id
        self._timeout = timeout
        self._max_backoff = max_backoff
        self._snapshot = Snapshot()
        self._handlers: dict[str, ReloadHandler] = {}
        self._listeners: list[Callable[[Snapshot], None]] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = httpx.Client(base_url=self._base, headers=self._headers, timeout=timeout)
        self.connected = threading.Event()
        self.source = "none"  # "server" or "cache": where the current snapshot came from

    # reading ----------------------------------------------------------------------------------------
    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def model_config(self) -> dict[str, Any]:
        return self._snapshot.modelConfig

    @property
    def limits(self) -> dict[str, Any]:
        return self._snapshot.limits

    def ruleset(self, engine: str) -> Ruleset | None:
        return self._snapshot.rulesets.get(engine)

    def is_enabled(self, feature: str, region: str | None = None, default: bool = False) -> bool:
        """Evaluated in-process from the live snapshot: no network call."""
        return self._snapshot.is_enabled(feature, region, default)

    def version(self, kind: str) -> int:
        return self._snapshot.versions.get(kind, 0)

    # wiring -----------------------------------------------------------------------------------------
    def on_reload(self, engine: str, handler: ReloadHandler) -> None:
        """`handler(ruleset)` builds the engine's new state; raising NACKs the reload (then the server
        rolls every instance back and calls the handler again with the previous ruleset)."""
        self._handlers["missions" if engine == "mission" else engine] = handler

    def on_change(self, listener: Callable[[Snapshot], None]) -> None:
        self._listeners.append(listener)

    def wait_for(self, predicate: Callable[[Snapshot], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self._snapshot):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    # lifecycle --------------------------------------------------------------------------------------
    def start(self) -> OpsClient:
        """Load the snapshot from the server, or from the last-known-good file when the server is
        down, then follow the stream in a background thread (reconnecting as needed)."""
        try:
            response = self._http.get("/operator/ops/snapshot")
            response.raise_for_status()
            self._install(Snapshot.model_validate(response.json()), source="server")
        except httpx.HTTPError as exc:
            if not self._load_cache():
                raise OpsUnavailable(f"ops server unreachable ({exc}) and no last-known-good file") from exc
            log.warning("ops server unreachable (%s); running on the last-known-good snapshot", exc)
        self._thread = threading.Thread(target=self._follow, name="trainer-ops-sdk", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._http.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OpsClient:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # the stream -------------------------------------------------------------------------------------
    def _follow(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                self._consume()
                backoff = 0.1
            except (httpx.HTTPError, OSError, ValueError) as exc:
                if self._stop.is_set():
                    return
                log.info("ops stream interrupted (%s); reconnecting", exc)
            self.connected.clear()
            self._stop.wait(backoff)
            backoff = min(self._max_backoff, backoff * 2)

    def _consume(self) -> None:
        params = {}
        if self.instance_id and self._handlers:
            params = {"instance": self.instance_id, "engines": ",".join(self._handlers)}
        headers = {"Last-Event-ID": self._snapshot.id} if self._snapshot.id else {}
        timeout = httpx.Timeout(self._timeout, read=60.0)
        with (
            httpx.Client(base_url=self._base, headers=self._headers, timeout=timeout) as client,
            client.stream("GET", "/operator/ops/stream", params=params, headers=headers) as response,
        ):
            response.raise_for_status()
            self.connected.set()
            for event_id, kind, data in _events(response.iter_lines()):
                if self._stop.is_set():
                    return
                self._handle(event_id, kind, data)

    def _handle(self, event_id: str, kind: str, data: dict[str, Any]) -> None:
        if kind in ("snapshot", "resync"):
            self._install(Snapshot.model_validate(data), source="server")
        elif kind == "document":
            if data["version"] > self._snapshot.versions.get(data["kind"], 0):  # replays may repeat
                self._update(event_id, lambda s: _set_document(s, data))
        elif kind == "ruleset":
            ruleset = Ruleset.model_validate(data)
            held = self._snapshot.rulesets.get(ruleset.engine)
            if held is None or (held.version, held.targetId) != (ruleset.version, ruleset.targetId):
                self._update(event_id, lambda s: s.rulesets.__setitem__(ruleset.engine, ruleset))
        elif kind == "reload":
            self._reload(data)
        elif kind == "restore" and data.get("engine"):
            handler = self._handlers.get(data["engine"])
            if handler is not None:
                with contextlib.suppress(Exception):
                    handler(data["ruleset"])

    def _reload(self, data: dict[str, Any]) -> None:
        handler = self._handlers.get(data["engine"])
        ok, error = True, ""
        if handler is None:
            ok, error = False, f"no handler for {data['engine']} in {self.instance_id}"
        else:
            try:
                handler(data["ruleset"])
            except Exception as exc:  # the engine refused the ruleset: NACK with its reason
                ok, error = False, f"{type(exc).__name__}: {exc}"
        self._http.post(
            f"/operator/ops/engines/{data['engine']}/instances/{self.instance_id}/replies",
            json={"epoch": data["epoch"], "ok": ok, "error": error[:2000]},
        )

    # state ------------------------------------------------------------------------------------------
    def _install(self, snapshot: Snapshot, *, source: str) -> None:
        with self._changed:
            self._snapshot = snapshot
            self.source = source
            self._changed.notify_all()
        self._after_change()

    def _update(self, event_id: str, change: Callable[[Snapshot], object]) -> None:
        with self._changed:
            # Copy, change, swap: readers always see a whole snapshot.
            updated = self._snapshot.model_copy(deep=True)
            change(updated)
            updated.id = event_id
            self._snapshot = updated
            self._changed.notify_all()
        self._after_change()

    def _after_change(self) -> None:
        self._save_cache()
        for listener in self._listeners:
            with contextlib.suppress(Exception):
                listener(self._snapshot)

    def _save_cache(self) -> None:
        if self._cache is None:
            return
        tmp = self._cache.with_suffix(self._cache.suffix + ".tmp")
        tmp.write_text(self._snapshot.model_dump_json())
        os.replace(tmp, self._cache)  # atomic: a crash never leaves half a file

    def _load_cache(self) -> bool:
        if self._cache is None or not self._cache.exists():
            return False
        snapshot = Snapshot.model_validate_json(self._cache.read_text())
        # Resuming from a cached position is meaningless to a restarted server: ask for a resync.
        snapshot.id = ""
        self._install(snapshot, source="cache")
        return True


def _set_document(snapshot: Snapshot, data: dict[str, Any]) -> None:
    setattr(snapshot, DOCUMENT_FIELDS[data["kind"]], data["document"])
    snapshot.versions[data["kind"]] = data["version"]


def _events(lines: Iterator[str]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Parse server-sent events into (id, event, data)."""
    event_id, kind = "", "message"
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield event_id, kind, json.loads("\n".join(data))
            event_id, kind = "", "message"
            data = []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "id":
                event_id = value
            elif name == "event":
                kind = value
            elif name == "data":
                data.append(value)
