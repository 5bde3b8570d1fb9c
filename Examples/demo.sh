#!/usr/bin/env bash
# The story of the tutorial authd grew from (POST /login, GET /protected, GET /admin), told with
# authctl against the real daemon: accounts, a password login, a route any valid token may use
# (401 otherwise) and one that needs the admin role (403 otherwise), a wrong password, a revoked
# token and an expired one. Then the same story over HTTP, through the example service in
# Examples/ProtectedService, which checks every request's bearer token with AuthdClient. Each step
# checks authctl's exit status or the HTTP status; the script exits 1 if any step surprises.
# Run it with `make demo`.
set -euo pipefail

bin_dir=${AUTHD_BIN_DIR:-$(swift build --show-bin-path)}
authd="$bin_dir/authd"
authctl="$bin_dir/authctl"
work=$(mktemp -d /tmp/authd-demo-XXXXXX)
daemon=""
service=""
cleanup() {
    local pid
    for pid in $service $daemon; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# No leeway, so that the one-second token below is expired one second later.
cat >"$work/authd.toml" <<'TOML'
[tokens]
leeway = 0
TOML
"$authd" --socket "$work/authd.sock" --state-dir "$work/state" --config "$work/authd.toml" >"$work/authd.log" 2>&1 &
daemon=$!
for _ in $(seq 200); do [ -S "$work/authd.sock" ] && break; sleep 0.05; done
export AUTHD_SOCKET="$work/authd.sock"
"$authctl" ping >/dev/null

step=0
failures=0
# check DESCRIPTION EXPECTED-STATUS HTTP-MEANING COMMAND...: runs COMMAND and compares its exit status.
check() {
    local description=$1 expected=$2 meaning=$3 status=0
    shift 3
    "$@" >"$work/out" 2>"$work/err" || status=$?
    step=$((step + 1))
    if [ "$status" -eq "$expected" ]; then
        printf '%2d. %-58s -> %-26s ok (exit %d)\n' "$step" "$description" "$meaning" "$status"
    else
        printf '%2d. %-58s -> expected exit %d, got %d: FAIL\n' "$step" "$description" "$expected" "$status"
        sed 's/^/      /' "$work/err"
        failures=$((failures + 1))
    fi
}
login() { printf '%s\n' "$2" | "$authctl" login "$1" --password-stdin | head -n 1; }
protected() { "$authctl" verify "$1"; }
admin_only() { "$authctl" verify "$1" --role admin; }

echo "authd demo: the login / protected / admin story against the real daemon ($work)"
echo
check "the operator adds alice with the role 'user'" 0 "user added" \
    sh -c 'printf "wonderland\n" | "$0" user add alice --role user --password-stdin' "$authctl"
check "the operator adds root-admin with the role 'admin'" 0 "user added" \
    sh -c 'printf "correct horse battery\n" | "$0" user add root-admin --role admin --password-stdin' "$authctl"
check "alice logs in with a wrong password" 16 "401 invalid_credentials" login alice "Wonderland"
check "mallory, who does not exist, tries to log in" 16 "401 invalid_credentials" login mallory "wonderland"

alice=$(login alice wonderland)
admin=$(login root-admin "correct horse battery")
check "alice logs in" 0 "200 token" test -n "$alice"
check "alice calls /protected (any valid token)" 0 "200" protected "$alice"
check "alice calls /admin (role admin)" 15 "403 insufficient_role" admin_only "$alice"
check "root-admin logs in and calls /protected" 0 "200" protected "$admin"
check "root-admin calls /admin" 0 "200" admin_only "$admin"
check "a request without a valid token calls /protected" 10 "401 invalid_token" protected "not-a-token"

check "the operator revokes alice's token" 0 "revoked" "$authctl" revoke "$alice"
check "alice calls /protected with the revoked token" 14 "401 token_revoked" protected "$alice"

short=$("$authctl" issue alice --role user --ttl 1)
sleep 2
check "a token that lived one second calls /protected" 11 "401 token_expired" protected "$short"

check "the operator disables alice" 0 "disabled" "$authctl" user disable alice
check "alice logs in again, with the right password" 16 "401 invalid_credentials" login alice "wonderland"
echo
"$authctl" user list | sed 's/^/    /'

echo
echo "The same story over HTTP, through Examples/ProtectedService (POST /login, GET /protected, GET /admin):"
echo
"$bin_dir/authd-example-service" --port 0 --socket "$AUTHD_SOCKET" >"$work/service.out" 2>"$work/service.err" &
service=$!
for _ in $(seq 200); do grep -q '^listening on ' "$work/service.out" 2>/dev/null && break; sleep 0.05; done
base=$(sed -n 's/^listening on //p' "$work/service.out")
[ -n "$base" ] || { echo "the example service did not start:"; cat "$work/service.err"; exit 1; }
# http DESCRIPTION EXPECTED-CODE CURL-ARGS...: one request, its status compared, its body shown.
http() {
    local description=$1 expected=$2 code
    shift 2
    code=$(curl -s -o "$work/body" -w '%{http_code}' "$@" || true)
    shown=$(sed -E 's/"access_token":"([^"]{16})[^"]*"/"access_token":"\1..."/' "$work/body")
    step=$((step + 1))
    if [ "$code" = "$expected" ]; then
        printf '%2d. %-58s -> %s %s\n' "$step" "$description" "$code" "$shown"
    else
        printf '%2d. %-58s -> expected %s, got %s: FAIL %s\n' "$step" "$description" "$expected" "$code" "$shown"
        failures=$((failures + 1))
    fi
}
"$authctl" user enable alice >/dev/null
sleep 1 # alice's sessions were revoked up to the second she was disabled
http "POST /login as alice, wrong password" 401 -X POST -d '{"username":"alice","password":"nope"}' "$base/login"
http "POST /login as alice" 200 -X POST -d '{"username":"alice","password":"wonderland"}' "$base/login"
bearer=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$work/body")
http "GET /protected without a token" 401 "$base/protected"
http "GET /protected with alice's token" 200 -H "Authorization: Bearer $bearer" "$base/protected"
http "GET /admin with alice's token" 403 -H "Authorization: Bearer $bearer" "$base/admin"
http "POST /login as root-admin" 200 -X POST -d '{"username":"root-admin","password":"correct horse battery"}' "$base/login"
admin_bearer=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$work/body")
http "GET /admin with root-admin's token" 200 -H "Authorization: Bearer $admin_bearer" "$base/admin"
"$authctl" revoke "$bearer" >/dev/null
http "GET /protected with alice's token, after authctl revoke" 401 -H "Authorization: Bearer $bearer" "$base/protected"
echo
if [ "$failures" -eq 0 ]; then
    echo "demo: all $step steps behaved as the story says"
else
    echo "demo: $failures of $step steps did not"
    exit 1
fi
