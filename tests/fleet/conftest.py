"""Fleet fixtures: one fleet (3 replicas behind HAProxy) shared by the module, fleets of a test's own on a
fresh database, and every fleet's logs in the report of a test that fails."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

from .harness import Fleet, services_missing

FLEETS = pytest.StashKey[list[Fleet]]()


@pytest.fixture(scope="session")
def fleet_services() -> None:
    """Skip (or, with TRAINER_OPS_REQUIRE_FLEET=1 as CI sets it, fail) when a part is missing."""
    if os.environ.get("TRAINER_OPS_SKIP_PG") == "1":
        pytest.skip("TRAINER_OPS_SKIP_PG=1, and the fleet tests need PostgreSQL")
    missing = services_missing()
    if not missing:
        return
    reason = "the fleet tests need " + ", ".join(missing)
    if os.environ.get("TRAINER_OPS_REQUIRE_FLEET") == "1":
        pytest.fail(f"{reason} (TRAINER_OPS_REQUIRE_FLEET=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def shared_fleet(fleet_services: None) -> Iterator[Fleet]:
    # The first replica alone, then the others: the scenarios below should not depend on a safe
    # simultaneous start, which test_simultaneous_start checks by itself.
    fleet = Fleet(size=3)
    try:
        yield fleet.start(together=False)
    finally:
        fleet.close()


@pytest.fixture
def fleet(request: pytest.FixtureRequest, shared_fleet: Fleet) -> Fleet:
    """The module's fleet, every replica running and in the load balancer (a test before this one may
    have stopped or killed one)."""
    _report_logs_of(request, shared_fleet)
    shared_fleet.ensure_running()
    return shared_fleet


@pytest.fixture
def new_fleet(request: pytest.FixtureRequest, fleet_services: None) -> Iterator[Callable[..., Fleet]]:
    """new_fleet(size=..., load_balancer=..., env=...) -> a fleet of the test's own on a new, empty
    database, not started yet; closed after the test."""
    made: list[Fleet] = []

    def make(**options: Any) -> Fleet:
        fleet = Fleet(**options)
        made.append(fleet)
        _report_logs_of(request, fleet)
        return fleet

    yield make
    for fleet in made:
        fleet.close()


def _report_logs_of(request: pytest.FixtureRequest, fleet: Fleet) -> None:
    request.node.stash.setdefault(FLEETS, []).append(fleet)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for fleet in item.stash.get(FLEETS, []):
            logs = fleet.logs()
            if logs:
                report.sections.append((f"fleet logs ({fleet.root.name})", logs))
