"""The real authd binary, started by the tests on a private socket and state directory."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Iterator

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BIN_DIR = os.environ.get("AUTHD_BIN_DIR") or os.path.join(ROOT, ".build", "debug")


class Daemon:
    """authd on a temporary socket; ``restart`` keeps its state (keys, revocations, users)."""

    def __init__(self, config: str = "") -> None:
        self.directory = tempfile.mkdtemp(prefix="authd-py-")
        self.socket = os.path.join(self.directory, "authd.sock")
        self.config = os.path.join(self.directory, "authd.toml")
        with open(self.config, "w") as file:
            file.write(config)
        self.log = open(os.path.join(self.directory, "authd.log"), "a")
        self.process: "subprocess.Popen[bytes] | None" = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [os.path.join(BIN_DIR, "authd"), "--socket", self.socket, "--state-dir", os.path.join(self.directory, "state"),
             "--config", self.config], stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, open(self.log.name).read()[-2000:]
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    probe.settimeout(5)
                    probe.connect(self.socket)
                    probe.sendall(b'{"op":"ping"}\n')
                    if b'"ok":true' in probe.recv(4096):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("authd did not start: " + open(self.log.name).read()[-2000:])

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def restart(self) -> None:
        assert self.stop() == 0
        self.start()

    def authctl(self, *arguments: str) -> str:
        return subprocess.run([os.path.join(BIN_DIR, "authctl"), "--socket", self.socket, *arguments],
                              capture_output=True, text=True, check=True).stdout

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()
        self.log.close()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    started = Daemon()
    yield started
    started.close()
