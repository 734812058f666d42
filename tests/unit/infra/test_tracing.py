"""When the OTEL_* variables turn tracing on, and what they configure (the specification's names)."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider

from trainer_ops.errors import Unavailable
from trainer_ops.infra.tracing import exporter_names, provider_from_env


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({}, []),
        ({"OTEL_SERVICE_NAME": "ops-eu"}, []),  # names the service, sends nothing anywhere
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console, otlp"}, ["console", "otlp"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, []),
        ({"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "console"}, []),
    ],
)
def test_tracing_is_on_only_when_the_environment_names_somewhere_to_send(
    environ: dict[str, str], names: list[str]
) -> None:
    assert exporter_names(environ) == names
    assert (provider_from_env(environ) is None) == (not names)


def test_service_name_defaults_to_trainer_ops_and_otel_service_name_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The SDK reads the resource from the process environment itself.
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    plain = provider_from_env({"OTEL_TRACES_EXPORTER": "console"})
    monkeypatch.setenv("OTEL_SERVICE_NAME", "ops-eu")
    named = provider_from_env({"OTEL_TRACES_EXPORTER": "console"})
    assert isinstance(plain, TracerProvider)
    assert isinstance(named, TracerProvider)
    try:
        assert plain.resource.attributes["service.name"] == "trainer-ops"
        assert named.resource.attributes["service.name"] == "ops-eu"
    finally:
        plain.shutdown()
        named.shutdown()


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_TRACES_EXPORTER": "zipkin-of-dreams"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"},
    ],
)
def test_an_exporter_that_is_not_installed_refuses_to_start(environ: dict[str, str]) -> None:
    with pytest.raises(Unavailable) as refused:
        provider_from_env(environ)
    assert refused.value.code == "tracing.config"
