"""Fixtures for the console's integration tests whose time is moved on by the test."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from trainer_ops.app import Ops, build_ops
from trainer_ops.config import Settings
from trainer_ops.infra.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """A clock that stands at the real time until the test advances it."""
    return FakeClock(start=time.time())


@pytest.fixture
def clocked_ops(settings: Settings, clock: FakeClock) -> Iterator[Ops]:
    """The app's Ops on `clock`. A module whose tests move time on makes it its `ops` (the one `client`
    serves): `def ops(clocked_ops: Ops) -> Ops: return clocked_ops`."""
    built = build_ops(settings, clock=clock)
    yield built
    built.close()
