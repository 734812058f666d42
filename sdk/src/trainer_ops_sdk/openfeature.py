"""An OpenFeature provider over OpsClient: feature toggles evaluated in-process from the live snapshot.

    from openfeature import api
    api.set_provider(TrainerOpsProvider(ops_client))
    context = EvaluationContext(attributes={"region": "EU"})
    api.get_client().get_boolean_value("quiz_auto_generate", False, context)

The evaluation context's `place` attribute (or `region`, its older name) picks where the flag is
evaluated, else the client's own `place`: that place's override wins, else its country's, else its
region's, else the global default (ADR 0027). Only boolean flags exist in
trainer-ops; other types resolve to the default with TYPE_MISMATCH. Model-config values are exposed as
read-only string/number flags named `modelConfig.<field>` (for example `modelConfig.temperature`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, Metadata

from trainer_ops_sdk.client import OpsClient

T = TypeVar("T")


class TrainerOpsProvider(AbstractProvider):
    def __init__(self, client: OpsClient) -> None:
        super().__init__()
        self._client = client

    def get_metadata(self) -> Metadata:
        return Metadata(name="trainer-ops")

    def resolve_boolean_details(
        self, flag_key: str, default_value: bool, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[bool]:
        snapshot = self._client.snapshot
        spec = snapshot.features.get("features", {}).get(flag_key)
        if spec is None:
            return FlagResolutionDetails(
                default_value, ErrorCode.FLAG_NOT_FOUND, f"no feature {flag_key!r}", Reason.ERROR
            )
        place = _place(evaluation_context) or self._client.place
        value = snapshot.is_enabled(flag_key, default=default_value, place=place)
        overridden = place is not None and snapshot.override_source(flag_key, place.upper()) is not None
        stale = self._client.source == "cache"
        reason = Reason.STALE if stale else (Reason.TARGETING_MATCH if overridden else Reason.STATIC)
        return FlagResolutionDetails(
            value,
            reason=reason,
            variant="on" if value else "off",
            flag_metadata={"version": snapshot.versions.get("features", 0)},
        )

    def _config_value(
        self, flag_key: str, default_value: T, kind: type | tuple[type, ...]
    ) -> FlagResolutionDetails[T]:
        if not flag_key.startswith("modelConfig."):
            return FlagResolutionDetails(
                default_value, ErrorCode.FLAG_NOT_FOUND, f"no flag {flag_key!r}", Reason.ERROR
            )
        value = self._client.model_config.get(flag_key.removeprefix("modelConfig."))
        if value is None:
            return FlagResolutionDetails(
                default_value, ErrorCode.FLAG_NOT_FOUND, f"no flag {flag_key!r}", Reason.ERROR
            )
        if isinstance(value, bool) or not isinstance(value, kind):
            return FlagResolutionDetails(
                default_value,
                ErrorCode.TYPE_MISMATCH,
                f"{flag_key} is a {type(value).__name__}",
                Reason.ERROR,
            )
        return FlagResolutionDetails(value, reason=Reason.STATIC)  # type: ignore[arg-type]

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._config_value(flag_key, default_value, str)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return self._config_value(flag_key, default_value, int)

    def resolve_float_details(
        self, flag_key: str, default_value: float, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[float]:
        return self._config_value(flag_key, default_value, (int, float))

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[Any] | Mapping[str, Any],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[Any] | Mapping[str, Any]]:
        return FlagResolutionDetails(
            default_value, ErrorCode.TYPE_MISMATCH, "trainer-ops has no object flags", Reason.ERROR
        )


def _place(context: EvaluationContext | None) -> str | None:
    """The place named by the evaluation context: `place`, else `region`."""
    if context is None:
        return None
    for name in ("place", "region"):
        value = context.attributes.get(name)
        if isinstance(value, str) and value:
            return value
    return None
