"""The faults the property tests found, each pinned by an example (on the routed and the fast paths)."""

from __future__ import annotations

import pytest

from .asgi import Reply
from .checks import check, error_of
from .harness import Service

pytestmark = pytest.mark.xdist_group("property-regressions")  # one worker builds this module's app

CHAT = "/v1/chat/completions"
HELLO = b'{"messages": [{"role": "user", "content": "hi"}]}'
JSON = (b"content-type", b"application/json")


def _chat(service: Service, *headers: tuple[bytes, bytes]) -> tuple[tuple[str, int], Reply]:
    before = service.before()
    reply = service.call("POST", CHAT, headers=[*service.bearer("service"), JSON, *headers], body=HELLO)
    return before, reply


def test_the_fast_mode_is_answered_by_the_fast_paths(service: Service) -> None:
    read = service.call("GET", "/operator/ops/features", headers=service.bearer("admin"))
    _, call = _chat(service)
    expected = ("FastRoute", "_Route") if service.mode == "fast" else ("APIRoute", "APIRoute")
    assert (read.answered_by, call.answered_by) == expected


def test_an_unknown_feature_key_is_a_422_naming_the_header_and_is_not_audited(service: Service) -> None:
    before, reply = _chat(service, (b"x-trainer-feature", b"no_such_feature"))
    assert reply.status == 422, reply.describe()
    check(service, reply, before, path=CHAT, inputs={"X-Trainer-Feature"})
    assert service.audit_after(before[1]) == []
    # A feature that exists but is off for the caller is still a refused call: 403, audited.
    before, reply = _chat(service, (b"x-trainer-feature", b"quiz_auto_generate"))
    assert reply.status == 403, reply.describe()
    assert service.audit_after(before[1]) == [("predict", "refused:gateway.feature_off")]


def test_a_malformed_session_is_a_422_and_an_unknown_one_a_404_audited(service: Service) -> None:
    before, reply = _chat(service, (b"x-trainer-session", b"sess_nope"))
    assert reply.status == 422, reply.describe()
    assert error_of(reply, CHAT)["fields"] == ["X-Trainer-Session"]
    assert service.audit_after(before[1]) == []
    minted = service.call("POST", "/v1/sessions", headers=service.bearer("service")).json()["id"]
    closed = service.call("DELETE", f"/v1/sessions/{minted}", headers=service.bearer("service"))
    assert closed.status == 204
    before, reply = _chat(service, (b"x-trainer-session", minted.encode()))
    assert reply.status == 404, reply.describe()
    assert service.audit_after(before[1]) == [("predict", "refused:gateway.session_unknown")]


def test_a_last_event_id_with_a_non_ascii_digit_resyncs_instead_of_cutting_the_stream(
    service: Service,
) -> None:
    epoch = service.ops.sync.broadcaster.epoch.encode()
    headers = [*service.bearer("service"), (b"last-event-id", epoch + b"-\xb2")]  # '²' in latin-1
    reply = service.call("GET", "/operator/ops/stream", headers=headers, stop_after_chunks=2)
    assert reply.raised is None, reply.describe()
    assert reply.status == 200
    assert b"event: resync" in reply.chunks[1]


def test_a_refused_content_type_is_named(service: Service) -> None:
    headers = [*service.bearer("admin"), (b"content-type", b"text/plain")]
    reply = service.call("PATCH", "/operator/ops/model-config", headers=headers, body=b"{}")
    assert reply.status == 415
    assert "Content-Type" in error_of(reply, "/operator/ops/model-config")["text"]
    upload = service.call("POST", "/v1/files", headers=service.bearer("service"), body=b"x")
    assert upload.status == 415  # a wrong media type, like everywhere else
    assert "Content-Type" in error_of(upload, "/v1/files")["text"]


def test_an_integer_the_upstream_call_cannot_write_is_a_422_naming_its_field(service: Service) -> None:
    """Extra fields go upstream as they are; one orjson cannot write (past 64 bits) was a 500 there."""
    for body, field in (
        (b'{"messages": [{"role": "user", "content": "hi"}], "seed": 100000000000000000000}', "seed"),
        (b'{"messages": [{"role": "user", "content": [{"type": "text", "n": -1e30}]}]}', None),
        (b'{"messages": [{"role": "user", "content": [18446744073709551616]}]}', "messages.0.content"),
        (
            b'{"messages": [{"role": "user", "content": "hi", "name": 18446744073709551616}]}',
            "messages.0.name",
        ),
    ):
        before = service.before()
        reply = service.call("POST", CHAT, headers=[*service.bearer("service"), JSON], body=body)
        if field is None:  # a float that large is still a number JSON writes
            assert reply.status == 200, reply.describe()
            continue
        assert reply.status == 422, reply.describe()
        assert error_of(reply, CHAT)["fields"] == [field]
        assert service.audit_after(before[1]) == []


def test_a_query_string_that_is_not_utf8_is_answered_with_a_problem(service: Service) -> None:
    """A problem (or a denial) named its request's path through request.url, which decodes the query
    string as UTF-8: the problem about a bad `region` became an exception and no answer at all."""
    for path, query, status in (
        ("/operator/ops/features", b"region=\x80", 422),
        ("/operator/ops/model-config", b"x=\xff", 200),
        ("/operator/ops/nowhere", b"\xfe", 404),
    ):
        reply = service.call("GET", path, headers=service.bearer("admin"), query=query)
        assert reply.raised is None, reply.describe()
        assert reply.status == status, reply.describe()
        if status >= 400:
            assert error_of(reply, path)["status"] == status
    denied = service.call(
        "GET", "/operator/ops/model-config", headers=service.bearer("branch"), query=b"\x80"
    )
    assert denied.raised is None, denied.describe()
    assert denied.status == 403, denied.describe()
