"""authd.AsyncClient against the real daemon: one pipelined connection shared by many tasks."""
from __future__ import annotations

import asyncio

import pytest

import authd
from conftest import Daemon


def test_every_op_and_errors(daemon: Daemon) -> None:
    async def run() -> None:
        async with authd.AsyncClient(daemon.socket) as client:
            await client.ping()
            issued = await client.issue("alice", roles=["user"], refresh=True)
            assert (await client.verify(issued.access_token, roles_any=["user"])).subject == "alice"
            assert issued.refresh_token is not None
            assert (await client.refresh(issued.refresh_token)).refresh_token
            assert (await client.revoke(token=issued.access_token)).revoked == 1
            with pytest.raises(authd.InvalidToken) as revoked:
                await client.verify(issued.access_token)
            assert revoked.value.code == "token_revoked"
            other = await client.issue("bob", roles=["user"])
            with pytest.raises(authd.InsufficientRole):
                await client.verify(other.access_token, roles_any=["admin"])
            assert await client.jwks()
            assert (await client.status()).pid > 0
            assert (await client.user_add("carol", "correct horse", roles=["user"])).roles == ["user"]
            assert (await client.login("carol", "correct horse")).access_token
            assert (await client.user_set_roles("carol", ["ops"])).roles == ["ops"]
            assert (await client.user_set_password("carol", "battery staple")).username == "carol"
            assert (await client.user_disable("carol")).disabled
            assert not (await client.user_enable("carol")).disabled
            assert [user.username for user in await client.user_list()] == ["carol"]
            assert (await client.user_delete("carol")).username == "carol"
            with pytest.raises(ValueError):
                await client.verify("a\nb")
            assert (await client.verify(other.access_token)).subject == "bob"
        with pytest.raises(authd.Unavailable):
            await authd.AsyncClient(daemon.socket + ".missing", timeout=1).ping()

    asyncio.run(run())


def test_500_concurrent_tasks_each_get_their_own_reply(daemon: Daemon) -> None:
    async def run() -> None:
        async with authd.AsyncClient(daemon.socket) as client:
            tokens = [(await client.issue(f"user-{index}", roles=[f"role-{index}"])).access_token for index in range(50)]

            async def check(index: int) -> str:
                claims = await client.verify(tokens[index % 50])
                assert claims.roles == [f"role-{index % 50}"]
                return claims.subject

            subjects = await asyncio.gather(*(check(index) for index in range(500)))
            assert subjects == [f"user-{index % 50}" for index in range(500)]
            # Errors are matched too: half refused, half served, each to its own task.
            results = await asyncio.gather(
                *(client.verify(tokens[index % 50], roles_any=["role-0"]) for index in range(100)), return_exceptions=True)
            assert all((index % 50 == 0) == (not isinstance(result, Exception)) for index, result in enumerate(results))
            assert all(isinstance(result, authd.InsufficientRole) for result in results if isinstance(result, Exception))

    asyncio.run(run())


def test_a_restart_in_the_middle(daemon: Daemon) -> None:
    async def run() -> None:
        async with authd.AsyncClient(daemon.socket) as client:
            token = (await client.issue("gina")).access_token
            assert (await client.verify(token)).subject == "gina"
            daemon.restart()
            # verify is idempotent: retried once on a new connection, so this succeeds.
            assert (await client.verify(token)).subject == "gina"
            daemon.restart()
            # issue is not retried; the next call after a failed one reconnects.
            try:
                await client.issue("hank")
            except authd.Unavailable:
                pass
            assert (await client.issue("hank")).access_token

    asyncio.run(run())


def test_a_reply_that_comes_too_late_is_dropped_and_the_connection_carries_on(daemon: Daemon) -> None:
    import os
    import signal

    async def run() -> None:
        async with authd.AsyncClient(daemon.socket) as client:
            token = (await client.issue("ivy")).access_token
            assert daemon.process is not None
            os.kill(daemon.process.pid, signal.SIGSTOP)
            # A short timeout only while authd cannot answer: the calls around it keep the default,
            # so a slow machine cannot fail them.
            client.timeout = 0.5
            try:
                with pytest.raises(authd.Unavailable) as late:
                    await client.verify(token)
                assert late.value.code == "daemon_unreachable"
            finally:
                client.timeout = 5.0
                os.kill(daemon.process.pid, signal.SIGCONT)
            # The stopped request's reply now arrives for nobody; the next one gets its own.
            claims = await client.verify(token)
            assert claims.subject == "ivy"
            assert (await client.issue("jack")).access_token

    asyncio.run(run())
