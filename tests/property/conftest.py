"""Property tests: arbitrary headers, claims, bodies and parameters against the whole app.

Each module builds its app once (module-scoped fixtures: hypothesis runs many examples per test, and a
function-scoped fixture would be shared by all of them anyway) and runs on one xdist worker (its
xdist_group), so `make test` builds it once too. Examples are derandomized and nothing is written to a
.hypothesis directory, so a run is the same on every machine and leaves the tree clean.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

from .harness import Service, started

# Hypothesis keeps caches (source constants, the Unicode table) under ./.hypothesis even without an
# example database: they go to the temporary directory instead, never into the working tree.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "trainer-ops-hypothesis")
# too_slow / data_too_large: an example is a whole HTTP request with a store behind it, and the JSON
# strategies are deliberately large; neither says anything about the code under test.
settings.register_profile(
    "trainer-ops",
    database=None,
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Loaded for the whole run, so a @given without its own settings writes no database either.
settings.load_profile("trainer-ops")
PROPS = settings.get_profile("trainer-ops")


@pytest.fixture(scope="module", params=["routes", "fast"])
def service(request: pytest.FixtureRequest) -> Iterator[Service]:
    """The app, once through the routes (no token cache) and once with cached callers on the fast paths."""
    with started(request.param) as built:
        yield built


@pytest.fixture(scope="module")
def routed() -> Iterator[Service]:
    with started("routes") as built:
        yield built
