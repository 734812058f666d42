"""Console sessions: sign in with a pasted token, find the session a cookie names, sign out, CSRF.

A session lives in the store (every replica sees it) and ends at the first of: sign-out, its expiry
(`console_session_seconds`, or the JWT's own expiry), or the revocation of the API token it was made
from, which is checked on every request rather than cached, so a revoked token's console stops at once.
Expired rows are deleted by a periodic purge (`purge_expired`, run by the app's lifespan).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from trainer_ops.access.service import Authenticator, TokenService, actor_of
from trainer_ops.access.types import Principal, Role
from trainer_ops.audit.service import AuditService
from trainer_ops.audit.types import Action
from trainer_ops.console.models import ConsoleSessionRow
from trainer_ops.console.store import ConsoleSessionStore
from trainer_ops.db.engine import Database
from trainer_ops.db.writer import BatchWriter
from trainer_ops.errors import Forbidden, Unauthorized
from trainer_ops.infra.clock import Clock


def _digest(value: str) -> str:
    # Session ids carry 256 bits of randomness: a fast hash suffices, nothing to brute-force.
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class ConsoleSession:
    principal: Principal
    csrf: str
    id_hash: str
    expires_at: float  # epoch seconds

    @property
    def target(self) -> str:
        """The audit target naming this session (never the id itself)."""
        return f"console-session:{self.id_hash[:16]}"


@dataclass(frozen=True)
class Identified:
    """Who a pasted token names, as a console principal, before a session exists."""

    principal: Principal
    token_kind: str  # "token" or "jwt": how the token proved it
    jwt_expiry: float | None  # a JWT's own expiry (epoch seconds), which caps the session


@dataclass(frozen=True)
class NewSession:
    cookie: str  # the session id, for the cookie only
    session: ConsoleSession
    max_age: int


class ConsoleSessions:
    def __init__(
        self,
        *,
        database: Database,
        writer: BatchWriter,
        audit: AuditService,
        tokens: TokenService,
        authenticator: Authenticator,
        clock: Clock,
        session_seconds: float,
        store: ConsoleSessionStore | None = None,
    ) -> None:
        self._database = database
        self._writer = writer
        self._audit = audit
        self._tokens = tokens
        self._authenticator = authenticator
        self._clock = clock
        self._seconds = session_seconds
        self._store = store or ConsoleSessionStore()

    def identify(self, token: str) -> Identified:
        """Authenticate the pasted token like a bearer token (Unauthorized when it fails): who would sign
        in, before the policy is asked whether they may use the console. Blocking: off the event loop."""
        principal, jwt_expiry = self._authenticator.identify(token)
        return Identified(principal=_as_console(principal), token_kind=principal.via, jwt_expiry=jwt_expiry)

    def sign_in(self, token: str, found: Identified, *, request_id: str) -> NewSession:
        """Start a session for the identified (and admitted) caller of `token`. Blocking."""
        now = self._clock.now()
        limit = found.jwt_expiry
        expires = now + self._seconds if limit is None else min(now + self._seconds, limit)
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        made = ConsoleSession(
            principal=found.principal, csrf=csrf, id_hash=_digest(cookie), expires_at=expires
        )

        def unit(session: Session) -> None:
            token_id = None
            if found.token_kind == "token":  # noqa: S105 - a kind of credential, not a secret
                # The authenticator may answer from its cache: the row must still be in force now.
                token_id = self._tokens.active_id(session, token.strip())
                if token_id is None:
                    raise Unauthorized("auth.unauthorized", "the token is unknown, expired or revoked")
            self._store.add(session, _row(made, token_kind=found.token_kind, token_id=token_id, now=now))
            self._audit.append(
                session,
                actor=actor_of(made.principal),
                action=Action.CONSOLE_SIGN_IN,
                target=made.target,
                request_id=request_id,
                details={"tokenKind": found.token_kind, "expiresAt": int(expires)},
            )

        self._writer.run(unit)
        return NewSession(cookie=cookie, session=made, max_age=max(1, int(expires - now)))

    def purge_expired(self) -> int:
        """Delete every expired session (one indexed DELETE; idempotent, so every replica may run it
        on its own schedule). Returns how many rows went. Blocking: off the event loop."""
        now_ms = int(self._clock.now() * 1000)
        return self._writer.run(lambda session: self._store.remove_expired(session, now_ms))

    def find(self, cookie: str | None) -> ConsoleSession | None:
        """The live session a cookie names, or None (no such session, expired, or its token revoked)."""
        if not cookie or len(cookie) > 128:
            return None
        with self._database.read() as session:
            row = self._store.find(session, _digest(cookie))
            if row is None or row.expires_at_ms <= self._clock.now() * 1000:
                return None
            if row.token_id is not None and not self._tokens.is_active(session, row.token_id):
                return None
            return _session_of(row)

    def sign_out(self, session_: ConsoleSession, *, request_id: str) -> None:
        def unit(session: Session) -> None:
            if self._store.remove(session, session_.id_hash):
                self._audit.append(
                    session,
                    actor=actor_of(session_.principal),
                    action=Action.CONSOLE_SIGN_OUT,
                    target=session_.target,
                    request_id=request_id,
                )

        self._writer.run(unit)


def check_csrf(expected: str, presented: str | None) -> None:
    """Refuse a write whose CSRF token is missing or wrong (compared in constant time)."""
    if not presented or not hmac.compare_digest(expected.encode(), presented.encode()):
        raise Forbidden(
            "console.csrf_failed", "the form's security token is missing or wrong; reload the page"
        )


def _as_console(principal: Principal) -> Principal:
    # `via` says how the caller proved who they are: from now on, by the console session.
    return replace(principal, via="console")


def _row(made: ConsoleSession, *, token_kind: str, token_id: int | None, now: float) -> ConsoleSessionRow:
    who = made.principal
    return ConsoleSessionRow(
        id_hash=made.id_hash,
        user_id=who.user_id,
        role=who.role.value,
        region=who.region,
        country=who.country,
        branch=who.branch,
        token_kind=token_kind,
        token_id=token_id,
        csrf_secret=made.csrf,
        created_at_ms=int(now * 1000),
        expires_at_ms=int(made.expires_at * 1000),
    )


def _session_of(row: ConsoleSessionRow) -> ConsoleSession:
    principal = Principal(
        user_id=row.user_id,
        role=Role(row.role),
        region=row.region,
        country=row.country,
        branch=row.branch,
        via="console",
    )
    return ConsoleSession(
        principal=principal, csrf=row.csrf_secret, id_hash=row.id_hash, expires_at=row.expires_at_ms / 1000
    )
