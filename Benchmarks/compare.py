#!/usr/bin/env python3
"""make bench-compare: authd against what a user would pick instead, on this machine, in one run.

Contenders, each driven the same way and interleaved round by round (client and server share the
cores, so anything else would compare placements, not programs):
  - authd (release build): verify of a hot token set, verify of always-new tokens, issue, revoke
    (durable), and verify latency on one connection without pipelining, via `authctl bench`;
  - MUNGE (Debian's munged on a private socket and key): `remunge` encode, and encode+decode;
  - the seed's stack: FastAPI + PyJWT (uvicorn, uvloop, httptools) serving /protected, driven by wrk;
  - raw swift-crypto Ed25519 verification on all cores (authd-crypto-baseline), the ceiling for a
    cold verify.
Then memory and start-up: idle RSS, RSS and start-to-ready time with 1,000,000 and 10,000,000
revoked jtis (issue #16), and socket activation to first reply. Prints every round, then a table of the best values against the targets
of issue #6, and the HTTP face: nginx with auth_request to authd against the same nginx without
auth and against the FastAPI app (issue #13), and the Python client against PyJWT in-process (issue
#14). Environment: BIN_DIR (release binaries), ROUNDS (default 2), DURATION (seconds, default 5),
ONLY=http, ONLY=python, ONLY=latency, ONLY=issue, ONLY=denylist or ONLY=instructions (those rows
alone).
"""
import base64
import json
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import benchsupport
from benchsupport import free_port, log, spawn, stop

BIN = os.environ["BIN_DIR"]
ROUNDS = int(os.environ.get("ROUNDS", "2"))
DURATION = float(os.environ.get("DURATION", "5"))
HERE = os.path.dirname(os.path.abspath(__file__))
WORK = tempfile.mkdtemp(prefix="authd-bench-")
CORES = os.cpu_count() or 2


def wait_for(predicate, timeout=30, what="something"):
    benchsupport.wait_for(predicate, timeout, what, name="bench-compare")


def pings(path):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(2)
            connection.connect(path)
            connection.sendall(b'{"op":"ping"}\n')
            return b'"ok":true' in connection.recv(4096)
    except OSError:
        return False


def status_kib(pid, field):
    """A size from /proc/<pid>/status, in KiB: VmRSS (all resident pages), RssAnon (the process's
    own memory, without the pages of the binary and libraries it maps)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_kib(pid):
    return status_kib(pid, "VmRSS")


# --- authd --------------------------------------------------------------------------------------

class Authd:
    def __init__(self, name, config=""):
        self.directory = os.path.join(WORK, name)
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        self.socket = os.path.join(self.directory, "authd.sock")
        self.state = os.path.join(self.directory, "state")
        self.config = os.path.join(self.directory, "authd.toml")
        with open(self.config, "w") as file:
            file.write(config)
        self.process = None

    def arguments(self):
        return [f"{BIN}/authd", "--socket", self.socket, "--state-dir", self.state, "--config", self.config]

    def start(self):
        self.log = open(os.path.join(self.directory, "authd.log"), "a")
        started = time.monotonic()
        self.process = spawn(self.arguments(), stdout=self.log, stderr=self.log)
        wait_for(lambda: pings(self.socket), what="authd to answer")
        return time.monotonic() - started

    def stop(self):
        stop(self.process)

    def bench(self, op, connections=16, depth=8, duration=DURATION, tokens=None):
        arguments = [f"{BIN}/authctl", "--socket", self.socket, "--json", "bench", "--op", op,
                     "--connections", str(connections), "--depth", str(depth), "--duration", str(duration)]
        if tokens:
            arguments += ["--tokens", str(tokens)]
        result = subprocess.run(arguments, capture_output=True, text=True, check=True)
        return json.loads(result.stdout)


def hs256_authd(name):
    """A started authd that signs with HS256 and a secret of its own."""
    secret = os.path.join(WORK, f"{name}.key")
    with open(secret, "w") as file:
        file.write(os.urandom(32).hex())
    os.chmod(secret, 0o600)
    authd = Authd(name, f'[tokens]\nalgorithm = "HS256"\nhmac_secret_file = "{secret}"\n')
    authd.start()
    return authd


# --- MUNGE --------------------------------------------------------------------------------------

class Munge:
    def __init__(self, name="munge"):
        self.directory = os.path.join(WORK, name)
        os.makedirs(self.directory, mode=0o700)
        self.socket = os.path.join(self.directory, "munge.socket")
        key = os.path.join(self.directory, "munge.key")
        with open(key, "wb") as file:
            file.write(os.urandom(1024))
        os.chmod(key, 0o600)
        self.process = spawn(["munged", "--foreground", "--force", f"--socket={self.socket}", f"--key-file={key}",
                              f"--pid-file={self.directory}/munged.pid", f"--log-file={self.directory}/munged.log",
                              f"--seed-file={self.directory}/munged.seed", f"--num-threads={CORES}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(self.socket), what="munged")

    def remunge(self, decode):
        arguments = ["remunge", "--quiet", f"--socket={self.socket}", "--num-threads=16", f"--duration={int(DURATION)}"]
        if decode:
            arguments.append("--decode")
        result = subprocess.run(arguments, capture_output=True, text=True, check=True)
        return float(result.stdout.split()[0])


# --- FastAPI + PyJWT ----------------------------------------------------------------------------

class FastAPI:
    def __init__(self, workers):
        self.port = free_port()
        self.process = spawn([sys.executable, "-m", "uvicorn", "fastapi_app:app", "--host", "127.0.0.1", "--port",
                              str(self.port), "--loop", "uvloop", "--http", "httptools", "--workers", str(workers),
                              "--log-level", "warning", "--no-access-log"],
                             cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.answers, what="uvicorn")
        login = subprocess.run(["curl", "-s", "-X", "POST", "-H", "Content-Type: application/json", "-d",
                                '{"username":"johndoe","password":"secretpassword"}',
                                f"http://127.0.0.1:{self.port}/login"], capture_output=True, text=True, check=True)
        self.token = json.loads(login.stdout)["access_token"]

    def answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def wrk(self):
        return self.wrk_latency()["rps"]

    def wrk_latency(self):
        return wrk(f"http://127.0.0.1:{self.port}/protected", self.token)


# --- nginx with auth_request --------------------------------------------------------------------

class Nginx:
    """Debian's nginx (nginx-light): one server that asks authd's HTTP face (auth_request, as the
    README's recipe) before proxying to an upstream, one that proxies to the same upstream without
    asking, the upstream itself (a fixed answer from the same nginx), and the ceiling for any auth
    server: the same auth_request asked of a server that does no work (the same nginx, on a Unix
    socket, answering 200 with authd's headers, fixed)."""

    def __init__(self, authd_http_socket):
        self.directory = os.path.join(WORK, "nginx")
        os.makedirs(self.directory)
        self.guarded, self.open, self.ceiling, upstream = free_port(), free_port(), free_port(), free_port()
        fixed_auth = os.path.join(self.directory, "fixed-auth.sock")
        config = f"""
daemon off;
user root;
worker_processes {CORES};
pid {self.directory}/nginx.pid;
error_log {self.directory}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {self.directory}/body; proxy_temp_path {self.directory}/proxy;
    fastcgi_temp_path {self.directory}/fastcgi; uwsgi_temp_path {self.directory}/uwsgi; scgi_temp_path {self.directory}/scgi;
    upstream service {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    upstream authd {{ server unix:{authd_http_socket}; keepalive 64; }}
    upstream fixed_auth {{ server unix:{fixed_auth}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{upstream};
        location / {{ default_type text/plain; return 200 "protected data for $http_x_auth_request_user\n"; }}
    }}
    server {{
        listen unix:{fixed_auth};
        location / {{
            add_header X-Auth-Request-User johndoe; add_header X-Auth-Request-Roles user; add_header X-Auth-Request-Jti 0123456789abcdefghijkl;
            add_header Remote-User johndoe; add_header Remote-Groups user; add_header Cache-Control no-store;
            return 200;
        }}
    }}
{self.asking(self.guarded, "authd")}
{self.asking(self.ceiling, "fixed_auth")}
    server {{
        listen 127.0.0.1:{self.open};
        location / {{
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://service;
        }}
    }}
}}
"""
        path = os.path.join(self.directory, "nginx.conf")
        with open(path, "w") as file:
            file.write(config)
        self.process = spawn(["nginx", "-p", self.directory, "-c", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: all(self.answers(port) for port in (self.guarded, self.open, self.ceiling, upstream)), what="nginx")

    @staticmethod
    def asking(port, auth_upstream):
        """A server on `port` that asks `auth_upstream`'s /auth (the README's recipe) before proxying."""
        return f"""
    server {{
        listen 127.0.0.1:{port};
        location = /_authd {{
            internal;
            proxy_pass http://{auth_upstream}/auth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }}
        location / {{
            auth_request /_authd;
            auth_request_set $authd_user $upstream_http_x_auth_request_user;
            proxy_set_header X-Auth-Request-User $authd_user;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://service;
        }}
    }}"""

    @staticmethod
    def answers(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False


def unix_answers(path):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(path)
            return True
    except OSError:
        return False


def wrk(url, token):
    """Requests/s, p50 and p99 (ms) of wrk on `url` with `token`; every answer must be a 2xx."""
    result = subprocess.run(["wrk", f"-t{CORES}", "-c64", f"-d{int(DURATION)}s", "--latency", "-H",
                             f"Authorization: Bearer {token}", url], capture_output=True, text=True, check=True)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    if errors:
        raise SystemExit(f"bench-compare: {url} answered {errors.group(1)} non-2xx responses")

    def percentile(name):
        match = re.search(rf"^\s+{name}%\s+([\d.]+)(us|ms|s)\s*$", result.stdout, re.MULTILINE)
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1)),
            "p50_ms": percentile("50"), "p99_ms": percentile("99")}


def crypto_baseline():
    result = subprocess.run([f"{BIN}/authd-crypto-baseline", str(min(DURATION, 3)), str(CORES)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)["ops_per_s"]


# --- memory and start-up ------------------------------------------------------------------------

def exchange(socket_path, requests):
    """Sends `requests` (objects) pipelined on one connection and returns the replies, in order."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(socket_path)
        connection.sendall(b"".join(json.dumps(request, separators=(",", ":")).encode() + b"\n" for request in requests))
        replies, buffer = [], b""
        while len(replies) < len(requests):
            received = connection.recv(1 << 20)
            if not received:
                raise SystemExit(f"bench-compare: authd closed the connection after {len(replies)} of {len(requests)} replies")
            buffer += received
            *lines, buffer = buffer.split(b"\n")
            replies += [json.loads(line) for line in lines]
        return replies


def cold_verify_requests(socket_path, count, name):
    """A file of `count` verify requests, each for a token of its own minted by authd just now,
    for the C load generator's `--once` (each token verified once: cold)."""
    path = os.path.join(WORK, name)
    with open(path, "w") as file:
        for start in range(0, count, 2000):
            batch = [{"op": "issue", "sub": "cold", "ttl": 3600}] * min(2000, count - start)
            for reply in exchange(socket_path, batch):
                file.write(json.dumps({"op": "verify", "token": reply["result"]["access_token"]}, separators=(",", ":")) + "\n")
    return path


def revoked_jtis(count):
    """`count` jtis as authd mints them: 16 random bytes, base64url without padding."""
    for _ in range(count):
        yield base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()


def fill_denylist(authd, count):
    """Adds `count` revoked jtis to authd's store while it is stopped (as that many revokes would)."""
    database = sqlite3.connect(os.path.join(authd.state, "authd.db"))
    expires = int(time.time()) + 7200
    database.executemany("INSERT OR IGNORE INTO revoked_tokens (jti, expires_at) VALUES (?, ?)",
                         ((jti, expires) for jti in revoked_jtis(count)))
    database.commit()
    database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    database.close()


def denylist():
    """A denylist that fits a fleet (issue #16, 4): authd's RSS and its time from start to ready
    with 1,000,000 and then 10,000,000 revoked jtis (as authd mints them), each restart after one
    that put the database in the page cache, as any restart of a running host finds it. Every start
    is also checked for exactness: of 1,000 tokens minted before the fill, the 500 revoked by token
    are refused as revoked and the other 500 verify."""
    authd = Authd("authd-denylist")
    authd.start()
    fresh = rss_kib(authd.process.pid)
    tokens = [reply["result"]["access_token"]
              for reply in exchange(authd.socket, [{"op": "issue", "sub": "denylist", "ttl": 3600}] * 1000)]
    revoked = set(tokens[::2])
    if not all(reply.get("ok") for reply in exchange(authd.socket, [{"op": "revoke", "token": t} for t in revoked])):
        raise SystemExit("bench-compare: a revoke failed")
    authd.stop()

    def exact():
        replies = exchange(authd.socket, [{"op": "verify", "token": token} for token in tokens])
        refused = {token for token, reply in zip(tokens, replies)
                   if not reply.get("ok") and reply["error"]["code"] == "token_revoked"}
        verified = {token for token, reply in zip(tokens, replies) if reply.get("ok")}
        return refused == revoked and len(verified) == len(tokens) - len(revoked)

    rounds, table, held = [], [], 0
    for total, goal_mib, goal_s in ((1_000_000, 64, 0.3), (10_000_000, 512, None)):
        started = time.monotonic()
        fill_denylist(authd, total - held)
        held = total
        log(f"denylist: {total:,} revoked jtis written in {time.monotonic() - started:.0f} s")
        authd.start()
        authd.stop()
        for number in range(1, ROUNDS + 1):
            ready = authd.start()
            row = {"revoked": total, "ready_s": ready, "rss_kib": rss_kib(authd.process.pid),
                   "anon_rss_kib": status_kib(authd.process.pid, "RssAnon"), "exact": exact()}
            row["rss_after_verify_kib"] = rss_kib(authd.process.pid)
            authd.stop()
            rounds.append(row)
            log(f"denylist round {number}, {total:,} revoked: ready in {ready:.3f} s, RSS {row['rss_kib'] / 1024:.1f} MiB "
                f"(of it {row['anon_rss_kib'] / 1024:.1f} MiB its own, the rest mapped files) "
                f"({row['rss_after_verify_kib'] / 1024:.1f} MiB after 1,000 verifies), exact: {'yes' if row['exact'] else 'NO'}")
        these = [row for row in rounds if row["revoked"] == total]
        rss = max(max(row["rss_kib"], row["rss_after_verify_kib"]) for row in these)
        ready = min(row["ready_s"] for row in these)
        exact_all = all(row["exact"] for row in these)
        table.append((f"RSS with {total:,} revoked jtis", f"{rss / 1024:.1f} MiB", f"{fresh / 1024:.1f} MiB", "",
                      f"<= {goal_mib} MiB", rss <= goal_mib * 1024 and exact_all))
        table.append((f"start to ready, {total:,} revoked", f"{ready:.2f} s", "", "", f"<= {goal_s} s" if goal_s else "(report)",
                      (ready <= goal_s if goal_s else True) and exact_all))
    return table, {"fresh_rss_kib": fresh, "rounds": rounds}


def socket_activation_ms():
    """systemd-socket-activate holds the socket; the first connection starts authd and is answered."""
    directory = os.path.join(WORK, "activation")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = os.path.join(directory, "authd.sock")
    samples = []
    for _ in range(5):
        if os.path.exists(path):
            os.unlink(path)
        activator = spawn(["systemd-socket-activate", "-l", path, "--fdname=authd", f"{BIN}/authd",
                           "--state-dir", os.path.join(directory, "state"), "--config", "/dev/null"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(path), what="systemd-socket-activate")
        started = time.monotonic()
        answered = pings(path)
        samples.append((time.monotonic() - started) * 1000)
        stop(activator)
        if not answered:
            raise SystemExit("bench-compare: the socket-activated authd did not answer")
    return statistics.median(samples)


# --- the run ------------------------------------------------------------------------------------

def http_face():
    """nginx + authd (auth_request) against the same nginx without auth and against the seed's
    FastAPI + PyJWT /protected (one worker per core, then one as the tutorial runs it), the three
    interleaved round by round. Returns the table's rows and the rounds."""
    http_socket = os.path.join(WORK, "authd-http.sock")
    authd = Authd("authd-http", f'[http]\nlisten = ["unix:{http_socket}"]\n')
    authd.start()
    wait_for(lambda: unix_answers(http_socket), what="authd's HTTP face")
    token = subprocess.run([f"{BIN}/authctl", "--socket", authd.socket, "issue", "johndoe", "--role", "user"],
                           capture_output=True, text=True, check=True).stdout.split()[0]
    nginx = Nginx(http_socket)
    fastapi = FastAPI(workers=CORES)
    rounds = []
    for number in range(1, ROUNDS + 1):
        row = {"nginx_authd": wrk(f"http://127.0.0.1:{nginx.guarded}/protected", token),
               "nginx_alone": wrk(f"http://127.0.0.1:{nginx.open}/protected", token),
               "nginx_fixed_auth": wrk(f"http://127.0.0.1:{nginx.ceiling}/protected", token),
               "fastapi": fastapi.wrk_latency()}
        rounds.append(row)
        log(f"http round {number}: " + ", ".join(f"{name} {value['rps']:,.0f}/s p50 {value['p50_ms']:.2f} ms p99 {value['p99_ms']:.2f} ms"
                                                 for name, value in row.items()))
    stop(fastapi.process)
    single = FastAPI(workers=1)
    single_result = single.wrk_latency()
    stop(single.process)
    stop(nginx.process)
    authd.stop()
    best = max(rounds, key=lambda row: row["nginx_authd"]["rps"])
    guarded = best["nginx_authd"]
    alone = max(row["nginx_alone"]["rps"] for row in rounds)
    ceiling = max(row["nginx_fixed_auth"]["rps"] for row in rounds)
    fastapi_rps = max(row["fastapi"]["rps"] for row in rounds)
    latency = f"p50 {guarded['p50_ms']:.2f} / p99 {guarded['p99_ms']:.2f} ms"
    table = [
        ("nginx + authd / nginx alone (wrk, 64 conns)", f"{guarded['rps']:,.0f}/s", f"{alone:,.0f}/s",
         f"{guarded['rps'] / alone:.2f}", ">= 0.5", guarded["rps"] / alone >= 0.5),
        (f"nginx + authd / FastAPI /protected, {CORES} workers", f"{guarded['rps']:,.0f}/s", f"{fastapi_rps:,.0f}/s",
         f"{guarded['rps'] / fastapi_rps:.1f}", ">= 10", guarded["rps"] / fastapi_rps >= 10),
        ("nginx + authd / FastAPI /protected, 1 worker", f"{guarded['rps']:,.0f}/s", f"{single_result['rps']:,.0f}/s",
         f"{guarded['rps'] / single_result['rps']:.1f}", ">= 10", guarded["rps"] / single_result["rps"] >= 10),
        ("nginx + authd latency (same round)", latency, "", "", "(info)", True),
        # What any auth server could reach behind this nginx on this machine: auth_request to an
        # answer that costs nothing to make.
        ("nginx + authd / nginx + a fixed-answer auth server", f"{guarded['rps']:,.0f}/s", f"{ceiling:,.0f}/s",
         f"{guarded['rps'] / ceiling:.2f}", "(info)", True),
        ("nginx + fixed-answer auth / FastAPI, 1 worker", f"{ceiling:,.0f}/s", f"{single_result['rps']:,.0f}/s",
         f"{ceiling / single_result['rps']:.1f}", "(info)", True),
    ]
    return table, {"rounds": rounds, "fastapi_single_worker": single_result}


def python_client():
    """Tokens verified per second from one Python process: authd.AsyncClient with 64 tasks and
    authd.Client one call at a time, against PyJWT verifying the same EdDSA tokens in-process
    (with the key from authd's JWKS, checking audience and issuer), interleaved round by round."""
    import asyncio
    sys.path.insert(0, os.path.join(HERE, "..", "clients", "python", "src"))
    import authd as authd_client
    import jwt

    daemon = Authd("authd-python")
    daemon.start()
    client = authd_client.Client(daemon.socket)
    tokens = [client.issue(f"user-{index}", roles=["user"]).access_token for index in range(64)]
    keys = {key["kid"]: jwt.PyJWK(key).key for key in client.jwks()}
    key = keys[jwt.get_unverified_header(tokens[0])["kid"]]

    def pyjwt_rate():
        done, deadline = 0, time.monotonic() + DURATION
        while time.monotonic() < deadline:
            jwt.decode(tokens[done % 64], key, algorithms=["EdDSA"], audience="local", issuer="authd")
            done += 1
        return done / DURATION

    def blocking_rate():
        done, deadline = 0, time.monotonic() + DURATION
        while time.monotonic() < deadline:
            client.verify(tokens[done % 64])
            done += 1
        return done / DURATION

    async def async_rate():
        async with authd_client.AsyncClient(daemon.socket) as shared:
            deadline = time.monotonic() + DURATION

            async def task(index):
                done = 0
                while time.monotonic() < deadline:
                    await shared.verify(tokens[(index + done) % 64])
                    done += 1
                return done

            return sum(await asyncio.gather(*(task(index) for index in range(64)))) / DURATION

    rounds = []
    for number in range(1, ROUNDS + 1):
        row = {"pyjwt": pyjwt_rate(), "async_64": asyncio.run(async_rate()), "blocking": blocking_rate()}
        rounds.append(row)
        log(f"python round {number}: PyJWT in-process {row['pyjwt']:,.0f}/s, AsyncClient x64 {row['async_64']:,.0f}/s, "
            f"Client one at a time {row['blocking']:,.0f}/s")
    client.close()
    daemon.stop()
    pyjwt_best = max(row["pyjwt"] for row in rounds)
    async_best = max(row["async_64"] for row in rounds)
    blocking_best = max(row["blocking"] for row in rounds)
    table = [
        ("Python AsyncClient x64 / PyJWT in-process", f"{async_best:,.0f}/s", f"{pyjwt_best:,.0f}/s",
         f"{async_best / pyjwt_best:.2f}", ">= 1", async_best >= pyjwt_best),
        ("Python Client, one at a time / PyJWT", f"{blocking_best:,.0f}/s", f"{pyjwt_best:,.0f}/s",
         f"{blocking_best / pyjwt_best:.2f}", "(info)", True),
    ]
    return table, rounds


def build_loadgen():
    """The independent C load generator and the C echo server (Benchmarks/loadgen/), built here."""
    source = os.path.join(HERE, "loadgen")
    for name in ("loadgen", "echo_server"):
        subprocess.run(["cc", "-O2", "-Wall", "-o", os.path.join(WORK, name), os.path.join(source, f"{name}.c"), "-lpthread"],
                       check=True)
    return os.path.join(WORK, "loadgen"), os.path.join(WORK, "echo_server")


def loadgen(program, socket_path, requests, connections=1, depth=1, duration=DURATION, expect=None, once=False):
    arguments = [program, "--socket", socket_path, "--requests", requests, "--connections", str(connections),
                 "--depth", str(depth), "--duration", str(duration)]
    if expect:
        arguments += ["--expect", expect]
    if once:
        arguments.append("--once")
    return json.loads(subprocess.run(arguments, capture_output=True, text=True, check=True).stdout)


def latency():
    """One request at a time on one connection (issue #16, 1): authd's hot verify (a token the
    verified-token cache holds) and ping against a C server that echoes the same line on the same
    kind of socket, driven by the same C load generator, alternating round by round. Ratios are
    of the medians over the rounds."""
    program, echo_program = build_loadgen()
    echo_socket = os.path.join(WORK, "echo.sock")
    echo = spawn([echo_program, echo_socket], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: os.path.exists(echo_socket), what="the echo server")
    authd = Authd("authd-latency")
    authd.start()
    token = subprocess.run([f"{BIN}/authctl", "--socket", authd.socket, "issue", "latency", "--ttl", "1h"],
                           capture_output=True, text=True, check=True).stdout.split()[0]
    verify_file, ping_file = os.path.join(WORK, "verify.txt"), os.path.join(WORK, "ping.txt")
    with open(verify_file, "w") as file:
        file.write(json.dumps({"op": "verify", "token": token}, separators=(",", ":")) + "\n")
    with open(ping_file, "w") as file:
        file.write('{"op":"ping"}\n')
    rounds = []
    for number in range(1, ROUNDS + 1):
        row = {"echo": loadgen(program, echo_socket, verify_file),
               "verify": loadgen(program, authd.socket, verify_file, expect='"ok":true'),
               "ping": loadgen(program, authd.socket, ping_file, expect='"ok":true')}
        rounds.append(row)
        log(f"latency round {number}: " + ", ".join(f"{name} p50 {value['p50_us']:.1f} us p99 {value['p99_us']:.1f} us"
                                                    for name, value in row.items()))
    stop(echo)
    authd.stop()

    def median(name, field):
        return statistics.median(row[name][field] for row in rounds)

    table = []
    for name in ("verify", "ping"):
        for field, goal in (("p50_us", 1.2), ("p99_us", 1.5)):
            ratio = median(name, field) / median("echo", field)
            table.append((f"{name} {field[:3]}, 1 connection / C echo", f"{median(name, field):.1f} us",
                          f"{median('echo', field):.1f} us", f"{ratio:.2f}", f"<= {goal}", ratio <= goal))
    return table, rounds


INSTRUCTION_BASELINE = os.path.join(HERE, "instructions-baseline.json")


def issue_against_munge():
    """Issue against MUNGE's credential encode (issue #16, 3), with both load generators in every
    round, round by round beside `remunge` with 16 threads: `authctl bench` (16 connections x 8
    in flight) and the independent C load generator (16 connections, one request in flight each,
    as remunge's threads have). Both ratios are of the best rounds."""
    program, _ = build_loadgen()
    authd = Authd("authd-issue")
    authd.start()
    # MUNGE's credential is a MAC with a shared key; so is an HS256 token: shown beside EdDSA.
    hmac = hs256_authd("authd-issue-hs256")
    munge = Munge("munge-issue")
    issue_file = os.path.join(WORK, "issue.txt")
    with open(issue_file, "w") as file:
        file.write('{"op":"issue","sub":"bench"}\n')
    rounds = []
    for number in range(1, ROUNDS + 1):
        row = {"munge_encode": munge.remunge(decode=False),
               "authctl_bench": authd.bench("issue")["ops_per_s"],
               "c_loadgen": loadgen(program, authd.socket, issue_file, connections=16, expect='"ok":true')["ops_per_second"],
               "c_loadgen_hs256": loadgen(program, hmac.socket, issue_file, connections=16, expect='"ok":true')["ops_per_second"]}
        rounds.append(row)
        log(f"issue round {number}: MUNGE encode {row['munge_encode']:,.0f}/s, authd issue {row['authctl_bench']:,.0f}/s "
            f"(authctl bench), {row['c_loadgen']:,.0f}/s (C load generator; HS256 {row['c_loadgen_hs256']:,.0f}/s)")
    stop(munge.process)
    authd.stop()
    hmac.stop()
    munge_best = max(row["munge_encode"] for row in rounds)
    table = []
    for key, name in (("authctl_bench", "authctl bench 16x8"), ("c_loadgen", "C load generator 16x1")):
        best = max(row[key] for row in rounds)
        table.append((f"issue ({name}) / MUNGE encode", f"{best:,.0f}/s", f"{munge_best:,.0f}/s", f"{best / munge_best:.2f}",
                      ">= 1.5", best / munge_best >= 1.5))
    hs256 = max(row["c_loadgen_hs256"] for row in rounds)
    table.append(("issue HS256 (C load generator 16x1) / MUNGE", f"{hs256:,.0f}/s", f"{munge_best:,.0f}/s", f"{hs256 / munge_best:.2f}",
                  "(info)", True))
    return table, rounds


def instructions():
    """Instructions per operation (issue #16, 5), counted by valgrind's callgrind in authd's
    user space, all threads: hot verify, cold verify and issue, each as the median of 3 runs. Unlike
    times on shared cores, the counts hardly move from run to run (within a fraction of a percent),
    so a change is compared with the committed baseline (Benchmarks/instructions-baseline.json;
    INSTRUCTIONS_BASELINE=update rewrites it). authd runs at the log level it ships with, so each
    issue's audit line (written to a file) is counted as a user sees it paid. The kernel's share is
    not counted."""
    program, _ = build_loadgen()
    # Valgrind 3.19 cannot read the toolchain's DWARF 5: a copy without debug information, with its symbols.
    binary = os.path.join(WORK, "authd-nodebug")
    subprocess.run(["strip", "--strip-debug", f"{BIN}/authd", "-o", binary], check=True)
    directory = os.path.join(WORK, "callgrind")
    os.makedirs(directory, mode=0o700)
    socket_path = os.path.join(directory, "authd.sock")
    out = os.path.join(directory, "callgrind.out")
    log_file = open(os.path.join(directory, "valgrind.log"), "w")
    valgrind = spawn(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", binary,
                      "--socket", socket_path, "--state-dir", os.path.join(directory, "state"), "--config", "/dev/null"],
                     stdout=log_file, stderr=log_file)
    wait_for(lambda: pings(socket_path), timeout=300, what="authd under callgrind")
    pid = valgrind.pid

    def control(*arguments):
        subprocess.run(["callgrind_control", *arguments, str(pid)], check=True, capture_output=True)

    def mint(count):
        return [reply["result"]["access_token"]
                for reply in exchange(socket_path, [{"op": "issue", "sub": "instructions", "ttl": 3600}] * count)]

    def request_file(name, lines):
        path = os.path.join(directory, name)
        with open(path, "w") as file:
            file.writelines(line + "\n" for line in lines)
        return path

    def count(path, requests):
        control("-i", "on")
        control("-z")
        loadgen_once(program, socket_path, path)
        control("-d")
        control("-i", "off")
        dumps = sorted((name for name in os.listdir(directory) if name.startswith("callgrind.out.")),
                       key=lambda name: int(name.rsplit(".", 1)[1]))
        with open(os.path.join(directory, dumps[-1])) as file:
            total = next(int(line.split()[1]) for line in file if line.startswith("totals:"))
        return total / requests

    hot = mint(1)[0]
    hot_file = request_file("hot.txt", [json.dumps({"op": "verify", "token": hot}, separators=(",", ":"))] * 2000)
    loadgen_once(program, socket_path, request_file("warm.txt", [json.dumps({"op": "verify", "token": hot}, separators=(",", ":"))]))
    issue_file = request_file("issue.txt", ['{"op":"issue","sub":"instructions"}'] * 1000)
    results = {"verify_hot": [], "verify_cold": [], "issue": []}
    for _ in range(3):
        results["verify_hot"].append(count(hot_file, 2000))
        cold = [json.dumps({"op": "verify", "token": token}, separators=(",", ":")) for token in mint(500)]
        results["verify_cold"].append(count(request_file("cold.txt", cold), 500))
        results["issue"].append(count(issue_file, 1000))
    stop(valgrind)
    measured = {name: statistics.median(values) for name, values in results.items()}
    spread = {name: (max(values) - min(values)) / statistics.median(values) for name, values in results.items()}
    log("instructions per op (3 runs): " + ", ".join(f"{name} {', '.join(f'{value:,.0f}' for value in values)}"
                                                  for name, values in results.items()))
    baseline = {}
    if os.path.exists(INSTRUCTION_BASELINE):
        with open(INSTRUCTION_BASELINE) as file:
            baseline = json.load(file)
    if os.environ.get("INSTRUCTIONS_BASELINE") == "update":
        commit = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        if subprocess.run(["git", "-C", HERE, "status", "--porcelain", "--", "../Sources"], capture_output=True, text=True).stdout:
            commit += "+uncommitted"  # measured on changes made since that commit
        with open(INSTRUCTION_BASELINE, "w") as file:
            json.dump({"commit": commit, "date": time.strftime("%Y-%m-%d"), "per_op": {k: round(v) for k, v in measured.items()}},
                      file, indent=1)
            file.write("\n")
        log(f"wrote {INSTRUCTION_BASELINE}")
    table = []
    for name, value in measured.items():
        base = baseline.get("per_op", {}).get(name)
        change = f"{(value - base) / base * 100:+.1f}%" if base else ""
        table.append((f"instructions per {name.replace('_', ' ')} (spread {spread[name] * 100:.1f}%)", f"{value:,.0f}",
                      f"{base:,}" if base else "-", change, f"baseline {baseline.get('commit', '-')}", True))
    return table, results


def loadgen_once(program, socket_path, requests):
    # One request at a time: how a connection's requests share reads and writes would otherwise
    # move the per-request count from run to run.
    subprocess.run([program, "--socket", socket_path, "--requests", requests, "--once", "--depth", "1", "--expect", '"ok":true'],
                   check=True, capture_output=True)


def print_table(table):
    log(f"{'measure (best of ' + str(ROUNDS) + ' rounds)':44} {'authd':>14} {'other':>14} {'ratio':>7}  {'target':14} met")
    for name, value, other, ratio, target, met in table:
        log(f"{name:44} {value:>14} {other:>14} {ratio:>7}  {target:14} {'yes' if met else 'NO'}")


def main():
    log(f"bench-compare: {CORES} cores, {ROUNDS} rounds of {DURATION:g} s per contender, work dir {WORK}")
    only = {"http": http_face, "python": python_client, "latency": latency, "instructions": instructions,
            "issue": issue_against_munge, "denylist": denylist}.get(os.environ.get("ONLY", ""))
    if only:
        table, _ = only()
        log("")
        print_table(table)
        return
    authd = Authd("authd")
    authd.start()
    fresh_idle = rss_kib(authd.process.pid)
    # MUNGE signs with a shared key (HMAC); so can authd, with HS256 instead of its default EdDSA.
    hmac = hs256_authd("authd-hs256")
    munge = Munge()
    # One worker per core, so that it may use the machine as authd does (the tutorial runs one).
    fastapi = FastAPI(workers=CORES)
    baseline_tokens = int(25_000 * DURATION * 1.5)
    program, _ = build_loadgen()
    rounds = []
    for number in range(1, ROUNDS + 1):
        row = {}
        row["verify_hot"] = authd.bench("verify-hot")
        row["verify_hot_deep"] = authd.bench("verify-hot", depth=32)
        row["munge_encode"] = munge.remunge(decode=False)
        row["fastapi_protected"] = fastapi.wrk()
        row["issue"] = authd.bench("issue")
        row["munge_encode_decode"] = munge.remunge(decode=True)
        row["issue_hs256"] = hmac.bench("issue")
        row["verify_cold"] = authd.bench("verify-cold", depth=16, tokens=baseline_tokens)
        row["ed25519_raw"] = crypto_baseline()
        # The same with the independent C load generator (as issue #16 measured it): tokens minted
        # first, each verified once, the run ending when they are all verified.
        cold_file = cold_verify_requests(authd.socket, baseline_tokens, f"cold-{number}.txt")
        row["verify_cold_loadgen"] = loadgen(program, authd.socket, cold_file, connections=16, depth=16, expect='"ok":true',
                                             once=True)["ops_per_second"]
        os.remove(cold_file)
        row["revoke"] = authd.bench("revoke", connections=16, depth=1)
        row["verify_single"] = authd.bench("verify-hot", connections=1, depth=1)
        rounds.append(row)
        log(f"round {number}: verify hot {row['verify_hot']['ops_per_s']:,.0f}/s (depth 32: {row['verify_hot_deep']['ops_per_s']:,.0f}/s), "
            f"verify cold {row['verify_cold']['ops_per_s']:,.0f}/s (C load generator {row['verify_cold_loadgen']:,.0f}/s; "
            f"raw Ed25519 {row['ed25519_raw']:,.0f}/s), "
            f"issue {row['issue']['ops_per_s']:,.0f}/s (HS256 {row['issue_hs256']['ops_per_s']:,.0f}/s), revoke {row['revoke']['ops_per_s']:,.0f}/s, "
            f"1x1 verify p99 {row['verify_single']['p99_us']:.0f} µs; "
            f"MUNGE encode {row['munge_encode']:,.0f}/s, encode+decode {row['munge_encode_decode']:,.0f}/s; "
            f"FastAPI /protected {row['fastapi_protected']:,.0f}/s")
    stop(fastapi.process)
    stop(munge.process)
    hmac.stop()
    # The tutorial's own way to run it: one uvicorn worker.
    single = FastAPI(workers=1)
    single_rps = single.wrk()
    stop(single.process)

    idle = rss_kib(authd.process.pid)
    authd.stop()
    activation = socket_activation_ms()

    def best(key, field=None, lowest=False):
        values = [row[key][field] if field else row[key] for row in rounds]
        return min(values) if lowest else max(values)

    verify_hot = best("verify_hot", "ops_per_s")
    verify_deep = best("verify_hot_deep", "ops_per_s")
    verify_cold = best("verify_cold", "ops_per_s")
    verify_cold_loadgen = best("verify_cold_loadgen")
    raw = best("ed25519_raw")
    issue = best("issue", "ops_per_s")
    issue_hs256 = best("issue_hs256", "ops_per_s")
    munge_encode = best("munge_encode")
    fastapi_rps = best("fastapi_protected")
    revoke = best("revoke", "ops_per_s")
    p99 = best("verify_single", "p99_us", lowest=True)
    table = [
        ("verify, hot tokens, 16 conns x depth 8", f"{verify_hot:,.0f}/s", "", "", ">= 150,000/s", verify_hot >= 150_000),
        ("verify, 1 conn, no pipelining: p99", f"{p99:.0f} us", "", "", "<= 200 us", p99 <= 200),
        ("verify, cold 16x16 / raw Ed25519, all cores", f"{verify_cold:,.0f}/s", f"{raw:,.0f}/s", f"{verify_cold / raw:.2f}", ">= 0.90", verify_cold / raw >= 0.9),
        ("verify, cold 16x16, C load generator / raw Ed25519", f"{verify_cold_loadgen:,.0f}/s", f"{raw:,.0f}/s",
         f"{verify_cold_loadgen / raw:.2f}", ">= 0.90", verify_cold_loadgen / raw >= 0.9),
        ("issue / MUNGE encode (remunge)", f"{issue:,.0f}/s", f"{munge_encode:,.0f}/s", f"{issue / munge_encode:.2f}", ">= 2", issue / munge_encode >= 2),
        ("issue with HS256 / MUNGE encode", f"{issue_hs256:,.0f}/s", f"{munge_encode:,.0f}/s", f"{issue_hs256 / munge_encode:.2f}", "(>= 2)", issue_hs256 / munge_encode >= 2),
        ("revoke, durable, 16 clients", f"{revoke:,.0f}/s", "", "", ">= 20,000/s", revoke >= 20_000),
        ("verify, hot tokens, 16 conns x depth 32", f"{verify_deep:,.0f}/s", "", "", "", verify_deep >= 150_000),
        (f"verify hot (x8) / FastAPI /protected, {CORES} workers", f"{verify_hot:,.0f}/s", f"{fastapi_rps:,.0f}/s", f"{verify_hot / fastapi_rps:.1f}", ">= 30", verify_hot / fastapi_rps >= 30),
        ("verify hot (x8) / FastAPI /protected, 1 worker", f"{verify_hot:,.0f}/s", f"{single_rps:,.0f}/s", f"{verify_hot / single_rps:.1f}", ">= 30", verify_hot / single_rps >= 30),
        ("RSS idle (fresh start, answering)", f"{fresh_idle / 1024:.1f} MiB", "", "", "<= 64 MiB", fresh_idle <= 64 * 1024),
        ("RSS idle after the runs (revoked jtis held)", f"{idle / 1024:.1f} MiB", "", "", "(info)", True),
        ("socket activation to first reply", f"{activation:.0f} ms", "", "", "<= 50 ms", activation <= 50),
    ]
    log("")
    log(f"MUNGE encode+decode (remunge -d): {best('munge_encode_decode'):,.0f}/s (best of {ROUNDS})")
    http_table, http_rounds = http_face()
    python_table, python_rounds = python_client()
    latency_table, latency_rounds = latency()
    issue_table, issue_rounds = issue_against_munge()
    denylist_table, denylist_rounds = denylist()
    instruction_table, instruction_runs = instructions()
    print_table(table + latency_table + issue_table + denylist_table + instruction_table + http_table + python_table)
    with open(os.environ.get("BENCH_JSON", os.path.join(WORK, "..", "authd-bench-compare.json")), "w") as file:
        json.dump({"rounds": rounds, "latency": latency_rounds, "instructions": instruction_runs, "http_face": http_rounds, "python_client": python_rounds, "fastapi_single_worker": single_rps, "issue_against_munge": issue_rounds, "denylist": denylist_rounds, "fresh_idle_rss_kib": fresh_idle, "idle_rss_kib": idle,
                   "activation_ms": activation}, file, indent=1)


if __name__ == "__main__":
    benchsupport.run(main, WORK)
