"""The access log: one line per request (JSON or text), written by EdgeMiddleware as the request ends.

Hot reads cost tens of microseconds of CPU, so a line must cost well under that: no logging.LogRecord,
no dictionary serialised per request, the time stamp's seconds formatted once per second, and one
`write` system call per line (a line under PIPE_BUF, 4 KiB, reaches a pipe whole even beside other
writers). Only values that a client can choose freely (the user id, from a JWT or an identity header,
and the method) are escaped per line; route templates are ours and escaped once. Never a token, a
query string or a body: the route is the template (`/operator/ops/features/{featureKey}`), not the path.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Literal

import orjson

LogFormat = Literal["json", "text"]
# The scope state key naming the caller once authenticated (guard.principal, the fast paths, the
# console's sign-in check); a request nobody authenticated is logged with user null.
CALLER = "caller"
STDOUT = 1
# Methods and routes are few; past this many distinct ones (a client inventing methods) stop caching.
_CACHE_LIMIT = 256


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
        self._quoted: dict[str, str] = {}

    def record(
        self, *, request_id: str, user: str | None, method: str, route: str, status: int, seconds: float
    ) -> None:
        """One request, as it ended. `request_id` is the edge's: checked or made, so never escaped."""
        now = self._clock()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        stamp = f"{self._stamp}.{int((now - second) * 1000):03d}Z"
        who = _quote(user) if user is not None else "null"
        if self._json:
            line = (
                f'{{"time":"{stamp}","level":"info","logger":"access","requestId":"{request_id}",'
                f'"user":{who},"method":{self._cached(method)},"route":{self._cached(route)},'
                f'"status":{status},"durationMs":{seconds * 1000:.3f}}}\n'
            )
        else:
            line = (
                f"{stamp} INFO access {self._cached(method)[1:-1]} {self._cached(route)[1:-1]} {status} "
                f"{seconds * 1000:.3f}ms requestId={request_id} user={who}\n"
            )
        self._write(line.encode())

    def _cached(self, value: str) -> str:
        quoted = self._quoted.get(value)
        if quoted is None:
            quoted = _quote(value)
            if len(self._quoted) < _CACHE_LIMIT:
                self._quoted[value] = quoted
        return quoted


def _quote(value: str) -> str:
    """`value` as a JSON string, quotes included: no client's value can end a line or a field."""
    return orjson.dumps(value).decode()
