#!/usr/bin/env bash
# The Debian package under a real systemd: boots a Debian 12 container (systemd-nspawn --boot,
# systemd as PID 1), installs the .deb given as $1 and checks what an operator meets — socket
# activation, systemctl, the journal, the watchdog, the sandbox's score, who may connect, upgrade,
# remove and purge, and exit-when-idle. Prints one line per check and 'container: N passed, N
# failed'; exits non-zero on any failure.
#
# Where the machine cannot boot a container at all (no privileges for namespaces), it prints
# CONTAINER-TEST-SKIPPED with the reason and exits 0; .ci/run refuses such a run.
set -uo pipefail
deb=$(readlink -f "${1:?usage: booted-debian.sh authd_<version>_<arch>.deb}")
here=$(cd "$(dirname "$0")" && pwd)
start_time=$SECONDS
passed=0
failed=0

work=$(mktemp -d /var/tmp/authd-container-XXXXXX)
nspawn_pid=
leader=
cleanup() {
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        # SIGTERM asks the container's systemd to power off; SIGKILL if it has not within 30 s.
        kill -TERM "$nspawn_pid" 2>/dev/null
        for _ in $(seq 300); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$nspawn_pid" 2>/dev/null
        wait "$nspawn_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() {
    failed=$((failed + 1)); echo "FAIL $1"
    [ -s "$work/out" ] && sed 's/^/       | /' "$work/out" | tail -15
    return 0
}
# check NAME COMMAND...: passes when COMMAND exits 0; its output is shown when it fails.
check() {
    local name=$1
    shift
    if "$@" >"$work/out" 2>&1; then ok "$name"; else fail "$name"; fi
}
# Runs a command inside the container as root, with a clean environment.
ct() { nsenter --target "$leader" --all -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
# Runs a command inside the container as USER.
ct_as() { local user=$1; shift; ct runuser -u "$user" -- "$@"; }
# wait_until SECONDS COMMAND...: polls COMMAND until it succeeds. SECONDS is an upper bound for a
# machine under load, not a guess at how long something takes: a pass returns as soon as it holds.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}
main_pid() { ct systemctl show -p MainPID --value authd.service; }
is_active() { [ "$(ct systemctl is-active "$1")" = active ]; }
is_inactive() { [ "$(ct systemctl is-active "$1")" = inactive ]; }
contains() { grep -q -- "$2" <<<"$1"; }

# --- Boot ---------------------------------------------------------------------------------------
for tool in systemd-nspawn debootstrap nsenter dpkg-deb; do
    command -v "$tool" >/dev/null || { echo "FAIL $tool is not installed (make deps installs it)"; exit 1; }
done
if [ "$(id -u)" -ne 0 ]; then
    echo "CONTAINER-TEST-SKIPPED: booting a container needs root"
    exit 0
fi
base=$("$here/debian-root.sh") || { echo "FAIL the Debian 12 root could not be built"; exit 1; }
cp -a --reflink=auto "$base" "$work/root"
cp "$deb" "$work/root/root/authd.deb"

# --register=no and --keep-unit: the host need not run systemd (machined) itself.
# --private-network: the container owns its network namespace, so the unit's PrivateNetwork= can
# set up its loopback device (sharing the host's, systemd would log a warning at every start).
machine="authd-test-$$"
systemd-nspawn --quiet --directory="$work/root" --boot --register=no --keep-unit --private-network \
    --machine="$machine" --console=passive >"$work/nspawn.log" 2>&1 &
nspawn_pid=$!
find_leader() { leader=$(pgrep -P "$nspawn_pid" -x systemd | head -1); [ -n "$leader" ]; }
if ! wait_until 60 find_leader; then
    echo "CONTAINER-TEST-SKIPPED: systemd-nspawn could not boot a container here:"
    sed 's/^/  | /' "$work/nspawn.log"
    exit 0
fi
booted() { case $(ct systemctl is-system-running) in running | degraded) return 0 ;; *) return 1 ;; esac; }
check "the Debian 12 container booted with systemd as PID 1 ($(ct cat /etc/debian_version 2>/dev/null))" wait_until 120 booted

# --- 1. Install and socket activation ------------------------------------------------------------
check "apt installs the package" ct apt-get install -y -q /root/authd.deb
check "authd.socket is enabled" test "$(ct systemctl is-enabled authd.socket)" = enabled
check "authd.socket is listening on /run/authd/authd.sock" bash -c '[ "$0" = active ] && [ "$1" = yes ]' \
    "$(ct systemctl is-active authd.socket)" "$(ct test -S /run/authd/authd.sock && echo yes)"
check "authd.service is not running before the first connection" is_inactive authd.service
status=$(ct authctl status 2>&1)
check "the first 'authctl status' is answered (socket activation)" contains "$status" "active key:"
check "authd.service was started by that connection" is_active authd.service
check "the socket is root:authd-clients 0660" test "$(ct stat -c '%U:%G %a' /run/authd/authd.sock)" = "root:authd-clients 660"
check "the state directory is authd's, 0700" test "$(ct stat -c '%U:%G %a' /var/lib/authd)" = "authd:authd 700"

# --- 2. A clean start ---------------------------------------------------------------------------
warnings=$(ct journalctl -u authd.service -p warning -q --no-pager)
check "a clean start logs nothing at warning level or above" test -z "$warnings"
[ -n "$warnings" ] && sed 's/^/       | /' <<<"$warnings"
# libdispatch's manager thread asks for nice -4 (its user-interactive QoS); the unit's LimitNICE=-4
# allows exactly that. systemd can only raise the limit where it holds CAP_SYS_RESOURCE.
nice_limit=$(ct sh -c "awk '/Max nice priority/ {print \$4}' /proc/$(main_pid)/limits")
priority_lines=$(ct journalctl -u authd.service -q --no-pager -g 'Failed to set thread priority' | wc -l)
if [ "$nice_limit" = 24 ]; then
    check "no 'Failed to set thread priority' line (RLIMIT_NICE granted by LimitNICE=-4)" test "$priority_lines" -eq 0
else
    check "the unit grants LimitNICE=-4 (RLIMIT_NICE 24)" test "$(ct systemctl show -p LimitNICE --value authd.service)" = 24
    echo "note this machine withholds CAP_SYS_RESOURCE from the container's systemd, so the limit is $nice_limit" \
        "and libdispatch's notice-level 'Failed to set thread priority' line appears $priority_lines time(s)"
fi

# --- 3. The audit trail in the journal ------------------------------------------------------------
token=$(ct authctl issue container-subject --role reader 2>"$work/out")
check "authctl issue prints a token" test -n "$token"
jti=$(ct authctl --json verify "$token" | python3 -c 'import json, sys; print(json.load(sys.stdin)["jti"])' 2>"$work/out")
check "authctl verify accepts it" test -n "$jti"
check "authctl revoke revokes it" ct authctl revoke "$token"
ct authctl verify "$token" >/dev/null 2>&1
check "verify then refuses it as revoked (exit 14)" test $? -eq 14
issued=$(ct journalctl -q --no-pager -o verbose MESSAGE_ID=5d1e0c8f3a7b4e2f9c6d8a1b0e7f3c42 AUTHD_SUB=container-subject)
check "journalctl MESSAGE_ID=<token issued> finds the issue with AUTHD_SUB, AUTHD_JTI, AUTHD_KID" \
    bash -c 'grep -q "AUTHD_JTI=$1" <<<"$0" && grep -q "AUTHD_KID=" <<<"$0" && grep -q "AUTHD_ROLES=reader" <<<"$0"' "$issued" "$jti"
revoked=$(ct journalctl -q --no-pager -o verbose MESSAGE_ID=7c2b9e4d1f6a4c8b9e3d2a1f0b8c7d61 AUTHD_JTI="$jti")
check "journalctl MESSAGE_ID=<token revoked> finds the revocation with AUTHD_JTI" contains "$revoked" "AUTHD_REVOKED="

# --- 4. systemctl --------------------------------------------------------------------------------
status_counts() { ct systemctl show -p StatusText --value authd.service | grep -q "1 tokens issued"; }
check "STATUS= shows the live figures (tokens issued)" wait_until 30 status_counts
check "systemctl status shows them" contains "$(ct systemctl status authd.service --no-pager)" 'Status: "serving: '
stop_keeps_socket() { ct systemctl stop authd.service && is_inactive authd.service && is_active authd.socket; }
start_answers() { ct systemctl start authd.service && ct authctl ping; }
restart_replaces() { local before; before=$(main_pid); ct systemctl restart authd.service && [ "$(main_pid)" != "$before" ] && ct authctl ping; }
reload_keeps() { local before; before=$(main_pid); ct systemctl reload authd.service && [ "$(main_pid)" = "$before" ] && ct authctl ping; }
check "systemctl stop stops the daemon, the socket stays" stop_keeps_socket
check "systemctl start starts it and it answers" start_answers
check "systemctl restart replaces the process" restart_replaces
since=$(ct date +%s)
check "systemctl reload keeps the process and it answers" reload_keeps
reloaded() { ct journalctl -u authd.service -q --no-pager --since "@$since" -g 'configuration and keys reloaded'; }
check "the journal records the reload" wait_until 30 reloaded

# --- 5. Who may connect ---------------------------------------------------------------------------
ct useradd --create-home --groups authd-clients alice
ct useradd --create-home bob
fresh=$(ct authctl issue alice 2>/dev/null)
check "a user in authd-clients can verify a token" ct_as alice authctl verify "$fresh"
ct_as bob authctl verify "$fresh" >"$work/bob" 2>&1
bob_status=$?
check "a user outside authd-clients cannot connect (exit 3, names the group)" \
    bash -c 'cat "$1"; [ "$0" -eq 3 ] && grep -q "permission denied.*authd-clients" "$1"' "$bob_status" "$work/bob"

# --- 6. The sandbox -------------------------------------------------------------------------------
exposure=$(ct systemd-analyze security authd.service --no-pager 2>&1 | sed -n 's/.*Overall exposure level for authd.service: \([0-9.]*\).*/\1/p')
check "systemd-analyze security authd.service is at most 1.0 (${exposure:-?})" \
    python3 -c 'import sys; sys.exit(0 if 0 <= float(sys.argv[1]) <= 1.0 else 1)' "${exposure:--1}"

# --- 7. The watchdog -------------------------------------------------------------------------------
watchdog=$(ct systemctl show -p WatchdogUSec --value authd.service)
abort=$(ct systemctl show -p TimeoutAbortUSec --value authd.service)
stopped=$(main_pid)
ct kill -STOP "$stopped"
t0=$SECONDS
replaced() { local pid; pid=$(main_pid); [ "$pid" != "$stopped" ] && [ "$pid" != 0 ] && ct authctl ping; }
# A stopped process misses its keep-alives; after WatchdogSec systemd sends SIGABRT, which a
# stopped process cannot act on, so SIGKILL follows after TimeoutAbortSec; then Restart=on-failure.
if wait_until 90 replaced; then
    ok "SIGSTOPped, authd was restarted by the watchdog after $((SECONDS - t0)) s (WatchdogSec $watchdog, abort timeout $abort)"
else
    fail "SIGSTOPped, authd was not restarted within 90 s (WatchdogSec $watchdog)"
fi
check "the journal says it was the watchdog" ct journalctl -u authd.service -q --no-pager -g 'Watchdog timeout'

# --- 8. Upgrade keeps keys, revocations and users ----------------------------------------------------
kid=$(ct authctl status | sed -n 's/^active key: *//p')
printf 'correct horse battery staple\n' | ct authctl user add carol --password-stdin >"$work/out" 2>&1
check "a password user is added" test $? -eq 0
version=$(dpkg-deb -f "$deb" Version)
newer="$version+upgrade1"
mkdir "$work/repack"
dpkg-deb -R "$deb" "$work/repack/root"
sed -i "s/^Version: .*/Version: $newer/" "$work/repack/root/DEBIAN/control"
dpkg-deb --root-owner-group -b "$work/repack/root" "$work/root/root/authd-newer.deb" >/dev/null
running_before=$(main_pid)
check "apt upgrades to a newer build ($newer)" ct apt-get install -y -q /root/authd-newer.deb
check "the package is now $newer" test "$(ct dpkg-query -W -f='${Version}' authd)" = "$newer"
check "the running daemon was restarted onto it" bash -c '[ "$0" != "$1" ] && [ "$0" != 0 ]' "$(main_pid)" "$running_before"
check "the signing key survived the upgrade" contains "$(ct authctl status)" "active key: *$kid"
ct authctl verify "$token" >/dev/null 2>&1
check "the revocation survived the upgrade (exit 14)" test $? -eq 14
carol_logs_in() { printf 'correct horse battery staple\n' | ct authctl login carol --password-stdin; }
check "the user survived the upgrade (login)" carol_logs_in

# --- 9. Exit when idle ----------------------------------------------------------------------------------
ct sed -i 's/^#exit_idle_after = 0$/exit_idle_after = "2s"/' /etc/authd/authd.toml
check "exit_idle_after is set in /etc/authd/authd.toml" ct grep -qx 'exit_idle_after = "2s"' /etc/authd/authd.toml
ct systemctl restart authd.service
ct authctl ping >/dev/null 2>&1
check "with exit_idle_after, authd exits once idle" wait_until 60 is_inactive authd.service
check "it exited cleanly (not a failure)" test "$(ct systemctl show -p Result --value authd.service)" = success
check "the socket stayed listening" is_active authd.socket
check "the next connection starts it again, with the same key" contains "$(ct authctl status 2>&1)" "active key: *$kid"

# --- 10. A fleet node under the unit ------------------------------------------------------------------
# The container's own PostgreSQL 15 (Debian's cluster, started by systemd), reached over TCP on
# loopback: the shipped unit has no network, so the node starts on its local cache, disconnected;
# the README's drop-in gives it exactly the database's address. Over PostgreSQL's Unix socket the
# shipped unit needs nothing.
ct sed -i 's/^exit_idle_after = "2s"$/#exit_idle_after = 0/' /etc/authd/authd.toml
pg_ready() { ct runuser -u postgres -- psql -qAtc 'select 1'; }
check "the container's PostgreSQL 15 is up" wait_until 60 pg_ready
ct runuser -u postgres -- psql -q -c "CREATE ROLE authd LOGIN PASSWORD 'container-db-secret'" >/dev/null
ct runuser -u postgres -- createdb -O authd authd
ct sh -c 'umask 077 && printf "container-db-secret\n" >/etc/authd/db-password && chown authd:authd /etc/authd/db-password'
ct cp /etc/authd/authd.toml /etc/authd/authd.toml.single
fleet_config() {
    ct cp /etc/authd/authd.toml.single /etc/authd/authd.toml
    printf '\n[fleet]\ndatabase = "%s"\nnode = "container-1"\n%b' "$1" "$2" | ct sh -c 'cat >>/etc/authd/authd.toml'
}
fleet_status() { ct authctl status 2>&1 | sed -n 's/^fleet node: *//p'; }
connected() { [ "$(fleet_status)" = "container-1 (connected)" ]; }
fleet_config "postgresql://authd@127.0.0.1:5432/authd" 'password_file = "/etc/authd/db-password"\n'
ct systemctl restart authd.service
check "a fleet node over TCP under the shipped unit starts, disconnected (no network)" \
    test "$(fleet_status)" = "container-1 (disconnected)"
check "its revoke is enforced here and kept for later (propagated: no)" \
    contains "$(ct authctl revoke --jti container-offline 2>&1)" "propagated: no"
ct mkdir -p /etc/systemd/system/authd.service.d
printf '[Service]\nPrivateNetwork=no\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\nIPAddressAllow=127.0.0.1/32\n' |
    ct sh -c 'cat >/etc/systemd/system/authd.service.d/fleet.conf'
ct systemctl daemon-reload
ct systemctl restart authd.service
check "with the README's drop-in it connects to the database" wait_until 30 connected
published() { [ "$(ct runuser -u postgres -- psql -qAt -d authd -c "select count(*) from authd_revocations where value = 'container-offline'")" = 1 ]; }
check "the revocation kept while offline reaches PostgreSQL" wait_until 30 published
check "a revoke is now committed in PostgreSQL (\"propagated\": true)" \
    contains "$(ct authctl --json revoke --jti container-online 2>&1)" '"propagated":true'
exposure=$(ct systemd-analyze security authd.service --no-pager 2>&1 | sed -n 's/.*Overall exposure level for authd.service: \([0-9.]*\).*/\1/p')
echo "note with the fleet drop-in, systemd-analyze security rates authd.service ${exposure:-?}"
ct rm /etc/systemd/system/authd.service.d/fleet.conf
ct systemctl daemon-reload
fleet_config "postgresql://authd@localhost/authd?host=/run/postgresql" ""
ct systemctl restart authd.service
check "over PostgreSQL's Unix socket, the shipped unit connects without a drop-in (peer authentication)" wait_until 30 connected
ct mv /etc/authd/authd.toml.single /etc/authd/authd.toml
ct rm /etc/authd/db-password
ct systemctl restart authd.service

# --- 11. Remove and purge ---------------------------------------------------------------------------------
check "apt remove removes the package" ct apt-get remove -y -q authd
socket_gone() { ! ct test -e /run/authd/authd.sock && ! is_active authd.socket; }
check "after remove, the socket is gone" socket_gone
check "after remove, /var/lib/authd (the keys) is kept" test -n "$(ct ls -A /var/lib/authd)"
check "apt purge purges it" ct apt-get purge -y -q authd
check "after purge, /var/lib/authd is deleted" ct test ! -e /var/lib/authd
check "after purge, /etc/authd is deleted" ct test ! -e /etc/authd

echo "container: $passed passed, $failed failed ($((SECONDS - start_time)) s)"
((failed == 0))
