"""authd's ops as calls: each checks its arguments before anything is sent, and knows how to read
its result. Shared by the blocking and the asyncio client."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Generic, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

from ._errors import AuthdError, error_for
from ._model import Claims, IssuedToken, Revocation, Status, User

T = TypeVar("T")

DEFAULT_SOCKET = "/run/authd/authd.sock"


def socket_path(socket: Optional[str]) -> str:
    """The argument, else ``$AUTHD_SOCKET``, else ``/run/authd/authd.sock``."""
    return socket or os.environ.get("AUTHD_SOCKET") or DEFAULT_SOCKET


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request: its op and fields, whether it may be sent twice, and how to read its result."""

    op: str
    fields: Mapping[str, Any]
    idempotent: bool
    parse: Callable[[Mapping[str, Any]], T]

    def line(self, request_id: Optional[int] = None) -> bytes:
        request: Dict[str, Any] = {"op": self.op, **self.fields}
        if request_id is not None:
            request["id"] = request_id
        # ensure_ascii: the line is pure ASCII, and JSON escapes any control character.
        return json.dumps(request, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n"


def parse_reply(line: bytes) -> Tuple[Any, Union[Mapping[str, Any], AuthdError]]:
    """The reply's id and its result, or the error it carries."""
    try:
        reply = json.loads(line)
    except ValueError:
        return None, AuthdError("internal_error", "malformed reply from authd: not JSON")
    if not isinstance(reply, dict):
        return None, AuthdError("internal_error", "malformed reply from authd: not an object")
    request_id = reply.get("id")
    if reply.get("ok") is True and isinstance(reply.get("result"), dict):
        return request_id, reply["result"]
    error = reply.get("error")
    if reply.get("ok") is False and isinstance(error, dict):
        return request_id, error_for(str(error.get("code", "internal_error")), str(error.get("message", "")))
    return request_id, AuthdError("internal_error", "malformed reply from authd: neither a result nor an error")


# --- argument checks: a clear Python error before anything is sent ---------------------------------

def _text(name: str, value: object, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in value):
        raise ValueError(f"{name} must not contain control characters (a newline, a NUL …)")
    return value


def _token(name: str, value: object) -> str:
    token = _text(name, value)
    if any(character.isspace() for character in token):
        raise ValueError(f"{name} must not contain whitespace: pass the token alone, without 'Bearer '")
    return token


def _texts(name: str, values: Optional[Sequence[str]]) -> Optional[List[str]]:
    if values is None:
        return None
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        raise TypeError(f"{name} must be a list of str, not {type(values).__name__}")
    return [_text(f"{name}[{index}]", value) for index, value in enumerate(values)]


def _integer(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return value


def _fields(**fields: Any) -> Dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


# --- the ops -------------------------------------------------------------------------------------

def issue(
    subject: str, roles: Optional[Sequence[str]] = None, audience: Union[str, Sequence[str], None] = None,
    ttl: Optional[int] = None, claims: Optional[Mapping[str, Any]] = None, refresh: bool = False,
) -> Call[IssuedToken]:
    if claims is not None and not isinstance(claims, Mapping):
        raise TypeError(f"claims must be a dict, not {type(claims).__name__}")
    if not isinstance(refresh, bool):
        raise TypeError("refresh must be a bool")
    aud = _text("audience", audience) if isinstance(audience, str) else _texts("audience", audience)
    return Call("issue", _fields(
        sub=_text("subject", subject), roles=_texts("roles", roles), aud=aud,
        ttl=None if ttl is None else _integer("ttl", ttl), claims=None if claims is None else dict(claims),
        refresh=True if refresh else None), False, IssuedToken.from_result)


def verify(
    token: str, audience: Optional[str] = None, roles_any: Optional[Sequence[str]] = None,
    roles_all: Optional[Sequence[str]] = None,
) -> Call[Claims]:
    return Call("verify", _fields(
        token=_token("token", token), aud=None if audience is None else _text("audience", audience),
        roles_any=_texts("roles_any", roles_any), roles_all=_texts("roles_all", roles_all)), True, Claims.from_result)


def refresh(refresh_token: str) -> Call[IssuedToken]:
    return Call("refresh", {"refresh_token": _token("refresh_token", refresh_token)}, False, IssuedToken.from_result)


def revoke(
    token: Optional[str] = None, jti: Optional[str] = None, subject: Optional[str] = None,
    before: Optional[int] = None, refresh_token: Optional[str] = None,
) -> Call[Revocation]:
    given = [name for name, value in (("token", token), ("jti", jti), ("subject", subject), ("refresh_token", refresh_token))
             if value is not None]
    if len(given) != 1:
        raise ValueError("revoke takes exactly one of token=, jti=, subject= or refresh_token=")
    if before is not None and subject is None:
        raise ValueError("before= goes with subject=")
    fields = _fields(
        token=None if token is None else _token("token", token), jti=None if jti is None else _text("jti", jti),
        sub=None if subject is None else _text("subject", subject), before=None if before is None else _integer("before", before),
        refresh_token=None if refresh_token is None else _token("refresh_token", refresh_token))
    return Call("revoke", fields, False, Revocation.from_result)


def login(username: str, password: str, audience: Union[str, Sequence[str], None] = None) -> Call[IssuedToken]:
    aud = _text("audience", audience) if isinstance(audience, str) else _texts("audience", audience)
    return Call("login", _fields(
        username=_text("username", username), password=_text("password", password), aud=aud), False, IssuedToken.from_result)


def jwks() -> Call[List[Dict[str, Any]]]:
    def keys(result: Mapping[str, Any]) -> List[Dict[str, Any]]:
        value = result.get("keys")
        if not isinstance(value, list) or not all(isinstance(key, dict) for key in value):
            raise AuthdError("internal_error", "malformed reply from authd: 'keys' is not a list of objects")
        return list(value)
    return Call("jwks", {}, True, keys)


def status() -> Call[Status]:
    return Call("status", {}, True, Status.from_result)


def ping() -> Call[None]:
    return Call("ping", {}, True, lambda result: None)


def _user(op: str, username: str, **fields: Any) -> Call[User]:
    return Call(op, _fields(username=_text("username", username), **fields), False, lambda result: User.from_result(result.get("user")))


def user_add(username: str, password: str, roles: Optional[Sequence[str]] = None) -> Call[User]:
    return _user("user_add", username, password=_text("password", password), roles=_texts("roles", roles))


def user_set_password(username: str, password: str) -> Call[User]:
    return _user("user_set_password", username, password=_text("password", password))


def user_set_roles(username: str, roles: Sequence[str]) -> Call[User]:
    return _user("user_set_roles", username, roles=_texts("roles", roles) or [])


def user_disable(username: str) -> Call[User]:
    return _user("user_disable", username)


def user_enable(username: str) -> Call[User]:
    return _user("user_enable", username)


def user_delete(username: str) -> Call[User]:
    return _user("user_delete", username)


def user_list() -> Call[List[User]]:
    def users(result: Mapping[str, Any]) -> List[User]:
        value = result.get("users")
        if not isinstance(value, list):
            raise AuthdError("internal_error", "malformed reply from authd: 'users' is not a list")
        return [User.from_result(user) for user in value]
    return Call("user_list", {}, True, users)
