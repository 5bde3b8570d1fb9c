#!/usr/bin/env python3
"""Interoperability of authd's tokens with an independent JOSE library (PyJWT).

Starts the real authd binary three times (EdDSA, ES256, HS256), speaking the wire protocol
directly over the Unix socket, so this also shows that the protocol is usable from any language:

* a token authd issues verifies in PyJWT using only the key published by `jwks`
  (and PyJWT sees the RFC 9068 header and claims), and with the key PyJWT's own JWKS client
  fetches from the HTTP face's /.well-known/jwks.json, whose ETag answers 304;
* a token PyJWT signs with the HS256 secret verifies in authd, and one with a wrong secret does not.

Prints one line per check and a closing 'N passed, N failed' line; exits non-zero on any failure.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import jwt  # PyJWT

BIN_DIR = os.environ.get("AUTHD_BIN_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", ".build", "debug")
AUTHD = os.path.join(BIN_DIR, "authd")

passed = 0
failed = 0


def check(name, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


class Daemon:
    def __init__(self, config):
        self.dir = tempfile.mkdtemp(prefix="authd-py-")
        os.chmod(self.dir, 0o700)
        self.socket_path = os.path.join(self.dir, "authd.sock")
        config_path = os.path.join(self.dir, "authd.toml")
        with open(config_path, "w") as f:
            f.write(config.replace("@DIR@", self.dir))
        self.log = open(os.path.join(self.dir, "authd.log"), "w")
        self.process = subprocess.Popen(
            [AUTHD, "--socket", self.socket_path, "--state-dir", os.path.join(self.dir, "state"), "--config", config_path],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("authd exited: " + open(self.log.name).read())
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(self.socket_path)
                self.reader = self.sock.makefile("rb")
                self.call("ping")
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("authd did not start")

    def call(self, op, **fields):
        self.sock.sendall(json.dumps({"op": op, **fields}).encode() + b"\n")
        return json.loads(self.reader.readline())

    def stop(self):
        self.sock.close()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=20)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return code


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url, headers=None):
    """(status, headers, body) of a GET, 304 included; retried while the listener comes up."""
    deadline = time.time() + 20
    while True:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)


def asymmetric(algorithm):
    port = free_port()
    daemon = Daemon(f'[tokens]\nalgorithm = "{algorithm}"\nissuer = "authd-interop"\naudience = "api"\n'
                    f'[http]\nlisten = ["127.0.0.1:{port}"]\n')
    try:
        issued = daemon.call("issue", sub="alice", roles=["admin"], ttl=300)["result"]
        keys = daemon.call("jwks")["result"]["keys"]
        token = issued["access_token"]
        header = jwt.get_unverified_header(token)
        check(f"{algorithm}: header is alg/typ at+jwt/kid", header == {"alg": algorithm, "typ": "at+jwt", "kid": keys[0]["kid"]}, header)
        # Verify with nothing but the published JWK.
        jwk = jwt.PyJWK(next(k for k in keys if k["kid"] == header["kid"]))
        claims = jwt.decode(token, jwk.key, algorithms=[algorithm], audience="api", issuer="authd-interop",
                            options={"require": ["exp", "iat", "nbf", "sub", "jti", "iss", "aud"]})
        check(f"{algorithm}: PyJWT verifies authd's token with the JWKS key", claims["sub"] == "alice" and claims["roles"] == ["admin"], claims)
        check(f"{algorithm}: exp - iat is the requested ttl", claims["exp"] - claims["iat"] == 300, claims)
        # A verifier elsewhere: PyJWT's JWKS client fetches the keys over HTTP.
        url = f"http://127.0.0.1:{port}/.well-known/jwks.json"
        status, headers, _ = fetch(url)
        check(f"{algorithm}: the HTTP face serves the JWKS with an ETag", status == 200 and headers.get("ETag"), status)
        remote = jwt.PyJWKClient(url).get_signing_key_from_jwt(token)
        claims = jwt.decode(token, remote.key, algorithms=[algorithm], audience="api", issuer="authd-interop")
        check(f"{algorithm}: PyJWT verifies with the key its JWKS client fetched over HTTP", claims["sub"] == "alice", claims)
        status, _, body = fetch(url, {"If-None-Match": headers.get("ETag", "")})
        check(f"{algorithm}: the JWKS ETag answers 304 Not Modified", status == 304 and body == b"", status)
        tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        try:
            jwt.decode(tampered, jwk.key, algorithms=[algorithm], audience="api")
            check(f"{algorithm}: PyJWT refuses a tampered token", False)
        except jwt.InvalidTokenError:
            check(f"{algorithm}: PyJWT refuses a tampered token", True)
    finally:
        check(f"{algorithm}: daemon exits 0 on SIGTERM", daemon.stop() == 0)


def hs256():
    secret_dir = tempfile.mkdtemp(prefix="authd-secret-")
    secret_path = os.path.join(secret_dir, "hmac.key")
    secret = os.urandom(32).hex()  # 64 bytes of text
    fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, (secret + "\n").encode())
    os.close(fd)
    daemon = Daemon(f'[tokens]\nalgorithm = "HS256"\nhmac_secret_file = "{secret_path}"\n')
    try:
        kid = daemon.call("status")["result"]["active_kid"]
        check("HS256: jwks publishes no symmetric key", daemon.call("jwks")["result"]["keys"] == [])
        now = int(time.time())
        claims = {"iss": "authd", "sub": "svc-from-python", "aud": "local", "iat": now, "nbf": now, "exp": now + 60,
                  "jti": "py-" + os.urandom(16).hex(), "roles": ["reader"]}
        token = jwt.encode(claims, secret.encode(), algorithm="HS256", headers={"kid": kid, "typ": "at+jwt"})
        reply = daemon.call("verify", token=token, roles_all=["reader"])
        check("HS256: a token PyJWT signs verifies in authd", reply.get("ok") and reply["result"]["sub"] == "svc-from-python", reply)
        forged = jwt.encode(claims, b"x" * 64, algorithm="HS256", headers={"kid": kid, "typ": "at+jwt"})
        reply = daemon.call("verify", token=forged)
        check("HS256: a token signed with another secret is invalid_token", reply["error"]["code"] == "invalid_token", reply)
        untyped = jwt.encode(claims, secret.encode(), algorithm="HS256", headers={"kid": kid})
        reply = daemon.call("verify", token=untyped)
        check("HS256: PyJWT's default typ JWT is refused (at+jwt required)", reply["error"]["code"] == "invalid_token", reply)
        issued = daemon.call("issue", sub="bob")["result"]["access_token"]
        decoded = jwt.decode(issued, secret.encode(), algorithms=["HS256"], audience="local", issuer="authd")
        check("HS256: PyJWT verifies authd's token with the shared secret", decoded["sub"] == "bob", decoded)
    finally:
        check("HS256: daemon exits 0 on SIGTERM", daemon.stop() == 0)
        shutil.rmtree(secret_dir, ignore_errors=True)


def main():
    print(f"interop: PyJWT {jwt.__version__}, authd at {AUTHD}")
    for run in (lambda: asymmetric("EdDSA"), lambda: asymmetric("ES256"), hs256):
        try:
            run()
        except Exception as error:  # a crash is a failure, reported, not a traceback that hides the count
            check("interop run", False, repr(error))
    print(f"interop: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
