"""The asyncio client: one connection shared by every task, requests pipelined, replies matched by id."""
from __future__ import annotations

import asyncio
import itertools
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, TypeVar, Union

from . import _ops
from ._errors import AuthdError, unreachable
from ._model import Claims, IssuedToken, Revocation, Status, User

T = TypeVar("T")

_MAX_REPLY_BYTES = 16 * 1024 * 1024


class _Lost(Exception):
    """The connection ended before the reply."""


class _Connection:
    """One pipelined connection: a reader task resolves each request's future by its id."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.pending: Dict[int, asyncio.Future[bytes]] = {}
        # Requests whose callers stopped waiting (timed out, cancelled): their replies are dropped.
        self.abandoned: Set[int] = set()
        self.ids = itertools.count(1)
        self.closed = False
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        reason: BaseException = _Lost("authd closed the connection")
        try:
            while True:
                line = await self.reader.readline()
                if not line.endswith(b"\n"):
                    break
                request_id, _ = _ops.parse_reply(line)
                if request_id in self.abandoned:
                    self.abandoned.discard(request_id)
                    continue
                future = self.pending.pop(request_id, None) if isinstance(request_id, int) else None
                if future is None:
                    # A reply to no request of ours (the daemon refusing the connection, say):
                    # nothing on this connection can be trusted to match any more.
                    reason = _Lost("authd sent a reply that matches no request")
                    break
                if not future.done():
                    future.set_result(line)
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            reason = _Lost(str(error))
        finally:
            self.fail(reason)

    def fail(self, reason: BaseException) -> None:
        self.closed = True
        pending, self.pending = self.pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(reason)
        self.writer.close()

    async def send(self, call: _ops.Call[Any], timeout: float) -> bytes:
        request_id = next(self.ids)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        try:
            self.writer.write(call.line(request_id))
            await self.writer.drain()
        except (OSError, RuntimeError) as error:
            self.pending.pop(request_id, None)
            self.fail(_Lost(str(error)))
            raise _Unsent(str(error)) from error
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            if self.pending.pop(request_id, None) is not None and not self.closed:
                self.abandoned.add(request_id)


class _Unsent(Exception):
    """The request did not leave: any op may be sent again."""


class AsyncClient:
    """An asyncio authd client: every task shares one connection, requests are pipelined and
    replies matched by id, so a service awaiting many verifications at once needs one socket.

    ``socket`` defaults to ``$AUTHD_SOCKET``, then ``/run/authd/authd.sock``; ``timeout`` (seconds)
    bounds connecting and each reply. A call whose connection broke before its reply raises
    :class:`authd.Unavailable` (``daemon_unreachable``), except that an idempotent one (``verify``,
    ``jwks``, ``status``, ``ping``) is tried once more on a new connection first. After authd
    restarts, the next call reconnects. Use it from one event loop.
    """

    def __init__(self, socket: Optional[str] = None, timeout: float = 5.0) -> None:
        self.socket_path = _ops.socket_path(socket)
        self.timeout = timeout
        self._connection: Optional[_Connection] = None
        self._connecting: Optional[asyncio.Lock] = None

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.fail(_Lost("the client was closed"))
            connection.task.cancel()
            try:
                await connection.writer.wait_closed()
            except OSError:
                pass

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exception: object) -> None:
        await self.close()

    async def _open(self) -> _Connection:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._connection is None or self._connection.closed:
                try:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_unix_connection(self.socket_path, limit=_MAX_REPLY_BYTES), self.timeout)
                except (OSError, asyncio.TimeoutError) as error:
                    raise unreachable(f"cannot connect to {self.socket_path}: {error}") from error
                self._connection = _Connection(reader, writer)
            return self._connection

    async def _run(self, call: _ops.Call[T]) -> T:
        for attempt in (1, 2):
            connection = await self._open()
            try:
                line = await connection.send(call, self.timeout)
            except _Unsent as error:
                if attempt == 1:
                    continue
                raise unreachable(f"cannot send {call.op}: {error}") from error
            except _Lost as error:
                if attempt == 1 and call.idempotent:
                    continue
                raise unreachable(f"no reply to {call.op}: {error}") from error
            except asyncio.TimeoutError as error:
                raise unreachable(f"no reply to {call.op} within {self.timeout} s") from error
            _, result = _ops.parse_reply(line)
            if isinstance(result, AuthdError):
                raise result
            return call.parse(result)
        raise AssertionError("unreachable")

    # The ops, as Client's; each raises AuthdError (or a subclass) with the daemon's code.

    async def issue(
        self, subject: str, roles: Optional[Sequence[str]] = None, audience: Union[str, Sequence[str], None] = None,
        ttl: Optional[int] = None, claims: Optional[Mapping[str, Any]] = None, refresh: bool = False,
    ) -> IssuedToken:
        return await self._run(_ops.issue(subject, roles, audience, ttl, claims, refresh))

    async def verify(
        self, token: str, audience: Optional[str] = None, roles_any: Optional[Sequence[str]] = None,
        roles_all: Optional[Sequence[str]] = None,
    ) -> Claims:
        return await self._run(_ops.verify(token, audience, roles_any, roles_all))

    async def refresh(self, refresh_token: str) -> IssuedToken:
        return await self._run(_ops.refresh(refresh_token))

    async def revoke(
        self, *, token: Optional[str] = None, jti: Optional[str] = None, subject: Optional[str] = None,
        before: Optional[int] = None, refresh_token: Optional[str] = None,
    ) -> Revocation:
        return await self._run(_ops.revoke(token, jti, subject, before, refresh_token))

    async def login(self, username: str, password: str, audience: Union[str, Sequence[str], None] = None) -> IssuedToken:
        return await self._run(_ops.login(username, password, audience))

    async def jwks(self) -> List[Dict[str, Any]]:
        return await self._run(_ops.jwks())

    async def status(self) -> Status:
        return await self._run(_ops.status())

    async def ping(self) -> None:
        await self._run(_ops.ping())

    async def user_add(self, username: str, password: str, roles: Optional[Sequence[str]] = None) -> User:
        return await self._run(_ops.user_add(username, password, roles))

    async def user_set_password(self, username: str, password: str) -> User:
        return await self._run(_ops.user_set_password(username, password))

    async def user_set_roles(self, username: str, roles: Sequence[str]) -> User:
        return await self._run(_ops.user_set_roles(username, roles))

    async def user_disable(self, username: str) -> User:
        return await self._run(_ops.user_disable(username))

    async def user_enable(self, username: str) -> User:
        return await self._run(_ops.user_enable(username))

    async def user_delete(self, username: str) -> User:
        return await self._run(_ops.user_delete(username))

    async def user_list(self) -> List[User]:
        return await self._run(_ops.user_list())
