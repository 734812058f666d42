"""Arbitrary bytes in Step 1's identity headers, from the trusted proxy, on the routed and fast paths."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import PROPS
from .harness import Service
from .probes import PROBES, Probe, send
from .strategies import header_values

pytestmark = pytest.mark.xdist_group("property-identity")  # one worker builds this module's app

# Step 1's identity headers count without a token, from the trusted proxy: one of them is fuzzed,
# the others name a plausible caller.
IDENTITY = [
    (b"x-user-id", b"alice"),
    (b"x-role", b"operator"),
    (b"x-scope", b"region"),
    (b"x-region", b"EU"),
    (b"x-country", b"DE"),
    (b"x-branch", b"B-1"),
]
IDENTITY_VALUES = (
    b"admin",
    b"operator",
    b"global",
    b"region",
    b"country",
    b"branch",
    b"team",
    b"EU",
    b"x" * 129,
)


@pytest.mark.parametrize("name", sorted(name.decode() for name, _ in IDENTITY))
def test_any_identity_header_from_the_trusted_proxy_is_answered_without_a_server_fault(
    service: Service, name: str
) -> None:
    @settings(PROPS, max_examples=12)
    @given(probe=st.sampled_from(PROBES), value=header_values(*IDENTITY_VALUES))
    def run(probe: Probe, value: bytes) -> None:
        send(service, probe, name, value, identity=IDENTITY)

    run()
