"""FastAPI integration: a dependency that lets a request through only with a valid token, and a
login helper for an ``OAuth2PasswordRequestForm`` endpoint (the tutorial's ``/login``).

Needs the extra: ``pip install authd-client[fastapi]``. Both use an :class:`authd.AsyncClient`, so
nothing blocks the event loop.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, Optional, Sequence

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordRequestForm

from ._errors import AuthdError, InsufficientRole, Unavailable
from ._model import Claims
from .aio import AsyncClient

_bearer = HTTPBearer(auto_error=False)
_default_client: Optional[AsyncClient] = None


def _client(client: Optional[AsyncClient]) -> AsyncClient:
    global _default_client
    if client is not None:
        return client
    if _default_client is None:
        _default_client = AsyncClient()
    return _default_client


def _unauthorized(detail: str, error: Optional[str] = None) -> HTTPException:
    challenge = "Bearer" if error is None else f'Bearer error="{error}"'
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": challenge})


def require(
    roles_any: Optional[Sequence[str]] = None, audience: Optional[str] = None, roles_all: Optional[Sequence[str]] = None,
    client: Optional[AsyncClient] = None,
) -> Callable[..., Awaitable[Claims]]:
    """A dependency that answers 401 (with ``WWW-Authenticate: Bearer``) for a missing, invalid,
    expired or revoked token, 403 for a missing role, 503 when authd cannot be reached (fail
    closed), and otherwise returns the token's :class:`authd.Claims`::

        @app.get("/admin")
        async def admin(claims: Claims = Depends(authd.fastapi.require(roles_any=["admin"]))): ...
    """

    async def dependency(credentials: Optional[HTTPAuthorizationCredentials] = Depends(_bearer)) -> Claims:
        if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
            raise _unauthorized("Not authenticated")
        try:
            return await _client(client).verify(credentials.credentials, audience, roles_any, roles_all)
        except ValueError:
            # Not even shaped like a token (whitespace, control characters): it is invalid.
            raise _unauthorized("invalid token", "invalid_token") from None
        except InsufficientRole as error:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=error.message) from None
        except Unavailable as error:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="authentication is unavailable") from error
        except AuthdError as error:
            if error.http_status == status.HTTP_401_UNAUTHORIZED:
                raise _unauthorized(error.message, "invalid_token") from None
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="authentication is unavailable") from error

    return dependency


async def login(form: OAuth2PasswordRequestForm, client: Optional[AsyncClient] = None) -> Dict[str, Any]:
    """Logs the form's user in with authd: ``{"access_token", "token_type": "bearer",
    "refresh_token"}``, the tutorial's answer; 401 for wrong credentials, 429 when locked out,
    503 when authd cannot be reached::

        @app.post("/login")
        async def login(form: OAuth2PasswordRequestForm = Depends()):
            return await authd.fastapi.login(form)
    """
    try:
        issued = await _client(client).login(form.username, form.password)
    except ValueError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(error)) from None
    except Unavailable as error:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="authentication is unavailable") from error
    except AuthdError as error:
        if error.http_status == status.HTTP_429_TOO_MANY_REQUESTS:
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, detail="too many failed logins; try again later") from None
        if error.http_status == status.HTTP_401_UNAUTHORIZED:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, detail="Incorrect username or password", headers={"WWW-Authenticate": "Bearer"}
            ) from None
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="authentication is unavailable") from error
    return {"access_token": issued.access_token, "token_type": "bearer", "refresh_token": issued.refresh_token}
