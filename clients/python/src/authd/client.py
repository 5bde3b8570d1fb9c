"""The blocking client: one request at a time per connection, connections pooled across threads."""
from __future__ import annotations

import select
import socket as _socket
import threading
from typing import Any, Dict, List, Mapping, Optional, Sequence, TypeVar, Union

from . import _ops
from ._errors import AuthdError, unreachable
from ._model import Claims, IssuedToken, Revocation, Status, User

T = TypeVar("T")

# Idle connections kept for reuse; more may be open while more threads call at once.
_IDLE_CONNECTIONS = 8
_MAX_REPLY_BYTES = 16 * 1024 * 1024


class _Connection:
    def __init__(self, path: str, timeout: float) -> None:
        self.socket = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            self.socket.settimeout(timeout)
            self.socket.connect(path)
        except BaseException:
            self.socket.close()
            raise
        self.reader = self.socket.makefile("rb")

    def is_stale(self) -> bool:
        """Whether the daemon closed it while it sat idle (it restarted, or timed it out). An idle
        connection has nothing to read; anything readable is its end (or garbage): not reused."""
        try:
            readable, _, _ = select.select([self.socket], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        self.reader.close()
        self.socket.close()


class Client:
    """A blocking authd client; safe to share between threads.

    ``socket`` defaults to ``$AUTHD_SOCKET``, then ``/run/authd/authd.sock``; ``timeout`` (seconds)
    bounds connecting and each reply. A call whose connection broke before its reply raises
    :class:`authd.Unavailable` (``daemon_unreachable``), except that an idempotent one (``verify``,
    ``jwks``, ``status``, ``ping``) is tried once more on a new connection first. After authd
    restarts, the next call simply reconnects.
    """

    def __init__(self, socket: Optional[str] = None, timeout: float = 5.0) -> None:
        self.socket_path = _ops.socket_path(socket)
        self.timeout = timeout
        self._idle: List[_Connection] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        """Closes the idle connections (those in use close when their call ends)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()

    def _take(self) -> _Connection:
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                try:
                    return _Connection(self.socket_path, self.timeout)
                except OSError as error:
                    raise unreachable(f"cannot connect to {self.socket_path}: {error}") from error
            if not connection.is_stale():
                return connection
            connection.close()

    def _give_back(self, connection: _Connection) -> None:
        with self._lock:
            if len(self._idle) < _IDLE_CONNECTIONS:
                self._idle.append(connection)
                return
        connection.close()

    def _run(self, call: _ops.Call[T]) -> T:
        line = call.line()
        for attempt in (1, 2):
            connection = self._take()
            try:
                connection.socket.sendall(line)
            except OSError as error:
                # Not (wholly) sent: authd acts on a line only once its newline has arrived, so
                # any op may go again, on a new connection.
                connection.close()
                if attempt == 1:
                    continue
                raise unreachable(f"cannot send {call.op}: {error}") from error
            try:
                reply = connection.reader.readline(_MAX_REPLY_BYTES)
                if not reply.endswith(b"\n"):
                    raise ConnectionError("authd closed the connection before its reply")
            except OSError as error:
                # Sent, but no reply: it may have taken effect. Only an idempotent op goes again.
                connection.close()
                if attempt == 1 and call.idempotent:
                    continue
                raise unreachable(f"no reply to {call.op}: {error}") from error
            self._give_back(connection)
            _, result = _ops.parse_reply(reply)
            if isinstance(result, AuthdError):
                raise result
            return call.parse(result)
        raise AssertionError("unreachable")

    # The ops. Each raises AuthdError (or a subclass) with the daemon's code when refused.

    def issue(
        self, subject: str, roles: Optional[Sequence[str]] = None, audience: Union[str, Sequence[str], None] = None,
        ttl: Optional[int] = None, claims: Optional[Mapping[str, Any]] = None, refresh: bool = False,
    ) -> IssuedToken:
        """A token for ``subject`` (and a refresh token with ``refresh=True``)."""
        return self._run(_ops.issue(subject, roles, audience, ttl, claims, refresh))

    def verify(
        self, token: str, audience: Optional[str] = None, roles_any: Optional[Sequence[str]] = None,
        roles_all: Optional[Sequence[str]] = None,
    ) -> Claims:
        """The token's claims; raises InvalidToken (401) or InsufficientRole (403)."""
        return self._run(_ops.verify(token, audience, roles_any, roles_all))

    def refresh(self, refresh_token: str) -> IssuedToken:
        """A new token and refresh token; the presented one is spent."""
        return self._run(_ops.refresh(refresh_token))

    def revoke(
        self, *, token: Optional[str] = None, jti: Optional[str] = None, subject: Optional[str] = None,
        before: Optional[int] = None, refresh_token: Optional[str] = None,
    ) -> Revocation:
        """Revokes durably (exactly one of token=, jti=, subject= [with before=], refresh_token=)."""
        return self._run(_ops.revoke(token, jti, subject, before, refresh_token))

    def login(self, username: str, password: str, audience: Union[str, Sequence[str], None] = None) -> IssuedToken:
        """A token and refresh token for a user of authd's database."""
        return self._run(_ops.login(username, password, audience))

    def jwks(self) -> List[Dict[str, Any]]:
        """The public keys (JWKs) that verify authd's tokens."""
        return self._run(_ops.jwks())

    def status(self) -> Status:
        return self._run(_ops.status())

    def ping(self) -> None:
        self._run(_ops.ping())

    def user_add(self, username: str, password: str, roles: Optional[Sequence[str]] = None) -> User:
        return self._run(_ops.user_add(username, password, roles))

    def user_set_password(self, username: str, password: str) -> User:
        return self._run(_ops.user_set_password(username, password))

    def user_set_roles(self, username: str, roles: Sequence[str]) -> User:
        return self._run(_ops.user_set_roles(username, roles))

    def user_disable(self, username: str) -> User:
        return self._run(_ops.user_disable(username))

    def user_enable(self, username: str) -> User:
        return self._run(_ops.user_enable(username))

    def user_delete(self, username: str) -> User:
        return self._run(_ops.user_delete(username))

    def user_list(self) -> List[User]:
        return self._run(_ops.user_list())
