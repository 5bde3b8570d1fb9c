"""The seed tutorial's service, as it teaches it: FastAPI + PyJWT, HS256, users in a dict.

POST /login returns a bearer token with a role; GET /protected needs a valid token (401);
GET /admin needs the admin role (403). `make bench-compare` drives /protected with wrk to compare
it with authd's verify. Run: uvicorn fastapi_app:app --loop uvloop --http httptools
"""
from datetime import datetime, timedelta, timezone

import jwt
from fastapi import Depends, FastAPI, HTTPException, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

SECRET_KEY = "bench-secret-key-of-at-least-32-bytes!!"
ALGORITHM = "HS256"
ACCESS_TOKEN_EXPIRE_MINUTES = 30

app = FastAPI()
security = HTTPBearer()
fake_users_db = {
    "johndoe": {"username": "johndoe", "password": "secretpassword", "role": "user"},
    "admin": {"username": "admin", "password": "adminpassword", "role": "admin"},
}


class Login(BaseModel):
    username: str
    password: str


def create_jwt_token(data: dict, role: str) -> str:
    to_encode = data.copy()
    to_encode.update({"role": role, "exp": datetime.now(timezone.utc) + timedelta(minutes=ACCESS_TOKEN_EXPIRE_MINUTES)})
    return jwt.encode(to_encode, SECRET_KEY, algorithm=ALGORITHM)


def verify_jwt_token(token: str):
    try:
        return jwt.decode(token, SECRET_KEY, algorithms=[ALGORITHM])
    except jwt.PyJWTError:
        return None


@app.post("/login")
async def login(user: Login):
    db_user = fake_users_db.get(user.username)
    if not db_user or db_user["password"] != user.password:
        raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail="Invalid username or password")
    return {"access_token": create_jwt_token({"sub": user.username}, db_user["role"]), "token_type": "bearer"}


async def get_current_user(credentials: HTTPAuthorizationCredentials = Security(security)):
    payload = verify_jwt_token(credentials.credentials)
    if payload is None:
        raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail="Invalid or expired token")
    return payload


@app.get("/protected")
async def protected_route(current_user: dict = Depends(get_current_user)):
    return {"message": f"Hello, {current_user['sub']}! You are authenticated."}


@app.get("/admin")
async def admin_route(current_user: dict = Depends(get_current_user)):
    if current_user.get("role") != "admin":
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Access forbidden")
    return {"message": "Welcome, admin!"}
