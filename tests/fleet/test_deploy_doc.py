"""docs/deploy.md shows the HAProxy configuration the fleet tests run, not a copy that drifts from it."""

from __future__ import annotations

import re
from pathlib import Path

from .haproxy import haproxy_config

DEPLOY_DOC = Path(__file__).parents[2] / "docs" / "deploy.md"
# The addresses the document shows in place of real ones.
DOC_SERVERS = [("r1", "replica-1:8080"), ("r2", "replica-2:8080"), ("r3", "replica-3:8080")]
DOC_SOCKET = "/run/haproxy/admin.sock"


def documented_haproxy_config() -> str:
    blocks = re.findall(r"```haproxy\n(.*?)```", DEPLOY_DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) == 1, "docs/deploy.md should show exactly one HAProxy configuration"
    return str(blocks[0])


def test_the_deploy_guide_shows_the_haproxy_configuration_the_fleet_tests_run() -> None:
    expected = haproxy_config(bind=":8080", servers=DOC_SERVERS, stats_socket=DOC_SOCKET)
    assert documented_haproxy_config() == expected
