"""OpsClient: fetch the snapshot, follow the change stream, keep a last-known-good file, run handlers."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from trainer_ops_sdk.models import Ruleset, Snapshot

log = logging.getLogger("trainer_ops_sdk")
ReloadHandler = Callable[[dict[str, Any]], None]
DOCUMENT_FIELDS = {
    "model_config": "modelConfig",
    "features": "features",
    "limits": "limits",
    "places": "places",
}


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
        place: str | None = None,
        timeout: float = 10.0,
        max_backoff: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`transport` (as in httpx) carries the snapshot requests and reload replies, for a proxy or a
        test; the stream always uses httpx's default transport. `place` (a region, country or branch
        code of the places catalogue) is where this instance runs: it gets that place's rulesets and
        only reloads that reach that place (an unknown place is refused with 422 at start)."""
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._cache = Path(cache_path) if cache_path else None
        self.instance_id = instance_id
        self.place = place.strip().upper() if place else None
        self._timeout = timeout
        self._max_backoff = max_backoff
        self._snapshot = Snapshot()
        self._handlers: dict[str, ReloadHandler] = {}
        self._listeners: list[Callable[[Snapshot], None]] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # The stream's own client while one is open, so that close() can end it from another thread.
        self._stream: httpx.Response | None = None
        self._http = httpx.Client(
            base_url=self._base, headers=self._headers, timeout=timeout, transport=transport
        )
        self.connected = threading.Event()
        self.source = "none"  # "server" or "cache": where the current snapshot came from
        # The last thing that went wrong in a reload, restore or reply (also logged at error level).
        self.last_error: str | None = None
        # engine -> digest this instance refused: never reported as active (see _handle).
        self._refused: dict[str, str] = {}

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

    @property
    def places(self) -> dict[str, Any]:
        """The places catalogue (regions, countries, branches); `{"regions": []}` while it is empty."""
        return self._snapshot.places

    def ruleset(self, engine: str) -> Ruleset | None:
        return self._snapshot.rulesets.get(engine)

    def is_enabled(
        self, feature: str, region: str | None = None, default: bool = False, *, place: str | None = None
    ) -> bool:
        """Evaluated in-process from the live snapshot: no network call. The value at `place` (or
        `region`), else at this client's own `place`: that place's override, else its country's, else
        its region's, else the global default."""
        return self._snapshot.is_enabled(feature, region, default, place=place or self.place)

    def version(self, kind: str) -> int:
        return self._snapshot.versions.get(kind, 0)

    def refresh(self, min_versions: dict[str, int]) -> Snapshot:
        """Read your own writes: a snapshot holding at least these versions, e.g. `{"model_config": 7}`
        after a PATCH answered `ETag: "7"`. The stream brings every change within milliseconds, but not
        at once: when the local snapshot is older, this asks the server for
        `/operator/ops/snapshot?minVersion=model_config:7`, which any replica answers at that version
        or newer, and takes the documents that are newer than the local ones. Kinds: `model_config`,
        `features`, `limits`. Raises httpx.HTTPStatusError (504 when even the store does not have the
        version after the server's wait of 3 s) or another httpx.HTTPError."""
        if all(self._snapshot.versions.get(kind, 0) >= version for kind, version in min_versions.items()):
            return self._snapshot
        wanted = ",".join(f"{kind}:{version}" for kind, version in min_versions.items())
        params = {"minVersion": wanted, **self._place_params()}
        response = self._http.get("/operator/ops/snapshot", params=params)
        response.raise_for_status()
        fetched = Snapshot.model_validate(response.json())
        with self._changed:
            held = self._snapshot
            newer = [k for k in DOCUMENT_FIELDS if fetched.versions.get(k, 0) > held.versions.get(k, 0)]
            if newer:  # copy, change, swap, as for stream events; never an older document
                updated = held.model_copy(deep=True)
                for kind in newer:
                    setattr(updated, DOCUMENT_FIELDS[kind], getattr(fetched, DOCUMENT_FIELDS[kind]))
                    updated.versions[kind] = fetched.versions[kind]
                self._snapshot = updated
                self._changed.notify_all()
        if newer:
            self._after_change()
        return self._snapshot

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
            response = self._http.get("/operator/ops/snapshot", params=self._place_params())
            if response.status_code == 422:  # a place the server does not know: a mistake, not an outage
                self._http.close()
                raise ValueError(f"the ops server refused place {self.place!r}: {response.text[:500]}")
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
        """Stop following: the open stream is closed at once (the server then forgets this instance),
        not at its next event."""
        self._stop.set()
        stream = self._stream
        if stream is not None:
            # Closing the client would not wake the thread blocked reading it; shutting the socket does.
            with contextlib.suppress(Exception):
                sock = stream.extensions["network_stream"].get_extra_info("socket")
                sock.shutdown(socket.SHUT_RDWR)
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

    def _place_params(self) -> dict[str, str]:
        return {"place": self.place} if self.place else {}

    def _consume(self) -> None:
        params = self._place_params()
        if self.instance_id and self._handlers:
            params = {**params, "instance": self.instance_id, "engines": ",".join(self._handlers)}
        headers = {"Last-Event-ID": self._snapshot.id} if self._snapshot.id else {}
        timeout = httpx.Timeout(self._timeout, read=60.0)
        with (
            httpx.Client(base_url=self._base, headers=self._headers, timeout=timeout) as client,
            client.stream("GET", "/operator/ops/stream", params=params, headers=headers) as response,
        ):
            response.raise_for_status()
            self._stream = response
            try:
                if self._stop.is_set():
                    return  # close() ran while this stream was opening
                self.connected.set()
                for event_id, kind, data in _events(response.iter_lines()):
                    if self._stop.is_set():
                        return
                    self._handle(event_id, kind, data)
            finally:
                self._stream = None

    def _handle(self, event_id: str, kind: str, data: dict[str, Any]) -> None:
        if kind in ("snapshot", "resync"):
            self._install(Snapshot.model_validate(data), source="server")
        elif kind in ("document", "places"):  # the catalogue has an event of its own (ADR 0023)
            if data.get("kind") not in DOCUMENT_FIELDS:
                return  # a kind a newer server has and this client does not know: skip it
            if data["version"] > self._snapshot.versions.get(data["kind"], 0):  # replays may repeat
                self._update(event_id, lambda s: _set_document(s, data))
        elif kind == "policy":
            if data["version"] > self._snapshot.versions.get("policy", 0):
                self._update(event_id, lambda s: _set_policy(s, data))
        elif kind in ("ruleset", "scoped_ruleset"):  # scoped: an activation for one place (ADR 0025)
            ruleset = Ruleset.model_validate(data)
            if ruleset.scope:  # every client keeps every scoped activation, to resolve its own
                self._update(event_id, lambda s: _set_scoped(s, ruleset))
            if self._snapshot.source(ruleset.engine, self.place) != ruleset.scope:
                return  # an activation of another place, or one a more specific place overrides
            if self._refused.get(ruleset.engine) == ruleset.digest:
                # Never report as active what this instance's engine refused to run.
                log.error(
                    "the server reports %s %s active, but this instance refused it; keeping %s",
                    ruleset.engine,
                    ruleset.targetId,
                    self._held_target(ruleset.engine),
                )
                return
            held = self._snapshot.rulesets.get(ruleset.engine)
            if held is None or (held.version, held.targetId) != (ruleset.version, ruleset.targetId):
                self._update(event_id, lambda s: s.rulesets.__setitem__(ruleset.engine, ruleset))
        elif kind == "reload":
            self._reload(data)
        elif kind == "restore" and data.get("engine"):
            self._restore(event_id, data)

    def _held_target(self, engine: str) -> str | None:
        held = self._snapshot.rulesets.get(engine)
        return held.targetId if held else None

    def _restore(self, event_id: str, data: dict[str, Any]) -> None:
        """A reload was rolled back (or the server put this engine on its active ruleset)."""
        handler = self._handlers.get(data["engine"])
        if handler is None:
            return
        try:
            handler(data["ruleset"])
        except Exception as exc:
            self.last_error = f"restore of {data['engine']} {data.get('targetId')} failed: {exc}"
            log.exception("%s", self.last_error)  # the engine is in an unknown state: say so loudly
            return
        ruleset = Ruleset.model_validate(data)
        self._refused.pop(ruleset.engine, None)
        self._update(event_id, lambda s: s.rulesets.__setitem__(ruleset.engine, ruleset))

    def _reload(self, data: dict[str, Any]) -> None:
        engine = data["engine"]
        handler = self._handlers.get(engine)
        ok, error = True, ""
        if handler is None:
            ok, error = False, f"no handler for {engine} in {self.instance_id}"
        else:
            try:
                handler(data["ruleset"])
            except Exception as exc:  # the engine refused the ruleset: NACK with its reason
                ok, error = False, f"{type(exc).__name__}: {exc}"
        if ok:
            self._refused.pop(engine, None)
        else:
            self._refused[engine] = data["digest"]
            self.last_error = f"refused {engine} {data.get('targetId')}: {error}"
            log.error("%s", self.last_error)
        self._answer(data, ok, error)

    def _answer(self, data: dict[str, Any], ok: bool, error: str) -> None:
        """POST the ACK or NACK, to whichever replica the load balancer picks, until one takes it or
        the reload's deadline passes. A refusal (401, 403, 422) is final and logged."""
        deadline = time.monotonic() + data.get("deadlineMs", 5000) / 1000
        url = f"/operator/ops/engines/{data['engine']}/instances/{self.instance_id}/replies"
        body = {"epoch": data["epoch"], "ok": ok, "error": error[:2000]}
        delay = 0.05
        while True:
            problem = ""
            try:
                response = self._http.post(url, json=body)
                if response.status_code < 300:
                    return
                problem = f"{response.status_code} {response.text[:200]}"
                if response.status_code in (400, 401, 403, 422):
                    break
            except httpx.HTTPError as exc:
                problem = str(exc)
            if time.monotonic() + delay > deadline or self._stop.is_set():
                break
            log.warning("reply to reload %s not taken (%s); retrying", data["epoch"], problem)
            self._stop.wait(delay)
            delay = min(delay * 2, 0.5)
        self.last_error = f"reply to reload {data['epoch']} of {data['engine']} was not taken: {problem}"
        log.error("%s", self.last_error)

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


def _set_scoped(snapshot: Snapshot, ruleset: Ruleset) -> None:
    assert ruleset.scope is not None
    snapshot.scopedRulesets.setdefault(ruleset.engine, {})[ruleset.scope] = ruleset


def _set_policy(snapshot: Snapshot, data: dict[str, Any]) -> None:
    snapshot.policy = data["document"]
    snapshot.versions["policy"] = data["version"]


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
