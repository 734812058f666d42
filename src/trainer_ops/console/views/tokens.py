"""Tokens (admins, `tokens.manage`): the API tokens with their scope and state, creating one (shown once,
on the answer to the form, never in a URL, a cookie or storage), and revoking one after a confirmation.
The same TokenService use cases as `trainer-ops token create/list/revoke`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response

from trainer_ops.access.models import ApiTokenRow
from trainer_ops.access.service import NewToken, actor_of
from trainer_ops.access.types import Role
from trainer_ops.console.pages import SIGN_IN_PATH
from trainer_ops.console.web import (
    SignedIn,
    checked_form,
    field,
    find_session,
    page_router,
    redirect,
    render,
    signed_in,
)
from trainer_ops.errors import Invalid, NotFound
from trainer_ops.http.guard import authorize

router = page_router()

PAGE = "/console/tokens"
SCOPES = ("region", "country", "branch")
# The store's column widths (access/models.py): longer values are refused at the field, not by the store.
MAX_USER = 128
MAX_SCOPE = 64
MAX_TTL_DAYS = 3650


@dataclass(frozen=True)
class TokenView:
    id: int
    prefix: str
    user: str
    role: str
    scope: dict[str, str]
    created: float
    expires: float | None
    revoked: float | None
    expired: bool

    @property
    def active(self) -> bool:
        return self.revoked is None and not self.expired


def _view(row: ApiTokenRow, now: float) -> TokenView:
    expires = row.expires_at_ms / 1000 if row.expires_at_ms is not None else None
    return TokenView(
        id=row.id,
        prefix=row.prefix,
        user=row.user_id,
        role=row.role,
        scope={name: value for name in SCOPES if (value := getattr(row, name))},
        created=row.created_at_ms / 1000,
        expires=expires,
        revoked=row.revoked_at_ms / 1000 if row.revoked_at_ms is not None else None,
        expired=expires is not None and expires <= now,
    )


def _tokens(me: SignedIn) -> list[TokenView]:
    now = me.console.clock.now()
    with me.console.database.read() as session:
        return [_view(row, now) for row in me.console.tokens.list_tokens(session)]


async def _page(
    request: Request,
    me: SignedIn,
    *,
    status: int = 200,
    created: NewToken | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    tokens = await run_in_threadpool(_tokens, me)
    return render(
        request,
        me,
        "tokens/page.html",
        status=status,
        tokens=list(reversed(tokens)),  # newest first
        roles=[role.value for role in Role],
        created=created,
        errors=errors or {},
        form=form or {},
    )


@router.get(PAGE)
async def tokens_page(request: Request) -> Response:
    me = await signed_in(request)
    await authorize(request, me.who, "tokens.manage")
    return await _page(request, me)


def _checked(form: FormData) -> tuple[dict[str, str], dict[str, str], float | None]:
    """The form's values, the message key of each field's error, and the lifetime in seconds."""
    values = {name: field(form, name).strip() for name in ("role", "user", *SCOPES, "ttl")}
    errors: dict[str, str] = {}
    if values["role"] not in {role.value for role in Role}:
        errors["role"] = "tokens.invalid_role"
    if not values["user"]:
        errors["user"] = "tokens.user_required"
    elif len(values["user"]) > MAX_USER:
        errors["user"] = "tokens.user_too_long"
    for name in SCOPES:
        if len(values[name]) > MAX_SCOPE:
            errors[name] = "tokens.scope_too_long"
    ttl: float | None = None
    if values["ttl"]:
        try:
            days = float(values["ttl"])
        except ValueError:
            days = math.nan
        if not 0 < days <= MAX_TTL_DAYS:  # NaN fails too
            errors["ttl"] = "tokens.invalid_ttl"
        else:
            ttl = days * 86400
    return values, errors, ttl


@router.post(PAGE)
async def create(request: Request) -> Response:
    """Create a token. The answer is the one page that ever shows it (no-store, as every page)."""
    me = await signed_in(request)
    await authorize(request, me.who, "tokens.manage")
    values, errors, ttl = _checked(await checked_form(request, me))
    if errors:
        return await _page(request, me, status=422, errors=errors, form=values)
    role = Role(values["role"])
    scope = {name: values[name] or None for name in SCOPES}
    try:
        new = await run_in_threadpool(
            me.console.writer.run,
            lambda session: me.console.tokens.create(
                session,
                actor=actor_of(me.who),
                role=role,
                user_id=values["user"],
                ttl_seconds=ttl,
                **scope,
            ),
        )
    except Invalid as exc:
        # The service's own rule: a region, country or branch token needs that scope.
        needed = {Role.REGION: "region", Role.COUNTRY: "country"}.get(role, "branch")
        errors = {needed: "tokens.scope_required"} if exc.code == "token.scope_required" else {}
        if not errors:
            raise
        return await _page(request, me, status=422, errors=errors, form=values)
    return await _page(request, me, status=201, created=new)


def _one(me: SignedIn, token_id: int) -> TokenView | None:
    return next((token for token in _tokens(me) if token.id == token_id), None)


@router.get(PAGE + "/{token_id}/revoke")
async def confirm_revoke(request: Request, token_id: int) -> Response:
    """Ask before revoking: which token, whose, and what it ends."""
    me = await signed_in(request)
    await authorize(request, me.who, "tokens.manage")
    token = await run_in_threadpool(_one, me, token_id)
    if token is None or not token.active:
        raise NotFound("token.not_found", f"no active token with id {token_id}")
    return render(request, me, "tokens/revoke.html", token=token)


@router.post(PAGE + "/{token_id}/revoke")
async def revoke(request: Request, token_id: int) -> Response:
    """Revoke a token. Revoking the one this session was made from ends the session: sign in again."""
    me = await signed_in(request)
    await authorize(request, me.who, "tokens.manage")
    await checked_form(request, me)
    await run_in_threadpool(
        me.console.writer.run,
        lambda session: me.console.tokens.revoke(session, actor=actor_of(me.who), token_id=token_id),
    )
    if await find_session(request) is None:
        return redirect(SIGN_IN_PATH)
    return redirect(PAGE + f"#token-{token_id}")
