"""The SDK resolves feature flags for its place (ADR 0027), in-process, against a live server on both
stores: its branch's override, else its country's, else its region's, else the global default; the
OpenFeature provider does the same for the context's `place` or the client's own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import Reason

from conftest import LiveServer
from trainer_ops_sdk import OpsClient
from trainer_ops_sdk.models import Snapshot
from trainer_ops_sdk.openfeature import TrainerOpsProvider

CATALOGUE: dict[str, Any] = {
    "regions": [
        {
            "code": "APAC",
            "name": "Asia Pacific",
            "countries": [
                {
                    "code": "KR",
                    "name": "Korea",
                    "branches": [{"code": "KR-0012", "name": "Gangnam"}, {"code": "KR-0013", "name": "Mapo"}],
                }
            ],
        },
        {"code": "EU", "name": "Europe", "countries": []},
    ]
}
QUIZ = "/operator/ops/features/quiz_auto_generate"  # off by default


@pytest.fixture
def server(live_server: LiveServer) -> LiveServer:
    return live_server.start()


@pytest.fixture
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {server.settings.bootstrap_admin_token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
        assert client.put("/operator/ops/places", json=CATALOGUE).status_code == 200
        yield client


def override(admin: httpx.Client, place: str, enabled: bool | None) -> None:
    response = admin.patch(QUIZ, params={"place": place}, json={"enabled": enabled})
    assert response.status_code == 200, response.text


def test_a_client_resolves_flags_for_its_place_and_follows_override_changes(
    server: LiveServer, admin: httpx.Client, token_for: Any
) -> None:
    override(admin, "APAC", True)
    token = token_for("service", user="engine")
    with (
        OpsClient(server.url, token=token, place="kr-0012", max_backoff=0.2) as gangnam,
        OpsClient(server.url, token=token, place="KR-0013", max_backoff=0.2) as mapo,
        OpsClient(server.url, token=token, max_backoff=0.2) as nowhere,
    ):
        assert gangnam.is_enabled("quiz_auto_generate") is True  # its region's
        assert nowhere.is_enabled("quiz_auto_generate") is False  # the default
        assert nowhere.is_enabled("quiz_auto_generate", place="KR-0012") is True

        override(admin, "KR-0012", False)
        assert gangnam.wait_for(lambda s: "KR-0012" in s.features["overrides"], 5)
        assert gangnam.is_enabled("quiz_auto_generate") is False  # its own wins
        assert mapo.wait_for(lambda s: "KR-0012" in s.features["overrides"], 5)
        assert mapo.is_enabled("quiz_auto_generate") is True  # a sibling's override is not its own

        override(admin, "KR-0012", None)
        assert gangnam.wait_for(lambda s: "KR-0012" not in s.features["overrides"], 5)
        assert gangnam.is_enabled("quiz_auto_generate") is True  # follows its region again


def test_the_openfeature_provider_evaluates_at_the_contexts_place_or_the_clients(
    server: LiveServer, admin: httpx.Client, token_for: Any
) -> None:
    override(admin, "KR", True)
    with OpsClient(server.url, token=token_for("service", user="of"), place="KR-0012") as client:
        api.set_provider(TrainerOpsProvider(client))
        try:
            flags = api.get_client()
            own = flags.get_boolean_details("quiz_auto_generate", False)
            elsewhere = flags.get_boolean_details(
                "quiz_auto_generate", True, EvaluationContext(attributes={"place": "EU"})
            )
            older = flags.get_boolean_details(
                "quiz_auto_generate", False, EvaluationContext(attributes={"region": "KR"})
            )
        finally:
            api.clear_providers()

    assert (own.value, own.reason) == (True, Reason.TARGETING_MATCH)
    assert (elsewhere.value, elsewhere.reason) == (False, Reason.STATIC)
    assert (older.value, older.reason) == (True, Reason.TARGETING_MATCH)


def test_a_snapshot_without_a_catalogue_counts_only_the_places_own_override() -> None:
    snapshot = Snapshot(
        features={
            "features": {"f": {"enabled": False}},
            "overrides": {"KR": {"f": True}, "KR-0012": {"f": False}},
        }
    )

    assert snapshot.is_enabled("f", "KR") is True
    assert snapshot.is_enabled("f", place="kr-0012") is False
    assert snapshot.is_enabled("f", place="KR-0013") is False
    assert snapshot.is_enabled("nope", place="KR", default=True) is True
