"""What authd answers, as dataclasses, read strictly from its replies."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from ._errors import AuthdError


def _malformed(what: str) -> AuthdError:
    return AuthdError("internal_error", f"malformed reply from authd: {what}")


def _string(result: Mapping[str, Any], key: str) -> str:
    value = result.get(key)
    if not isinstance(value, str):
        raise _malformed(f"'{key}' is not a string")
    return value


def _integer(result: Mapping[str, Any], key: str) -> int:
    value = result.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _malformed(f"'{key}' is not an integer")
    return value


def _strings(result: Mapping[str, Any], key: str) -> List[str]:
    value = result.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _malformed(f"'{key}' is not a list of strings")
    return list(value)


@dataclass(frozen=True)
class IssuedToken:
    """A token authd issued (``issue``, ``login``, ``refresh``)."""

    access_token: str
    token_type: str
    expires_in: int
    expires_at: int
    jti: str
    refresh_token: Optional[str] = None
    refresh_expires_at: Optional[int] = None

    @classmethod
    def from_result(cls, result: Mapping[str, Any]) -> IssuedToken:
        refresh = result.get("refresh_token")
        refresh_expiry = result.get("refresh_expires_at")
        return cls(
            access_token=_string(result, "access_token"),
            token_type=_string(result, "token_type"),
            expires_in=_integer(result, "expires_in"),
            expires_at=_integer(result, "expires_at"),
            jti=_string(result, "jti"),
            refresh_token=refresh if isinstance(refresh, str) else None,
            refresh_expires_at=refresh_expiry if isinstance(refresh_expiry, int) else None,
        )


@dataclass(frozen=True)
class Claims:
    """A verified token's claims; ``claims`` holds the custom ones."""

    subject: str
    roles: List[str]
    audience: List[str]
    issuer: str
    issued_at: int
    expires_at: int
    jti: str
    claims: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_result(cls, result: Mapping[str, Any]) -> Claims:
        custom = result.get("claims", {})
        if not isinstance(custom, dict):
            raise _malformed("'claims' is not an object")
        return cls(
            subject=_string(result, "sub"),
            roles=_strings(result, "roles"),
            audience=_strings(result, "aud"),
            issuer=_string(result, "iss"),
            issued_at=_integer(result, "iat"),
            expires_at=_integer(result, "exp"),
            jti=_string(result, "jti"),
            claims=dict(custom),
        )


@dataclass(frozen=True)
class Revocation:
    """What a ``revoke`` did: how many it revoked (0 for a token already expired) and, on a fleet
    node, whether it is already committed in the fleet's database (``None`` on a single host)."""

    revoked: int
    propagated: Optional[bool] = None

    @classmethod
    def from_result(cls, result: Mapping[str, Any]) -> Revocation:
        propagated = result.get("propagated")
        return cls(revoked=_integer(result, "revoked"), propagated=propagated if isinstance(propagated, bool) else None)


@dataclass(frozen=True)
class User:
    """An account of authd's user database (never its password hash)."""

    username: str
    roles: List[str]
    disabled: bool
    created_at: int
    updated_at: int

    @classmethod
    def from_result(cls, user: Any) -> User:
        if not isinstance(user, dict):
            raise _malformed("'user' is not an object")
        disabled = user.get("disabled")
        if not isinstance(disabled, bool):
            raise _malformed("'disabled' is not a boolean")
        return cls(
            username=_string(user, "username"),
            roles=_strings(user, "roles"),
            disabled=disabled,
            created_at=_integer(user, "created_at"),
            updated_at=_integer(user, "updated_at"),
        )


@dataclass(frozen=True)
class Status:
    """The daemon's ``status``; ``raw`` is the whole result (counters, fleet …)."""

    version: str
    uptime_s: int
    active_kid: str
    key_ids: List[str]
    pid: int
    raw: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_result(cls, result: Mapping[str, Any]) -> Status:
        return cls(
            version=_string(result, "version"),
            uptime_s=_integer(result, "uptime_s"),
            active_kid=_string(result, "active_kid"),
            key_ids=_strings(result, "key_ids"),
            pid=_integer(result, "pid"),
            raw=dict(result),
        )
