# The checks' common part, sourced by packaging/debian/check-deb.sh and packaging/check-install.sh:
# `check NAME COMMAND...` passes when COMMAND exits 0 and prints one line either way;
# `checks_summary LABEL` prints 'LABEL: N passed, N failed' and returns non-zero on any failure.
passed=0
failed=0
check() {
    local name=$1
    shift
    if "$@" >/dev/null 2>&1; then
        passed=$((passed + 1)); echo "ok   $name"
    else
        failed=$((failed + 1)); echo "FAIL $name"
    fi
}
checks_summary() {
    echo "$1: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
