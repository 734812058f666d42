"""If-None-Match on a write is a precondition (RFC 9110 13.1.2), and a write never answers 304.

A PATCH with If-None-Match naming the current version once made its change and then answered 304 Not
Modified, as if nothing had happened.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .support import LIMITS, MODEL_CONFIG, assert_problem

CHANGES = {MODEL_CONFIG: {"temperature": 0.3}, LIMITS: {"aiCallsPerMinute": 90}}


@pytest.mark.parametrize("path", [MODEL_CONFIG, LIMITS])
@pytest.mark.parametrize("names_current", ['"{version}"', "*", 'W/"{version}"'])
def test_a_patch_whose_if_none_match_names_the_current_version_is_412_and_changes_nothing(
    client: TestClient, path: str, names_current: str
) -> None:
    before = client.get(path)
    version = before.headers["etag"].strip('"')

    refused = client.patch(
        path, json=CHANGES[path], headers={"If-None-Match": names_current.format(version=version)}
    )

    body = assert_problem(refused, 412, code="CONFLICT")
    assert body["reason"] == "http.if_none_match"
    assert body["currentVersion"] == int(version)
    after = client.get(path)
    assert (after.headers["etag"], after.json()) == (before.headers["etag"], before.json())


@pytest.mark.parametrize("path", [MODEL_CONFIG, LIMITS])
def test_a_patch_whose_if_none_match_names_an_older_version_is_made_and_answers_the_new_state(
    client: TestClient, path: str
) -> None:
    old = client.get(path).headers["etag"]
    assert client.patch(path, json={}).status_code == 200  # nothing to change: the version stays
    other = {MODEL_CONFIG: {"temperature": 0.6}, LIMITS: {"aiCallsPerMinute": 75}}[path]
    first = client.patch(path, json=other)
    assert first.status_code == 200, first.text

    changed = client.patch(path, json=CHANGES[path], headers={"If-None-Match": old})

    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] != first.headers["etag"]
    assert changed.json() == client.get(path).json()
