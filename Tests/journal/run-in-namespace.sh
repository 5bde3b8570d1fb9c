#!/usr/bin/env bash
# Runs a private systemd-journald and authd against it, then dumps the journal as JSON.
# Meant to run as `unshare --mount --propagation private bash run-in-namespace.sh BIN_DIR WORK`:
# libsystemd always writes to /run/systemd/journal/socket, so a tmpfs over /run in a private
# mount namespace gives authd a journal of its own without touching the host's.
set -euo pipefail
BIN=$1
WORK=$2

mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal /run/log/journal
/lib/systemd/systemd-journald >"$WORK/journald.log" 2>&1 &
JOURNALD=$!
for _ in $(seq 200); do [ -S /run/systemd/journal/stdout ] && [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done

wait_for_socket() {
    for _ in $(seq 400); do "$BIN/authctl" --socket "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
    echo "authd did not start on $1" >&2
    return 1
}

# 1. log.target = auto with stderr connected to the journal (JOURNAL_STREAM names it, as systemd
#    does for a service): authd must log natively, with its own fields.
printf '[tokens]\nttl = 60\n' >"$WORK/authd.toml"
systemd-cat -t authd-stream sh -c 'export JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2); exec "$0" "$@"' \
    "$BIN/authd" --socket "$WORK/native.sock" --state-dir "$WORK/state" --config "$WORK/authd.toml" --log-level debug &
NATIVE=$!
wait_for_socket "$WORK/native.sock"
TOKEN=$("$BIN/authctl" --socket "$WORK/native.sock" issue alice --role user)
printf '%s' "$TOKEN" >"$WORK/token"
"$BIN/authctl" --socket "$WORK/native.sock" verify "$TOKEN" --role admin >/dev/null 2>&1 || true
"$BIN/authctl" --socket "$WORK/native.sock" verify "${TOKEN}x" >/dev/null 2>&1 || true
# A client-chosen field name with a newline and a control character reaches the log: it must be
# escaped, never become a field of its own.
python3 - "$WORK/native.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b'{"op":"ping","x\\nMESSAGE_ID=00000000000000000000000000000bad\\u0001":1}\n')
s.recv(4096); s.close()
PY
kill -TERM "$NATIVE"
wait "$NATIVE" || true

# 2. log.target = auto with stderr a plain stream: text on stderr, no native fields.
systemd-cat -t authd-plain "$BIN/authd" --socket "$WORK/plain.sock" --state-dir "$WORK/state" --config "$WORK/authd.toml" &
PLAIN=$!
wait_for_socket "$WORK/plain.sock"
kill -TERM "$PLAIN"
wait "$PLAIN" || true

sleep 0.3
journalctl -D /run/log/journal -o json --no-pager >"$WORK/journal.json"
kill "$JOURNALD"
wait "$JOURNALD" 2>/dev/null || true
