"""The tutorial's story against the real daemon, over HTTP (httpx to the app): 401 without a token,
200 as a user, 403 on /admin as a user, 200 as an admin, and 401 after `authctl revoke`: the line
the tutorial could never pass. Also 503, not a pass, when authd is down (fail closed)."""
from __future__ import annotations

import asyncio
import os
import sys

import httpx

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python", "tests"))
from conftest import Daemon  # noqa: E402


def test_the_tutorials_story() -> None:
    daemon = Daemon()
    os.environ["AUTHD_SOCKET"] = daemon.socket
    try:
        asyncio.run(_story(daemon))
    finally:
        daemon.close()


async def _story(daemon: Daemon) -> None:
    import authd
    import main

    async with authd.AsyncClient(daemon.socket) as admin_client:
        await admin_client.user_add("johndoe", "secretpassword", roles=["user"])
        await admin_client.user_add("alice", "wonderland-admin", roles=["admin"])
    transport = httpx.ASGITransport(app=main.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tutorial") as http:
        assert (await http.get("/protected")).status_code == 401
        assert (await http.get("/protected")).headers["www-authenticate"].startswith("Bearer")
        wrong = await http.post("/login", data={"username": "johndoe", "password": "nope"})
        assert wrong.status_code == 401
        login = await http.post("/login", data={"username": "johndoe", "password": "secretpassword"})
        assert login.status_code == 200, login.text
        body = login.json()
        assert body["token_type"] == "bearer" and body["access_token"] and body["refresh_token"]
        user = {"Authorization": f"Bearer {body['access_token']}"}
        protected = await http.get("/protected", headers=user)
        assert protected.status_code == 200 and protected.json() == {"message": "Hello, johndoe! You are authenticated."}
        assert (await http.get("/admin", headers=user)).status_code == 403
        admin_token = (await http.post("/login", data={"username": "alice", "password": "wonderland-admin"})).json()["access_token"]
        assert (await http.get("/admin", headers={"Authorization": f"Bearer {admin_token}"})).status_code == 200
        # Revoked with authctl, as an operator would: refused at once.
        daemon.authctl("revoke", body["access_token"])
        revoked = await http.get("/protected", headers=user)
        assert revoked.status_code == 401 and "invalid_token" in revoked.headers["www-authenticate"]
        assert (await http.get("/protected", headers={"Authorization": "Bearer not.a.token"})).status_code == 401
        # authd down: fail closed.
        daemon.stop()
        down = await http.get("/protected", headers={"Authorization": f"Bearer {admin_token}"})
        assert down.status_code == 503
        daemon.start()
        assert (await http.get("/admin", headers={"Authorization": f"Bearer {admin_token}"})).status_code == 200
