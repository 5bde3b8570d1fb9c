#!/usr/bin/env bash
# `make test`: every stage runs, whatever an earlier one did, and the run fails at the end with a
# summary of which stages failed. Stages: the Swift suite (unit, in-process and binary integration
# tests), interoperability with PyJWT, the Python client (in a virtual environment), the Debian
# package built and checked, and that package installed and run under systemd in a booted Debian 12
# container.
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

built_deb=
deb_stage() {
    local deb
    deb=$(packaging/debian/build-deb.sh .build) || return 1
    built_deb=$deb
    packaging/debian/check-deb.sh "$deb" || return 1
    # `make install` lays out the same files for those who do not use the package; a second run
    # over an edited configuration must keep it.
    local staging status
    staging=$(mktemp -d)
    make --no-print-directory install DESTDIR="$staging" PREFIX=/usr/local >/dev/null &&
        echo "# edited" >>"$staging/etc/authd/authd.toml" &&
        make --no-print-directory install DESTDIR="$staging" PREFIX=/usr/local >/dev/null 2>&1 &&
        packaging/check-install.sh "$staging" /usr/local &&
        tail -n 1 "$staging/etc/authd/authd.toml" | grep -qx "# edited"
    status=$?
    ((status == 0)) || echo "FAIL make install (or keeping an edited configuration on a second install)"
    rm -rf "$staging"
    return $status
}

container_stage() {
    if [ -z "$built_deb" ]; then
        echo "no package to install: the Debian package stage did not build one"
        return 1
    fi
    Tests/container/booted-debian.sh "$built_deb"
}

# --disable-xctest: the suite is Swift Testing only; XCTest would print an empty "0 tests" run.
stage "swift test" "$SWIFT" test --disable-xctest
stage "interop (PyJWT)" "$PYTHON" Tests/interop/interop.py
stage "Python client" env PYTHON="$PYTHON" Tests/python/run.sh
stage "Debian package, and make install" deb_stage
stage "Debian package in a booted Debian 12 (systemd as PID 1)" container_stage

echo "=== make test: summary"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
    echo "make test: ${#failed[@]} of ${#summary[@]} stages failed: ${failed[*]}"
    exit 1
fi
echo "make test: all ${#summary[@]} stages passed"
