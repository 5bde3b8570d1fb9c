"""Every failure is an AuthdError whose ``code`` is the daemon's stable wire code."""
from __future__ import annotations

from typing import Dict, Type

# The HTTP status a service answers for each code (RFC 6750 for the token ones).
HTTP_STATUS: Dict[str, int] = {
    "bad_request": 400,
    "unknown_op": 400,
    "line_too_long": 400,
    "invalid_token": 401,
    "token_expired": 401,
    "token_not_yet_valid": 401,
    "wrong_audience": 401,
    "token_revoked": 401,
    "invalid_refresh_token": 401,
    "refresh_reused": 401,
    "invalid_credentials": 401,
    "insufficient_role": 403,
    "permission_denied": 403,
    "unknown_user": 404,
    "user_exists": 409,
    "too_many_attempts": 429,
    "internal_error": 500,
    "storage_failure": 503,
    "fleet_unavailable": 503,
    "too_many_connections": 503,
    "daemon_unreachable": 503,
}


class AuthdError(Exception):
    """A request authd refused, or one that could not reach it.

    ``code`` is the wire code (``invalid_token``, ``insufficient_role`` …) or, for a request that
    never got an answer, ``daemon_unreachable``; ``http_status`` is what a web service answers for it
    (401, 403, 429, 503 …; 500 for a code this client does not know).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)


class InvalidToken(AuthdError):
    """The token is malformed, forged, expired, not yet valid, revoked or for another audience (401)."""


class InsufficientRole(AuthdError):
    """The token is valid but lacks a required role (403)."""


class Unavailable(AuthdError):
    """authd could not be reached or cannot serve the request now (503): fail closed."""


_SUBCLASSES: Dict[str, Type[AuthdError]] = {
    "invalid_token": InvalidToken,
    "token_expired": InvalidToken,
    "token_not_yet_valid": InvalidToken,
    "wrong_audience": InvalidToken,
    "token_revoked": InvalidToken,
    "insufficient_role": InsufficientRole,
    "daemon_unreachable": Unavailable,
    "fleet_unavailable": Unavailable,
    "storage_failure": Unavailable,
    "too_many_connections": Unavailable,
}


def error_for(code: str, message: str) -> AuthdError:
    """The error, of the most specific class, for a wire code."""
    return _SUBCLASSES.get(code, AuthdError)(code, message)


def unreachable(message: str) -> Unavailable:
    return Unavailable("daemon_unreachable", message)
