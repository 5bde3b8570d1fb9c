"""authd's Python client: issue, verify, refresh and revoke tokens over authd's Unix socket.

``Client`` blocks (and is safe to share between threads); ``AsyncClient`` is for asyncio (one
pipelined connection shared by every task). ``authd.fastapi`` holds a FastAPI dependency and a login
helper (install ``authd-client[fastapi]``). Every failure raises :class:`AuthdError` with the
daemon's ``code`` and the ``http_status`` a service answers for it.
"""
from ._errors import AuthdError, InsufficientRole, InvalidToken, Unavailable
from ._model import Claims, IssuedToken, Revocation, Status, User
from .aio import AsyncClient
from .client import Client

__all__ = [
    "AsyncClient",
    "AuthdError",
    "Claims",
    "Client",
    "InsufficientRole",
    "InvalidToken",
    "IssuedToken",
    "Revocation",
    "Status",
    "Unavailable",
    "User",
]
__version__ = "0.1.0"
