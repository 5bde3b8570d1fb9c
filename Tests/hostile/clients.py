#!/usr/bin/env python3
"""Misbehaving clients for the limits tests. Each mode prints one JSON line of findings.

  connections SOCKET N          open N connections, ping on each, report each first reply's code
  flood SOCKET PID N            pipeline N verify requests without reading, then measure authd's
                                RSS, then read every reply
  pass-fds SOCKET PID N         send N requests, each carrying an open descriptor (SCM_RIGHTS)
"""
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


def flood(path, pid, count):
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(path)
    request = b'{"op":"verify","token":"' + b"x" * 400 + b'"}\n'
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


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "connections":
        connections(sys.argv[2], int(sys.argv[3]))
    elif mode == "flood":
        flood(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "pass-fds":
        pass_fds(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
