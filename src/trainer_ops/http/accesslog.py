"""The access log: one line per request (JSON or text), written by EdgeMiddleware as the request ends.

Hot reads cost tens of microseconds of CPU, so a line must cost well under that: no logging.LogRecord,
no dictionary serialised per request, the time stamp's seconds formatted once per second, the part
of a line that repeats (user, method, route, status) made once, and one `write` system call per line
(a line under PIPE_BUF, 4 KiB, reaches a pipe whole even beside other writers). Values a client can
choose (the user id, from a JWT or an identity header, and the method) are escaped as JSON strings.
Never a token, a query string or a body: the route is the template (`/operator/ops/features/{featureKey}`),
not the path.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Literal

import orjson

log = logging.getLogger("trainer_ops.access")
LogFormat = Literal["json", "text"]
# The scope state key naming the caller once authenticated (guard.principal, the fast paths, the
# console's sign-in check); a request nobody authenticated is logged with user null.
CALLER = "caller"
STDOUT = 1
# Distinct (user, method, route, status) lines kept ready.
_CACHE_LIMIT = 4096


def write_stdout(line: bytes) -> None:
    os.write(STDOUT, line)


class AccessLog:
    def __init__(
        self,
        *,
        fmt: LogFormat = "json",
        write: Callable[[bytes], object] = write_stdout,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._json = fmt == "json"
        self._write = write
        self._clock = clock
        self._second = -1
        self._stamp = ""
        # The part of a line that repeats, (user, method, route, status) -> its text: a handful of
        # callers polling a handful of routes make almost every line one dictionary lookup.
        self._tails: dict[tuple[str | None, str, str, int], str] = {}
        self._failed = False

    def record(
        self, *, request_id: str, user: str | None, method: str, route: str, status: int, seconds: float
    ) -> None:
        """One request, as it ended. `request_id` is the edge's: checked or made, so never escaped."""
        now = self._clock()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        key = (user, method, route, status)
        tail = self._tails.get(key)
        if tail is None:
            tail = self._tail(*key)
        millis = int((now - second) * 1000)
        if self._json:
            line = (
                f'{{"time":"{self._stamp}.{millis:03d}Z","requestId":"{request_id}",'
                f'"durationMs":{seconds * 1000:.3f},{tail}'
            )
        else:
            line = f"{self._stamp}.{millis:03d}Z {tail}{seconds * 1000:.3f}ms requestId={request_id}\n"
        try:
            self._write(line.encode())
        except OSError as exc:  # stdout closed, or a pipe whose reader left: the request is not failed
            if not self._failed:
                self._failed = True
                log.warning("the access log cannot be written (%s); lines are dropped", exc)

    def _tail(self, user: str | None, method: str, route: str, status: int) -> str:
        who = _quote(user) if user is not None else "null"
        if self._json:
            tail = (
                f'"user":{who},"method":{_quote(method)},"route":{_quote(route)},"status":{status},'
                '"level":"info","logger":"access"}\n'
            )
        else:
            tail = f"INFO access {_quote(method)[1:-1]} {_quote(route)[1:-1]} {status} user={who} "
        if len(self._tails) >= _CACHE_LIMIT:
            self._tails.clear()  # many distinct callers: start over rather than grow
        self._tails[(user, method, route, status)] = tail
        return tail


def _quote(value: str) -> str:
    """`value` as a JSON string, quotes included: no client's value can end a line or a field."""
    return orjson.dumps(value).decode()
