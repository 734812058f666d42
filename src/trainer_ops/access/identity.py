"""Step 1's identity headers (X-User-Id, X-Role, X-Scope), trusted only from configured proxies.

Step 1 of the contract family leaves authentication to the infrastructure: a gateway in front has
checked the user and passes who it is in headers. Anyone can send such headers, so they count only on
a connection from an address listed in `trusted_proxies` (off when that list is empty), and never
beside a bearer token, which always wins. See docs/adr/0004-access-and-policy.md.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from trainer_ops.access.places import EMPTY_INDEX, PlaceIndex, normal, refused
from trainer_ops.access.types import Principal, Role
from trainer_ops.config import parse_networks
from trainer_ops.errors import Unauthorized

_VALUE = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
# X-Scope level -> our role and the header naming the caller's place at that level.
_OPERATOR_SCOPES = {
    "region": (Role.REGION, "x-region"),
    "country": (Role.COUNTRY, "x-country"),
    "branch": (Role.BRANCH, "x-branch"),
    "team": (Role.TEAM, "x-branch"),  # a team sits in a branch and has no more rights than it
}


class HeaderIdentity:
    def __init__(self, trusted_proxies: str, places: Callable[[], PlaceIndex] = lambda: EMPTY_INDEX) -> None:
        self._networks = parse_networks(trusted_proxies)
        self._places = places

    @property
    def enabled(self) -> bool:
        return bool(self._networks)

    def trusts(self, peer: str | None) -> bool:
        """Is the connection's peer one of the trusted proxies?"""
        if not self._networks or not peer:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def principal(self, header: Callable[[str], str | None]) -> Principal | None:
        """The caller the identity headers name (None when there is no X-User-Id), or 401 when they
        are incomplete or name no role of ours. `header(name)` reads a request header."""
        user_id = header("x-user-id")
        if user_id is None:
            return None
        role_name = (header("x-role") or "").strip().lower()
        scope = (header("x-scope") or "").strip().lower()
        _check_value("X-User-Id", user_id)
        if role_name == "admin":
            if scope not in ("", "global"):
                raise _refused(f"X-Role admin goes with X-Scope global, not {scope!r}")
            return Principal(user_id=user_id, role=Role.ADMIN, via="headers")
        if role_name != "operator":
            raise _refused("X-Role must be admin or operator")
        if scope not in _OPERATOR_SCOPES:
            raise _refused(
                "an operator's X-Scope must be region, country, branch or team "
                f"(got {scope or 'none'!r}; a global operator is X-Role admin)"
            )
        role, place_header = _OPERATOR_SCOPES[scope]
        places = {name: header(f"x-{name}") for name in ("region", "country", "branch")}
        if not places[place_header.removeprefix("x-")]:
            raise _refused(f"an operator with X-Scope {scope} needs the {_title(place_header)} header")
        for name, value in places.items():
            if value is not None:
                _check_value(_title(f"x-{name}"), value)
        region, country, branch = (
            normal(places["region"]),
            normal(places["country"]),
            normal(places["branch"]),
        )
        # The proxy vouches for the user, not for our catalogue: a place it does not have is a 401.
        failure = self._places().scope_problem(region=region, country=country, branch=branch)
        if failure:
            challenge = 'Bearer realm="trainer-ops", error="invalid_request"'
            raise refused(failure, challenge=challenge)
        return Principal(
            user_id=user_id, role=role, region=region, country=country, branch=branch, via="headers"
        )


def _title(header: str) -> str:
    return "-".join(part.capitalize() for part in header.split("-"))


def _check_value(name: str, value: str) -> None:
    if not _VALUE.fullmatch(value):  # fullmatch: `$` alone lets a trailing newline through
        raise _refused(f"{name} must be 1 to 128 letters, digits or ._:@-")


def _refused(message: str) -> Unauthorized:
    return Unauthorized(
        "auth.bad_identity_headers",
        f"identity headers from the trusted proxy: {message}",
        headers={"WWW-Authenticate": 'Bearer realm="trainer-ops", error="invalid_request"'},
    )
