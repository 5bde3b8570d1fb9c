#!/usr/bin/env python3
"""make bench-fleet: a fleet of authd nodes on one PostgreSQL, on this machine, in one run.

Starts Debian's PostgreSQL 15 (initdb in a temporary directory, as the `postgres` user, SCRAM on
loopback, a role `authd` without superuser rights, as the README's recipe sets it up), NODES
release authd nodes with a `[fleet]` table, and one single-host authd, then measures:

  1. propagation: REVOCATIONS revocations at RATE per second, each made on a random node, of a
     token issued on a random node and verified (valid) on every node just before; for each, the
     time from sending the revoke until every other node refuses the token (each polled with
     `verify` over its own connection, one round after another), and the time to the revoke's
     reply (`ok` = committed in PostgreSQL);
  2. hot verify on a fleet node against the single-host node, ROUNDS + 2 rounds each, which of
     the two goes first alternating;
  3. revoke throughput through PostgreSQL: `authctl bench --op revoke` on one node, 16
     connections with one request in flight each and with eight pipelined each, while the other
     nodes follow the feed, with the rows, transactions, WAL and CPU time (revoking node,
     followers, PostgreSQL) per revocation; the single-host node's figure in the same round. Then
     the same with the followers stopped (the revoking node and PostgreSQL alone, as when the
     other nodes run on hosts of their own), and the time the followers take to catch up on
     everything when started again.

Everything runs on the same cores: the nodes that follow the feed, PostgreSQL and the load
generator compete with the node measured, which a real fleet (one node per host) would not make
them do. Nothing here is a test: `make test` has the fleet's correctness tests.

Environment: BIN_DIR (release binaries), NODES (5), REVOCATIONS (1000), RATE (50 per second),
ROUNDS (3), DURATION (seconds per bench round, 5), PG_MAX_CONNECTIONS (PostgreSQL's
max_connections, 100 as PostgreSQL ships it), POOL_SIZE (each node's pool_size, 4 as authd
ships it), PHASES (which of propagation,verify,revoke to run; all by default), BENCH_JSON (where
the figures go as JSON). `make bench-fleet NODES=20 PHASES=propagation` is the scale figure.
"""
import json
import os
import random
import secrets
import select
import socket
import statistics
import subprocess
import tempfile
import time

import benchsupport
from benchsupport import free_port, log, spawn, stop

BIN = os.environ["BIN_DIR"]
NODES = int(os.environ.get("NODES", "5"))
REVOCATIONS = int(os.environ.get("REVOCATIONS", "1000"))
RATE = float(os.environ.get("RATE", "50"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
DURATION = float(os.environ.get("DURATION", "5"))
PG_MAX_CONNECTIONS = int(os.environ.get("PG_MAX_CONNECTIONS", "100"))
POOL_SIZE = int(os.environ.get("POOL_SIZE", "4"))
PHASES = os.environ.get("PHASES", "propagation,verify,revoke").split(",")
PG_BIN = "/usr/lib/postgresql/15/bin"
WORK = tempfile.mkdtemp(prefix="authd-bench-fleet-")


def fail(message):
    raise SystemExit(f"bench-fleet: {message}")


def wait_for(predicate, timeout=60, what="something"):
    benchsupport.wait_for(predicate, timeout, what, name="bench-fleet")


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# --- PostgreSQL ---------------------------------------------------------------------------------

class Postgres:
    """Debian's PostgreSQL 15 in WORK/pg, run as `postgres` (initdb refuses root)."""

    def __init__(self):
        if not os.access(f"{PG_BIN}/initdb", os.X_OK):
            fail("PostgreSQL 15 is not installed (make deps installs Debian's postgresql-15)")
        self.directory = os.path.join(WORK, "pg")
        self.data = os.path.join(self.directory, "data")
        self.sockets = os.path.join(self.directory, "socket")
        os.makedirs(self.sockets)
        os.chmod(WORK, 0o755)
        subprocess.run(["chown", "-R", "postgres:postgres", self.directory], check=True)
        self.password = secrets.token_urlsafe(24)
        self.port = free_port()
        self.as_postgres("initdb", "-D", self.data, "-U", "postgres", "--auth-local=trust",
                         "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync", quiet=True)
        self.log = open(os.path.join(self.directory, "server.log"), "a")
        # synchronous_commit and fsync as PostgreSQL ships them: a revoke's `ok` is a durable commit.
        self.process = spawn(
            ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", f"{PG_BIN}/postgres",
             "-D", self.data, "-p", str(self.port), "-k", self.sockets, "-c", "listen_addresses=127.0.0.1",
             "-c", f"max_connections={PG_MAX_CONNECTIONS}", *os.environ.get("PG_OPTIONS", "").split()],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        self.server_pid = self.process.pid
        wait_for(lambda: self.try_sql("SELECT 1") == "1", what="PostgreSQL to accept connections")
        self.sql(f"CREATE ROLE authd LOGIN PASSWORD '{self.password}'")
        self.sql("CREATE DATABASE authd OWNER authd")
        self.password_file = os.path.join(WORK, "db-password")
        with open(os.open(self.password_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as file:
            file.write(self.password + "\n")

    def as_postgres(self, tool, *arguments, quiet=False):
        output = subprocess.DEVNULL if quiet else None
        subprocess.run(["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--",
                        f"{PG_BIN}/{tool}", *arguments], check=True, stdout=output)

    def try_sql(self, sql, database="postgres"):
        result = subprocess.run(
            ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", f"{PG_BIN}/psql", "-X",
             "-h", self.sockets, "-p", str(self.port), "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1",
             "-tAc", sql], capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else None

    def sql(self, sql, database="postgres"):
        value = self.try_sql(sql, database)
        if value is None:
            fail(f"psql failed: {sql}")
        return value

    @property
    def url(self):
        return f"postgresql://authd@127.0.0.1:{self.port}/authd"


# --- authd --------------------------------------------------------------------------------------

class Node:
    def __init__(self, name, config):
        self.name = name
        self.directory = os.path.join(WORK, name)
        os.makedirs(self.directory, mode=0o700)
        self.socket = os.path.join(self.directory, "authd.sock")
        self.config = os.path.join(self.directory, "authd.toml")
        with open(self.config, "w") as file:
            file.write(config)
        self.log = open(os.path.join(self.directory, "authd.log"), "a")
        self.start()

    def start(self):
        self.process = spawn(
            [f"{BIN}/authd", "--socket", self.socket, "--state-dir", os.path.join(self.directory, "state"),
             "--config", self.config], stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)

    def applied_seq(self):
        reply = Connection(self.socket).request({"op": "status"})
        return reply["result"]["fleet"]["applied_seq"]

    def ready(self):
        if self.process.poll() is not None:
            fail(f"{self.name} exited with {self.process.returncode}; its log: {self.directory}/authd.log")
        try:
            return Connection(self.socket).request({"op": "ping"})["ok"]
        except OSError:
            return False

    def bench(self, op, connections=16, depth=8, duration=DURATION):
        result = subprocess.run(
            [f"{BIN}/authctl", "--socket", self.socket, "--json", "bench", "--op", op, "--connections", str(connections),
             "--depth", str(depth), "--duration", str(duration)], capture_output=True, text=True)
        if result.returncode != 0:
            fail(f"authctl bench --op {op} on {self.name} failed: {result.stderr.strip()} {result.stdout.strip()}")
        return json.loads(result.stdout)


class Connection:
    """One line-protocol connection, one request in flight."""

    def __init__(self, path):
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.socket.settimeout(30)
        self.socket.connect(path)
        self.reader = self.socket.makefile("rb")

    def send(self, request):
        self.socket.sendall(json.dumps(request, separators=(",", ":")).encode() + b"\n")

    def receive(self):
        line = self.reader.readline()
        if not line:
            raise OSError("authd closed the connection")
        return json.loads(line)

    def request(self, request):
        self.send(request)
        return self.receive()


# --- 1. propagation -----------------------------------------------------------------------------

def propagation(nodes):
    connections = [Connection(node.socket) for node in nodes]
    tokens = []
    for _ in range(REVOCATIONS):
        issuer = random.randrange(len(nodes))
        reply = connections[issuer].request({"op": "issue", "sub": "bench-fleet", "roles": ["user"], "ttl": 3600})
        if not reply["ok"]:
            fail(f"issue on {nodes[issuer].name}: {reply}")
        tokens.append(reply["result"]["access_token"])
    all_refused, acknowledged, rounds = [], [], []
    interval = 1.0 / RATE
    started = time.monotonic()
    for index, token in enumerate(tokens):
        delay = started + index * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        revoker = random.randrange(len(nodes))
        others = [i for i in range(len(nodes)) if i != revoker]
        verify = {"op": "verify", "token": token}
        for i in others:  # valid everywhere (and in each node's verified-token cache) before the revoke
            reply = connections[i].request(verify)
            if not reply["ok"]:
                fail(f"token not valid on {nodes[i].name} before its revocation: {reply}")
        t0 = time.perf_counter_ns()
        connections[revoker].send({"op": "revoke", "token": token})
        ack = None
        pending = others
        while pending:
            round_start = time.perf_counter_ns()
            for i in pending:
                connections[i].send(verify)
            still = []
            for i in pending:
                reply = connections[i].receive()
                if reply["ok"]:
                    still.append(i)
                elif reply["error"]["code"] != "token_revoked":
                    fail(f"{nodes[i].name} answered {reply} instead of token_revoked")
            now = time.perf_counter_ns()
            rounds.append(now - round_start)
            pending = still
            if ack is None and select.select([connections[revoker].socket], [], [], 0)[0]:
                ack = read_ack(connections[revoker], nodes[revoker], t0)
            if pending and now - t0 > 10e9:
                fail(f"revocation {index} not enforced by {[nodes[i].name for i in pending]} within 10 s")
        all_refused.append((now - t0) / 1e6)
        acknowledged.append(ack if ack is not None else read_ack(connections[revoker], nodes[revoker], t0))
    elapsed = time.monotonic() - started
    for connection in connections:
        connection.socket.close()
    return {
        "nodes": len(nodes),
        "revocations": len(tokens),
        "rate_per_s": round(len(tokens) / elapsed, 1),
        "all_refused_ms": summary(all_refused),
        "revoke_reply_ms": summary(acknowledged),
        "poll_round_us_p50": round(statistics.median(rounds) / 1e3, 1),
    }


def read_ack(connection, node, t0):
    reply = connection.receive()
    if not reply["ok"] or not reply["result"].get("propagated", False):
        fail(f"revoke on {node.name} answered {reply}")
    return (time.perf_counter_ns() - t0) / 1e6


def summary(values):
    return {"p50": round(percentile(values, 0.50), 2), "p90": round(percentile(values, 0.90), 2),
            "p99": round(percentile(values, 0.99), 2), "max": round(max(values), 2)}


# --- 2. revoke throughput -----------------------------------------------------------------------

def cpu_seconds(pids):
    """User + system CPU time of `pids` so far (processes that have gone count nothing)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def postgres_pids(postgres):
    """The postmaster and its backends (a backend lives as long as its connection)."""
    result = subprocess.run(["pgrep", "-P", str(postgres.server_pid)], capture_output=True, text=True)
    return [postgres.server_pid] + [int(pid) for pid in result.stdout.split()]

def revoke_round(postgres, fleet_node, followers, depth):
    """One `authctl bench --op revoke` on `fleet_node`, with what it cost PostgreSQL and each process."""
    def counters():
        rows, transactions = postgres.sql(
            "SELECT count(*), count(DISTINCT xmin::text) FROM authd_revocations", "authd").split("|")
        return int(rows), int(transactions), postgres.sql("SELECT pg_current_wal_lsn()")

    rows0, transactions0, lsn0 = counters()
    groups = {"revoking_node": [fleet_node.process.pid], "followers": [n.process.pid for n in followers],
              "postgres": postgres_pids(postgres)}
    cpu0 = {name: cpu_seconds(pids) for name, pids in groups.items()}
    result = fleet_node.bench("revoke", connections=16, depth=depth)
    cpu1 = {name: cpu_seconds(pids) for name, pids in groups.items()}
    rows1, transactions1, lsn1 = counters()
    wal = int(postgres.sql(f"SELECT pg_wal_lsn_diff('{lsn1}', '{lsn0}')"))
    revocations = max(1, rows1 - rows0)
    return {
        "depth": depth, "ops_per_s": round(result["ops_per_s"]), "p50_us": round(result["p50_us"]),
        "p99_us": round(result["p99_us"]), "errors": result["errors"], "rows": rows1 - rows0,
        "revocations_per_transaction": round(revocations / max(1, transactions1 - transactions0), 1),
        "wal_bytes_per_revocation": round(wal / revocations),
        "cpu_us_per_revocation": {name: round((cpu1[name] - cpu0[name]) * 1e6 / revocations) for name in groups},
    }


def revoke_throughput(postgres, nodes, single):
    """16 connections, one request in flight each (depth 1) and eight pipelined each (depth 8)."""
    fleet_node, followers = nodes[0], nodes[1:]
    rounds = []
    for _ in range(ROUNDS):
        for depth in (1, 8):
            row = revoke_round(postgres, fleet_node, followers, depth)
            row["single_host_ops_per_s"] = round(single.bench("revoke", connections=16, depth=depth)["ops_per_s"])
            rounds.append(row)
            log(f"  revoke, {len(followers)} followers on these cores: {row}")
    # The same with the followers stopped: what the revoking node and PostgreSQL do when the
    # other nodes run on hosts of their own. Then the time they take to catch up when restarted.
    for node in followers:
        stop(node.process)
    alone = []
    for depth in (1, 8):
        alone.append(revoke_round(postgres, fleet_node, [], depth))
        log(f"  revoke, followers stopped: {alone[-1]}")
    target = int(postgres.sql("SELECT max(seq) FROM authd_revocations", "authd"))
    started = time.monotonic()
    for node in followers:
        node.start()
    for node in followers:
        wait_for(lambda: node_applied(node) >= target, timeout=300, what=f"{node.name} to catch up")
    catch_up = {"events": target, "seconds_until_all_caught_up": round(time.monotonic() - started, 2)}
    log(f"  followers restarted: {catch_up}")
    return rounds, alone, catch_up


def node_applied(node):
    try:
        return node.applied_seq()
    except (OSError, KeyError, TypeError, ValueError):
        return -1


# --- 3. hot verify ------------------------------------------------------------------------------

def hot_verify(fleet_node, single):
    rounds = []
    for index in range(ROUNDS + 2):
        # Which goes first alternates, so that neither always runs on a machine warmed by the other.
        if index % 2 == 0:
            fleet, local = fleet_node.bench("verify-hot"), single.bench("verify-hot")
        else:
            local, fleet = single.bench("verify-hot"), fleet_node.bench("verify-hot")
        rounds.append({"fleet_ops_per_s": round(fleet["ops_per_s"]), "single_host_ops_per_s": round(local["ops_per_s"]),
                       "ratio": round(fleet["ops_per_s"] / local["ops_per_s"], 3),
                       "fleet_p99_us": fleet["p99_us"], "single_host_p99_us": local["p99_us"]})
        log(f"  verify-hot round: {rounds[-1]}")
    return rounds


def main():
    log(f"bench-fleet: {os.cpu_count()} cores, {NODES} nodes, PostgreSQL max_connections={PG_MAX_CONNECTIONS}, "
        f"pool_size={POOL_SIZE}, work dir {WORK}")
    postgres = Postgres()
    nodes = [Node(f"node-{i + 1}", f"""
[fleet]
database = "{postgres.url}"
password_file = "{postgres.password_file}"
node = "node-{i + 1}"
pool_size = {POOL_SIZE}
""") for i in range(NODES)]
    single = Node("single-host", "")
    for node in nodes + [single]:
        wait_for(node.ready, what=f"{node.name} to answer")
    figures = {"cores": os.cpu_count(), "nodes": NODES, "pg_max_connections": PG_MAX_CONNECTIONS, "pool_size": POOL_SIZE}

    goals = []
    if "propagation" in PHASES:
        log(f"1. propagation: {REVOCATIONS} revocations at {RATE:g}/s from random nodes")
        figures["propagation"] = propagation(nodes)
        log(f"  {figures['propagation']}")
        p = figures["propagation"]["all_refused_ms"]
        goals += [(f"propagation p50, {NODES} nodes (ms)", p["p50"], "<= 20", p["p50"] <= 20),
                  (f"propagation p99, {NODES} nodes (ms)", p["p99"], "<= 100", p["p99"] <= 100)]
    figures["connections_after_propagation"] = int(
        postgres.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'authd'"))
    if "verify" in PHASES:
        # Before the revocation load, which leaves the two nodes with denylists of different sizes.
        log("2. hot verify: node-1 (fleet) against the single-host node, alternating")
        figures["verify_hot"] = hot_verify(nodes[0], single)
        ratio = statistics.median(r["ratio"] for r in figures["verify_hot"])
        goals.append(("hot verify fleet / single-host, median", ratio, ">= 0.95", ratio >= 0.95))
    if "revoke" in PHASES:
        log("3. revoke through PostgreSQL: 16 connections on node-1, 1 and 8 requests in flight each")
        figures["revoke"], figures["revoke_followers_stopped"], figures["catch_up"] = revoke_throughput(postgres, nodes, single)
        size, rows = postgres.sql(
            "SELECT pg_total_relation_size('authd_revocations'), count(*) FROM authd_revocations", "authd").split("|")
        figures["table_bytes_per_revocation"] = round(int(size) / max(1, int(rows)))
        log(f"  authd_revocations: {rows} rows, {int(size) / 2**20:.1f} MiB with its indexes "
            f"({figures['table_bytes_per_revocation']} bytes per revocation)")
        for depth in (1, 8):
            rate = statistics.median(r["ops_per_s"] for r in figures["revoke"] if r["depth"] == depth)
            goals.append((f"revoke via PostgreSQL, 16 clients x {depth}, median (/s)", rate, ">= 10000", rate >= 10_000))
    figures["connections_at_end"] = int(postgres.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'authd'"))

    log("")
    log(f"{'figure':<54}{'measured':>12}{'goal':>12}")
    for name, value, goal, met in goals:
        log(f"{name:<54}{value:>12}{goal:>12}  {'met' if met else 'NOT MET'}")
    log(f"PostgreSQL connections held by the nodes: {figures['connections_at_end']} "
        f"({figures['connections_at_end'] / NODES:.1f} per node)")
    with open(os.environ.get("BENCH_JSON", os.path.join(WORK, "..", "authd-bench-fleet.json")), "w") as file:
        json.dump(figures, file, indent=2)


if __name__ == "__main__":
    benchsupport.run(main, WORK)
