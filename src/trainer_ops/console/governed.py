"""The console's side of the governance gate (ADR 0026): a form's write that the policy wants approved,
or that the operator schedules, becomes a change request through the API's own Governor, as the
signed-in principal; an emergency bypass needs `change_requests.bypass` and a reason. Used by every
governed form (model config, limits, features)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime, tzinfo

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import Response

from trainer_ops.access.types import Approvals
from trainer_ops.changerequests.types import OPERATION_READ
from trainer_ops.console import timefmt
from trainer_ops.console.web import SignedIn, field, redirect
from trainer_ops.errors import Invalid
from trainer_ops.http.context import edge_of
from trainer_ops.http.governance import BYPASS, Proposal, Submitted, parse_apply_at, submit_governed

# The form's fields (the same names on every governed form).
APPLY_AT = "applyAt"
BYPASS_FIELD = "bypass"
REASON_FIELD = "bypassReason"
MAX_REASON = 500
CHANGE_REQUESTS = "/console/change-requests"
# The API's reasons for the same faults (ADR 0002), worded in the console's reasons catalogue.
REASONS = {APPLY_AT: "change_requests.bad_apply_at", REASON_FIELD: "change_requests.bypass_reason_required"}


@dataclass(frozen=True)
class Offer:
    """What a governed form offers this operator: the approvals a save waits for (None: applied at
    once), whether the emergency bypass is theirs, and the time zone "apply at" is read in."""

    approvals: Approvals | None
    may_bypass: bool
    zone: str


def offer(request: Request, me: SignedIn, operation: str) -> Offer:
    policy = edge_of(request).policy()
    approvals = policy.approvals_for(me.who, operation)
    # The bypass only means something where approvals are asked; the server checks it again on post.
    may_bypass = approvals is not None and policy.decide(me.who, BYPASS, governed=operation).allowed
    zone = request.cookies.get(timefmt.COOKIE) or ""
    return Offer(approvals, may_bypass, zone if timefmt.zone_of(zone) is not UTC else "UTC")


def apply_at_of(text: str, zone: tzinfo, now_ms: int) -> int | None:
    """A `datetime-local` value (`2026-12-01T06:00`, the operator's wall clock) in their zone, as the
    epoch milliseconds the API's `applyAt` check accepts (the same 422 when it is not a time)."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return parse_apply_at(text, now_ms)  # epoch seconds, as the API takes them; else its 422
    if moment.tzinfo is None:
        # A wall-clock time a DST change makes ambiguous is read as its first occurrence (fold=0).
        moment = moment.replace(tzinfo=zone)
    return parse_apply_at(moment.isoformat(), now_ms)


@dataclass(frozen=True)
class Asked:
    """The governance fields of a posted form, and what was wrong with them (field -> message key)."""

    apply_at_ms: int | None = None
    bypass_reason: str | None = None
    errors: dict[str, str] = dataclass_field(default_factory=dict)
    values: dict[str, str] = dataclass_field(default_factory=dict)  # as posted, to show them again

    def raise_if_wrong(self) -> None:
        """For a form without a place to show field errors (a feature's switch): the API's 422."""
        for name, key in self.errors.items():
            raise Invalid(REASONS[name], key, errors=[{"field": name, "message": key}])


def asked(request: Request, form: FormData) -> Asked:
    """The form's "apply at" (in the operator's zone) and bypass, checked as the API checks them."""
    values = {name: field(form, name) for name in (APPLY_AT, BYPASS_FIELD, REASON_FIELD)}
    zone = timefmt.zone_of(request.cookies.get(timefmt.COOKIE))
    errors: dict[str, str] = {}
    apply_at_ms = None
    try:
        apply_at_ms = apply_at_of(values[APPLY_AT], zone, int(edge_of(request).now() * 1000))
    except Invalid:  # change_requests.bad_apply_at
        errors[APPLY_AT] = "governance.apply_at_invalid"
    reason = None
    if values[BYPASS_FIELD] == "on":
        reason = values[REASON_FIELD].strip()
        if not reason or len(reason) > MAX_REASON:  # change_requests.bypass_reason_required
            errors[REASON_FIELD] = "governance.reason_required"
    return Asked(apply_at_ms, reason, errors, values)


async def submit_unless_free(
    request: Request, me: SignedIn, proposal: Proposal, wanted: Asked
) -> Submitted | None:
    """None: no approvals, no "apply at", no bypass; the form writes as it always has. Otherwise the
    write takes the API's own submit step (http.governance.submit_governed): stored as a change
    request, or applied at once through the audited bypass (`Submitted.document`).

    Called after the form's own `authorize` and checks, like the API's gate."""
    return await submit_governed(
        request,
        me.who,
        proposal,
        apply_at_ms=wanted.apply_at_ms,
        bypass_reason=wanted.bypass_reason,
        request_id=me.request_id,
    )


def sent_to(request: Request, to: str) -> Response:
    """Off to the change request: htmx is told to go there (a row swap cannot show it)."""
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": to})
    return redirect(to)


def where_sent(request: Request, me: SignedIn, submitted: Submitted, back: str) -> str:
    """Where to see a request just made: its page, for an operator who may read change requests;
    else the form's page again, whose notice names the request."""
    request_id = submitted.view["id"]
    if edge_of(request).policy().decide(me.who, OPERATION_READ).allowed:
        return f"{CHANGE_REQUESTS}/{request_id}?sent=1"
    joiner = "&" if "?" in back else "?"
    return f"{back}{joiner}requested={request_id}"
