"""Arbitrary bytes in every request header the service reads, on the routed and the fast paths."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import PROPS
from .harness import Service
from .probes import PROBES, Probe, send
from .strategies import header_values

pytestmark = pytest.mark.xdist_group("property-headers")  # one worker builds this module's app

ETAGS = (b'"1"', b'"2"', b"*", b'W/"1"', b'"1", "2"', b'"99999999999999999999"', b"")
HEADERS: dict[str, tuple[bytes, ...]] = {
    "authorization": (b"Bearer ", b"bearer tops_x", b"Basic YTpi", b"Bearer a.b.c", b"Bearer \xff.\xfe.\xfd"),
    "content-type": (
        b"application/json",
        b"application/merge-patch+json",
        b"application/x+json; charset=utf-8",
        b"multipart/form-data; boundary=x",
        b"multipart/form-data",
        b"text/plain",
    ),
    "content-length": (b"0", b"5", b"99999999999999999999", b"-1", b"1e3"),
    "x-request-id": (b"abc", b"a" * 64, b"a" * 65, b"a b"),
    "if-match": ETAGS,
    "if-none-match": ETAGS,
    "x-envelope": (b"step1", b"bare", b" STEP1 "),
    "x-trainer-feature": (b"mission_auto_assign", b"quiz_auto_generate", b"no_such_feature", b""),
    "x-trainer-session": (b"sess_", b"sess_abc.0123456789abcdef", b"sess_" + b"a" * 200),
    "last-event-id": (b"1", b"0", b"-1", b"99999999999999999999999", b"abc", b"1.5"),
}
# Headers only some requests read get those requests only (the examples are not spent elsewhere).
READERS: dict[str, Callable[[Probe], bool]] = {
    "last-event-id": lambda probe: probe.path == "/operator/ops/stream",
    "x-trainer-feature": lambda probe: probe.path == "/v1/chat/completions",
    "x-trainer-session": lambda probe: probe.path == "/v1/chat/completions",
    "if-match": lambda probe: probe.method == "PATCH",
    "if-none-match": lambda probe: probe.method == "GET",
}


def plausible(service: Service, name: str) -> tuple[bytes, ...]:
    """Values that only this service would take: its stream's event ids, a session it minted."""
    if name == "last-event-id":
        epoch = service.ops.sync.broadcaster.epoch.encode()
        return (epoch + b"-0", epoch + b"-1", epoch + b"-\xb2", epoch + b"-99999999999999999999999", epoch)
    if name == "x-trainer-session":
        minted = service.call("POST", "/v1/sessions", headers=service.bearer("service")).json()["id"]
        return (minted.encode(), minted.encode()[:-1] + b"0", minted.encode() + b"x")
    return ()


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_any_value_of_a_header_is_answered_without_a_server_fault(service: Service, name: str) -> None:
    reads = READERS.get(name)
    probes = [probe for probe in PROBES if reads is None or reads(probe)]

    @settings(PROPS, max_examples=20)
    @given(probe=st.sampled_from(probes), value=header_values(*HEADERS[name], *plausible(service, name)))
    def run(probe: Probe, value: bytes) -> None:
        send(service, probe, name, value)

    run()
