"""The seed tutorial's FastAPI app (/login, /protected, /admin), rebuilt on authd.

No signing secret, no password dictionary, no PyJWT: authd checks passwords (argon2id), issues and
verifies the tokens, knows the roles, and honours revocation. Run it next to authd:

    pip install 'authd-client[fastapi]' uvicorn
    authctl user add johndoe --role user          # the tutorial's user, in authd's database
    uvicorn main:app
"""
from __future__ import annotations

from typing import Dict

from fastapi import Depends, FastAPI
from fastapi.security import OAuth2PasswordRequestForm

import authd.fastapi
from authd import Claims

app = FastAPI(title="The tutorial's API, on authd")


@app.post("/login")
async def login(form: OAuth2PasswordRequestForm = Depends()) -> Dict[str, object]:
    """The tutorial's login: {"access_token", "token_type": "bearer"} (and a refresh token)."""
    return await authd.fastapi.login(form)


@app.get("/protected")
async def protected_route(current_user: Claims = Depends(authd.fastapi.require())) -> Dict[str, str]:
    return {"message": f"Hello, {current_user.subject}! You are authenticated."}


@app.get("/admin")
async def admin_route(current_user: Claims = Depends(authd.fastapi.require(roles_any=["admin"]))) -> Dict[str, str]:
    return {"message": "Welcome, admin!"}
