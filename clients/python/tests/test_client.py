"""authd.Client against the real daemon: every op, every error class, threads, a restart, bad input."""
from __future__ import annotations

import threading
import time

import pytest

import authd
from conftest import Daemon


def test_every_op(daemon: Daemon) -> None:
    client = authd.Client(daemon.socket)
    client.ping()
    issued = client.issue("alice", roles=["user", "ops"], audience="local", ttl=600, claims={"team": "blue"}, refresh=True)
    assert issued.token_type == "Bearer" and issued.expires_in == 600 and issued.refresh_token
    claims = client.verify(issued.access_token, roles_any=["ops"], roles_all=["user", "ops"])
    assert (claims.subject, claims.roles, claims.audience, claims.jti) == ("alice", ["user", "ops"], ["local"], issued.jti)
    assert claims.claims["team"] == "blue" and claims.expires_at == issued.expires_at
    assert issued.refresh_token is not None
    renewed = client.refresh(issued.refresh_token)
    assert renewed.access_token != issued.access_token and renewed.refresh_token
    assert client.revoke(token=issued.access_token).revoked == 1
    assert client.revoke(jti="some-jti").revoked == 1
    assert client.revoke(subject="nobody", before=int(time.time())).revoked == 1
    assert renewed.refresh_token is not None
    assert client.revoke(refresh_token=renewed.refresh_token).revoked == 1
    keys = client.jwks()
    assert keys and keys[0]["kty"] == "OKP"
    status = client.status()
    assert status.active_kid == keys[-1]["kid"] or status.active_kid in [key["kid"] for key in keys]
    assert status.pid > 0 and status.raw["counters"]["issued"] >= 2

    user = client.user_add("carol", "correct horse", roles=["user"])
    assert (user.username, user.roles, user.disabled) == ("carol", ["user"], False)
    login = client.login("carol", "correct horse")
    assert client.verify(login.access_token).subject == "carol" and login.refresh_token
    assert client.user_set_roles("carol", ["admin"]).roles == ["admin"]
    assert client.user_set_password("carol", "battery staple").username == "carol"
    assert client.user_disable("carol").disabled is True
    assert client.user_enable("carol").disabled is False
    assert [user.username for user in client.user_list()] == ["carol"]
    assert client.user_delete("carol").username == "carol"
    assert client.user_list() == []
    client.close()


def test_error_classes(daemon: Daemon) -> None:
    client = authd.Client(daemon.socket)
    token = client.issue("bob", roles=["user"]).access_token
    with pytest.raises(authd.InsufficientRole) as forbidden:
        client.verify(token, roles_any=["admin"])
    assert (forbidden.value.code, forbidden.value.http_status) == ("insufficient_role", 403)
    with pytest.raises(authd.InvalidToken) as forged:
        client.verify(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
    assert (forged.value.code, forged.value.http_status) == ("invalid_token", 401)
    with pytest.raises(authd.InvalidToken) as audience:
        client.verify(token, audience="elsewhere")
    assert audience.value.code == "wrong_audience"
    client.revoke(token=token)
    with pytest.raises(authd.InvalidToken) as revoked:
        client.verify(token)
    assert revoked.value.code == "token_revoked"
    client.user_add("dave", "correct horse")
    with pytest.raises(authd.AuthdError) as exists:
        client.user_add("dave", "correct horse")
    assert (exists.value.code, exists.value.http_status) == ("user_exists", 409)
    with pytest.raises(authd.AuthdError) as unknown:
        client.user_delete("nobody")
    assert (unknown.value.code, unknown.value.http_status) == ("unknown_user", 404)
    with pytest.raises(authd.AuthdError) as credentials:
        client.login("dave", "wrong password")
    assert (credentials.value.code, credentials.value.http_status) == ("invalid_credentials", 401)
    with pytest.raises(authd.AuthdError) as spent:
        client.refresh("not-a-refresh-token")
    assert spent.value.code == "invalid_refresh_token"

    nowhere = authd.Client(daemon.socket + ".missing", timeout=1)
    with pytest.raises(authd.Unavailable) as unreachable:
        nowhere.ping()
    assert (unreachable.value.code, unreachable.value.http_status) == ("daemon_unreachable", 503)


def test_bad_input_is_refused_before_sending(daemon: Daemon) -> None:
    client = authd.Client(daemon.socket)
    token = client.issue("erin").access_token
    with pytest.raises(ValueError, match="control characters"):
        client.verify(token + "\n" + '{"op":"issue","sub":"mallory"}')
    with pytest.raises(ValueError, match="whitespace"):
        client.verify("Bearer " + token)
    with pytest.raises(TypeError, match="subject must be a str"):
        client.issue(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="roles must be a list"):
        client.issue("erin", roles="admin")
    with pytest.raises(TypeError, match="ttl must be an int"):
        client.issue("erin", ttl="600")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one"):
        client.revoke(token=token, jti="x")
    with pytest.raises(ValueError, match="must not be empty"):
        client.verify("")
    # Nothing went out of step: the same client carries on, and nobody issued a token for mallory.
    assert client.verify(token).subject == "erin"
    assert client.status().raw["counters"]["issued"] == 1


HOSTILE_TOKENS = [
    "a.b.c", "....", "eyJ", "x" * 100_000, "é.é.é", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    "eyJhbGciOiJIUzI1NiJ9.e30.c2ln", '{"op":"issue"}', "\\u0000", "null",
]


@pytest.mark.parametrize("token", HOSTILE_TOKENS)
def test_hostile_tokens(daemon: Daemon, token: str) -> None:
    client = authd.Client(daemon.socket)
    good = client.issue("frank").access_token
    with pytest.raises(authd.AuthdError) as refused:
        client.verify(token)
    assert refused.value.http_status in (400, 401)
    assert client.verify(good).subject == "frank"


def test_threads_share_one_client(daemon: Daemon) -> None:
    client = authd.Client(daemon.socket)
    tokens = [client.issue(f"user-{index}").access_token for index in range(16)]
    failures: list = []

    def work(index: int) -> None:
        try:
            for _ in range(200):
                assert client.verify(tokens[index]).subject == f"user-{index}"
        except Exception as error:  # collected, then asserted on the main thread
            failures.append(error)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_a_restart_in_the_middle(daemon: Daemon) -> None:
    client = authd.Client(daemon.socket)
    token = client.issue("gina").access_token
    assert client.verify(token).subject == "gina"
    daemon.restart()
    # The pooled connection died with the old process: the next calls reconnect.
    assert client.verify(token).subject == "gina"
    assert client.issue("gina").access_token
    daemon.restart()
    assert client.issue("hank").access_token


def test_a_reply_that_comes_too_late_is_an_unavailable_error(daemon: Daemon) -> None:
    import os
    import signal

    client = authd.Client(daemon.socket)
    token = client.issue("ivy").access_token
    assert daemon.process is not None
    os.kill(daemon.process.pid, signal.SIGSTOP)
    impatient = authd.Client(daemon.socket, timeout=0.5)
    try:
        with pytest.raises(authd.Unavailable):
            impatient.issue("never-answered-in-time")
    finally:
        os.kill(daemon.process.pid, signal.SIGCONT)
    # The connection that timed out is dropped, not reused out of step.
    impatient.timeout = 5.0
    assert impatient.verify(token).subject == "ivy"
    assert client.verify(token).subject == "ivy"
