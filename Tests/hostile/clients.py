#!/usr/bin/env python3
"""Misbehaving clients for the limits tests. Each mode prints one JSON line of findings.

  connections SOCKET N          open N connections, ping on each, report each first reply's code
  flood SOCKET PID N [TOKEN]    pipeline N verify requests without reading, then measure authd's
                                RSS, then read every reply (TOKEN: a valid one, answered from the
                                verified-token cache; otherwise an invalid one)
  pass-fds SOCKET PID N         send N requests, each carrying an open descriptor (SCM_RIGHTS)
  sign SECRET KID               read JSON payload texts, one per line, from stdin; print each as
                                an HS256 token signed with SECRET (the payload text is kept as is)
"""
import base64
import hashlib
import hmac
import json
import os
import socket
import sys
import threading
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def code(reply):
    message = json.loads(reply)
    return "ok" if message.get("ok") else message["error"]["code"]


def read_line(connection, buffer):
    while b"\n" not in buffer[0]:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        buffer[0] += chunk
    line, buffer[0] = buffer[0].split(b"\n", 1)
    return line


def connections(path, count):
    opened, codes = [], []
    for _ in range(count):
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(10)
        connection.connect(path)
        opened.append(connection)
        try:
            connection.sendall(b'{"op":"ping"}\n')
        except OSError:
            pass  # refused connections may already be closed
        line = read_line(connection, [b""])
        codes.append(code(line) if line else "closed")
    print(json.dumps({"codes": codes}))


def flood(path, pid, count, token=None):
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(path)
    request = b'{"op":"verify","token":"' + (token.encode() if token else b"x" * 400) + b'"}\n'
    before = rss_kib(pid)
    sender = threading.Thread(target=lambda: connection.sendall(request * count))
    sender.start()
    time.sleep(3)  # the sender blocks once authd stops reading; authd's memory must not follow
    stalled = rss_kib(pid)
    replies, buffer = 0, [b""]
    while replies < count:
        line = read_line(connection, buffer)
        if line is None:
            break
        replies += 1
    sender.join()
    print(json.dumps({"rss_before_kib": before, "rss_stalled_kib": stalled, "replies": replies,
                      "bytes_sent": len(request) * count}))


def pass_fds(path, pid, count):
    before = len(os.listdir(f"/proc/{pid}/fd"))
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(path)
    spare = os.open("/dev/null", os.O_RDONLY)
    buffer, answered = [b""], 0
    for _ in range(count):
        socket.send_fds(connection, [b'{"op":"ping"}\n'], [spare, spare, spare])
        if read_line(connection, buffer) is not None:
            answered += 1
    after = len(os.listdir(f"/proc/{pid}/fd"))
    print(json.dumps({"fds_before": before, "fds_after": after, "answered": answered}))


def sign(secret, kid):
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    header = b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": kid}, separators=(",", ":")).encode())
    for line in sys.stdin:
        payload = b64(line.rstrip("\n").encode())
        signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
        print(f"{header}.{payload}.{b64(signature)}")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "connections":
        connections(sys.argv[2], int(sys.argv[3]))
    elif mode == "flood":
        flood(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] if len(sys.argv) > 5 else None)
    elif mode == "pass-fds":
        pass_fds(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "sign":
        sign(sys.argv[2], sys.argv[3])
