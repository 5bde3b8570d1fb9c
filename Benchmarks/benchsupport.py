"""What the benchmark scripts share: output, child processes, waiting, free ports."""
import shutil
import signal
import socket
import subprocess
import time

# Every process a benchmark starts, so that it can stop them all however it ends.
children = []


def log(message):
    print(message, flush=True)


def spawn(arguments, **kwargs):
    process = subprocess.Popen(arguments, **kwargs)
    children.append(process)
    return process


def stop(process):
    """SIGTERM, then SIGKILL after 30 s."""
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stop_all():
    for child in reversed(children):
        stop(child)


def wait_for(predicate, timeout=60, what="something", name="bench"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise SystemExit(f"{name}: timed out waiting for {what}")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(main, work):
    """Runs `main`, then stops every process it started and removes `work`, however it ended."""
    try:
        main()
    finally:
        stop_all()
        shutil.rmtree(work, ignore_errors=True)
