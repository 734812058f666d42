"""Token use cases (create, revoke, bootstrap) and the authenticator every request passes through."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from trainer_ops.access.models import ApiTokenRow
from trainer_ops.access.places import EMPTY_INDEX, PlaceIndex, check_places, normal, refused
from trainer_ops.access.store import TokenStore
from trainer_ops.access.types import Principal, Role
from trainer_ops.audit.service import AuditService
from trainer_ops.audit.types import Action, Actor
from trainer_ops.errors import Invalid, NotFound, Unauthorized
from trainer_ops.infra.clock import Clock

TOKEN_PREFIX = "tops_"  # noqa: S105 - a public prefix, not a secret


def hash_token(token: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def actor_of(principal: Principal) -> Actor:
    via = "console" if principal.via == "console" else None
    return Actor(user_id=principal.user_id, role=principal.role.value, scope=principal.scope, via=via)


@dataclass(frozen=True)
class NewToken:
    token: str
    row_id: int


Places = Callable[[], PlaceIndex]


def _no_places() -> PlaceIndex:
    return EMPTY_INDEX


class TokenService:
    def __init__(
        self,
        *,
        audit: AuditService,
        clock: Clock,
        store: TokenStore | None = None,
        places: Places = _no_places,
    ) -> None:
        self._audit = audit
        self._clock = clock
        self._store = store or TokenStore()
        self._places = places

    def create(
        self,
        session: Session,
        *,
        actor: Actor,
        role: Role,
        user_id: str,
        region: str | None = None,
        country: str | None = None,
        branch: str | None = None,
        token: str | None = None,
        ttl_seconds: float | None = None,
    ) -> NewToken:
        region, country, branch = normal(region), normal(country), normal(branch)
        _check_scope(role, region=region, country=country, branch=branch)
        # Checked against the catalogue in force (shape only while it is empty), parents included.
        check_places(
            self._places(),
            region=region,
            country=country,
            branch=branch,
            fields={"region": "region", "country": "country", "branch": "branch"},
        )
        if not user_id.strip():
            raise Invalid("token.user_required", "a token needs a user id (--user)")
        value = token or TOKEN_PREFIX + secrets.token_urlsafe(32)
        now_ms = int(self._clock.now() * 1000)
        row = ApiTokenRow(
            token_hash=hash_token(value),
            prefix=value[:12],
            user_id=user_id,
            role=role.value,
            region=region,
            country=country,
            branch=branch,
            created_at_ms=now_ms,
            expires_at_ms=now_ms + int(ttl_seconds * 1000) if ttl_seconds else None,
        )
        self._store.add(session, row)
        self._audit.append(
            session,
            actor=actor,
            action=Action.TOKEN_CREATED,
            target=f"token:{row.id}",
            after={
                "id": row.id,
                "prefix": row.prefix,
                "userId": user_id,
                "role": role.value,
                "scope": {
                    k: v for k, v in (("region", region), ("country", country), ("branch", branch)) if v
                },
            },
        )
        return NewToken(token=value, row_id=row.id)

    def revoke(self, session: Session, *, actor: Actor, token_id: int) -> None:
        if not self._store.revoke(session, token_id, int(self._clock.now() * 1000)):
            raise NotFound("token.not_found", f"no active token with id {token_id}")
        self._audit.append(session, actor=actor, action=Action.TOKEN_REVOKED, target=f"token:{token_id}")

    def list_tokens(self, session: Session) -> list[ApiTokenRow]:
        return self._store.list_all(session)

    def has_any(self, session: Session) -> bool:
        return self._store.count(session) > 0

    def is_registered(self, session: Session, token: str) -> bool:
        return self._store.find_by_hash(session, hash_token(token)) is not None

    def active_id(self, session: Session, token: str) -> int | None:
        """The row id of an API token in force (None: unknown, revoked or expired)."""
        row = self._store.find_by_hash(session, hash_token(token))
        return row.id if row is not None and self._in_force(row) else None

    def is_active(self, session: Session, token_id: int) -> bool:
        """Is the token with this row id still in force? (A console session ends with its token.)"""
        row = self._store.find_by_id(session, token_id)
        return row is not None and self._in_force(row)

    def _in_force(self, row: ApiTokenRow) -> bool:
        if row.revoked_at_ms is not None:
            return False
        return row.expires_at_ms is None or row.expires_at_ms > self._clock.now() * 1000

    def find_principal(self, session: Session, token: str) -> Principal | None:
        row = self._store.find_by_hash(session, hash_token(token))
        if row is None or not self._in_force(row):
            return None
        return Principal(
            user_id=row.user_id,
            role=Role(row.role),
            # Tokens made before codes were normalised may hold lower case (ADR 0023).
            region=normal(row.region),
            country=normal(row.country),
            branch=normal(row.branch),
            via="token",
        )

    def live_places(self, session: Session) -> list[tuple[str, str | None, str | None, str | None]]:
        """(user, region, country, branch) of every token in force that names a place."""
        return [
            (row.user_id, normal(row.region), normal(row.country), normal(row.branch))
            for row in self._store.list_all(session)
            if self._in_force(row) and (row.region or row.country or row.branch)
        ]


def _check_scope(role: Role, *, region: str | None, country: str | None, branch: str | None) -> None:
    needed = {
        Role.REGION: ("region", region),
        Role.COUNTRY: ("country", country),
        Role.BRANCH: ("branch", branch),
        Role.TEAM: ("branch", branch),
    }
    if role in needed:
        name, value = needed[role]
        if not value:
            raise Invalid("token.scope_required", f"a {role.value} token needs --{name}")


class Authenticator:
    """Bearer token -> Principal. Opaque tokens are looked up once and cached briefly; JWTs are verified."""

    def __init__(
        self,
        *,
        lookup: Any,
        jwt_secret: str = "",
        jwks_url: str = "",
        issuer: str = "",
        audience: str = "",
        cache_seconds: float = 5.0,
        places: Places = _no_places,
    ) -> None:
        # lookup(token) -> Principal | None; a callable so the HTTP edge never opens sessions itself.
        self._lookup = lookup
        self._jwt_secret = jwt_secret
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True) if jwks_url else None
        self._issuer = issuer or None
        self._audience = audience or None
        self._cache_seconds = cache_seconds
        self._places = places
        self._cache: dict[str, tuple[Principal | None, float]] = {}
        self._lock = threading.Lock()

    def from_cache(self, authorization: str | None) -> Principal | None:
        """The caller when a recent lookup already answered for this header: no I/O, no crypto."""
        if not authorization or authorization[:7].lower() != "bearer ":
            return None
        cached = self._cache.get(authorization[7:].strip())
        if cached is not None and cached[0] is not None and cached[1] > time.monotonic():
            return cached[0]
        return None

    def authenticate(self, authorization: str | None) -> Principal:
        """Check the header's token (a database lookup or a JWT verification) and cache the answer."""
        if not authorization:
            raise _unauthorized("missing bearer token; send 'Authorization: Bearer <token>'", "")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("the Authorization header must be 'Bearer <token>'", "invalid_request")
        now = time.monotonic()
        if token.count(".") == 2 and not token.startswith(TOKEN_PREFIX):
            verified, expires = self._from_jwt(token)
            self._remember(token, verified, min(now + self._cache_seconds, now + expires - time.time()))
            return verified
        cached = self._cache.get(token)
        if cached is not None and cached[1] > now:
            principal = cached[0]
        else:
            principal = self._lookup(token)
            self._remember(token, principal, now + self._cache_seconds)
        if principal is None:
            raise _unauthorized("the token is unknown, expired or revoked", "invalid_token")
        return principal

    def identify(self, token: str) -> tuple[Principal, float | None]:
        """A pasted token (the console's sign-in): its principal, checked exactly as a bearer token,
        and for a JWT its expiry (epoch seconds), which a session made from it must not outlive."""
        principal = self.authenticate(f"Bearer {token.strip()}")
        if principal.via != "jwt":
            return principal, None
        # Verified just above; only the expiry is read again.
        claims = jwt.decode(token.strip(), options={"verify_signature": False})
        return principal, float(claims["exp"])

    def _remember(self, token: str, principal: Principal | None, until: float) -> None:
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[token] = (principal, until)

    def set_lookup(self, lookup: Any) -> None:
        self._lookup = lookup

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()

    def _from_jwt(self, token: str) -> tuple[Principal, float]:
        """The principal a valid JWT names, and its expiry (epoch seconds)."""
        try:
            header = jwt.get_unverified_header(token)
            alg = header.get("alg")
            if alg == "HS256" and self._jwt_secret:
                key: Any = self._jwt_secret
            elif alg == "RS256" and self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
            else:
                raise _unauthorized(f"JWT algorithm {alg!r} is not accepted here", "invalid_token")
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["sub", "exp"], "verify_aud": self._audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"invalid JWT: {exc}", "invalid_token") from None
        try:
            checked = JwtClaims.model_validate(claims)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ".".join(str(part) for part in first["loc"]) or "claims"
            message = f"the JWT's {name!r} claim is not valid: {first['msg']}"
            raise _unauthorized(message, "invalid_token") from None
        region, country, branch = normal(checked.region), normal(checked.country), normal(checked.branch)
        # A signed token naming a place the catalogue does not have (or under another parent) is a
        # credential we cannot place: 401 naming the code, like any other bad claim.
        failure = self._places().scope_problem(region=region, country=country, branch=branch)
        if failure:
            raise refused(failure, challenge='Bearer realm="trainer-ops", error="invalid_token"')
        principal = Principal(
            user_id=checked.sub,
            role=checked.role,
            region=region,
            country=country,
            branch=branch,
            via="jwt",
        )
        return principal, checked.exp


class JwtClaims(BaseModel):
    """The claims a JWT must carry, each of its type: a signed token is still input (a list as a region
    must be a 401 naming the claim, never an exception)."""

    model_config = ConfigDict(extra="ignore")

    sub: str = Field(min_length=1, max_length=128)
    role: Role
    exp: float
    region: str | None = Field(None, max_length=64)
    country: str | None = Field(None, max_length=64)
    branch: str | None = Field(None, max_length=64)


def _unauthorized(message: str, error: str) -> Unauthorized:
    challenge = 'Bearer realm="trainer-ops"'
    if error:
        challenge += f', error="{error}"'
    return Unauthorized("auth.unauthorized", message, headers={"WWW-Authenticate": challenge})
