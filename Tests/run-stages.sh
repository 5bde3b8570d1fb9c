#!/usr/bin/env bash
# `make test`: every stage runs, whatever an earlier one did, and the run fails at the end with a
# summary of which stages failed. Stages: the Swift suite (unit, in-process and binary integration
# tests), interoperability with PyJWT, the Python client (in a virtual environment), and the Debian
# package built and checked.
set -uo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
PYTHON=${PYTHON:-python3}
: "${AUTHD_BIN_DIR:?AUTHD_BIN_DIR must name the bin directory of the debug build}"
export AUTHD_BIN_DIR

failed=()
summary=()
stage() {
    local name=$1
    shift
    local start=$SECONDS
    echo "=== make test: $name"
    if "$@"; then
        summary+=("  passed  $name ($((SECONDS - start)) s)")
    else
        summary+=("  FAILED  $name ($((SECONDS - start)) s)")
        failed+=("$name")
    fi
}

deb_stage() {
    local deb
    deb=$(packaging/debian/build-deb.sh .build) || return 1
    packaging/debian/check-deb.sh "$deb"
}

# --disable-xctest: the suite is Swift Testing only; XCTest would print an empty "0 tests" run.
stage "swift test" "$SWIFT" test --disable-xctest
stage "interop (PyJWT)" "$PYTHON" Tests/interop/interop.py
stage "Python client" env PYTHON="$PYTHON" Tests/python/run.sh
stage "Debian package" deb_stage

echo "=== make test: summary"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
    echo "make test: ${#failed[@]} of ${#summary[@]} stages failed: ${failed[*]}"
    exit 1
fi
echo "make test: all ${#summary[@]} stages passed"
