"""AccessLog: one line per request whatever a client put in the values it controls."""

from __future__ import annotations

import orjson
import pytest

from trainer_ops.http.accesslog import AccessLog


def _log(fmt: str = "json") -> tuple[AccessLog, list[bytes]]:
    written: list[bytes] = []
    return AccessLog(fmt=fmt, write=written.append, clock=lambda: 1_796_000_000.0421), written  # type: ignore[arg-type]


def test_a_user_id_with_quotes_and_newlines_stays_one_json_line() -> None:
    log, written = _log()
    user = 'eve"},\n{"user":"admin'
    log.record(request_id="r-1", user=user, method="GET", route="/x/{id}", status=403, seconds=0.00042)

    [line] = written
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    parsed = orjson.loads(line)
    assert parsed == {
        "time": "2026-11-30T00:53:20.042Z",
        "level": "info",
        "logger": "access",
        "requestId": "r-1",
        "user": user,
        "method": "GET",
        "route": "/x/{id}",
        "status": 403,
        "durationMs": 0.42,
    }


def test_many_distinct_callers_are_each_logged_as_themselves() -> None:
    log, written = _log()
    for n in range(5000):  # more than the lines kept ready
        log.record(request_id=f"r{n}", user=f"u{n}", method="GET", route="/a", status=200, seconds=0.001)
    assert [orjson.loads(line)["user"] for line in written] == [f"u{n}" for n in range(5000)]


def test_text_lines_quote_the_user_and_nobody_is_null() -> None:
    log, written = _log("text")
    log.record(request_id="r-2", user="kim lee", method="PATCH", route="/a", status=200, seconds=0.0015)
    log.record(request_id="r-3", user=None, method="GET", route="unmatched", status=404, seconds=0.0)

    assert written == [
        b'2026-11-30T00:53:20.042Z INFO access PATCH /a 200 user="kim lee" 1.500ms requestId=r-2\n',
        b"2026-11-30T00:53:20.042Z INFO access GET unmatched 404 user=null 0.000ms requestId=r-3\n",
    ]


def test_a_stdout_that_is_gone_drops_lines_and_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    def broken(_line: bytes) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    log = AccessLog(write=broken)
    for n in range(3):
        log.record(request_id=f"r{n}", user=None, method="GET", route="/a", status=200, seconds=0.001)
    assert [r.getMessage() for r in caplog.records].count(
        "the access log cannot be written ([Errno 32] Broken pipe); lines are dropped"
    ) == 1
