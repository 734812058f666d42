"""OpenAI's rate-limit headers from the limiter's answer, so OpenAI clients and their users see their
budget on every call (success or 429), as OpenAI's API shows it."""

from __future__ import annotations

from trainer_ops.infra.limiter import CallBudget


def duration(seconds: float) -> str:
    """OpenAI's way of writing a reset time: `20ms`, `1s`, `6m0s`, `1.5s`."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, rest = divmod(round(seconds, 3), 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text


def rate_limit_headers(budget: CallBudget) -> dict[str, str]:
    """`x-ratelimit-*-requests`; a refused call adds `retry-after` (whole seconds, as the client reads)."""
    headers = {
        "x-ratelimit-limit-requests": str(budget.limit),
        "x-ratelimit-remaining-requests": str(budget.remaining),
        "x-ratelimit-reset-requests": duration(budget.reset_seconds),
    }
    if not budget.allowed:
        headers["retry-after"] = str(budget.retry_after)
    return headers
