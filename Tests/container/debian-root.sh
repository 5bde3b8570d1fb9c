#!/usr/bin/env bash
# Prints the path of a Debian 12 root directory for the booted-container test, building it with
# debootstrap when it is not cached yet. The cache key names every package in it, so changing the
# list builds a new root instead of reusing a stale one. The root is never modified in place: the
# test boots a copy.
set -euo pipefail
cache=${AUTHD_CONTAINER_CACHE:-/var/cache/authd-tests}
mirror=${AUTHD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# systemd as PID 1 and D-Bus; the libraries the .deb depends on, so it installs without a network;
# PostgreSQL 15, for a fleet node under the unit.
packages=systemd,systemd-sysv,dbus,libsystemd0,libsqlite3-0,libargon2-1,procps,postgresql-15
key=$(printf '%s' "bookworm $packages" | sha256sum | cut -c1-12)
root="$cache/bookworm-$key"

if [ ! -x "$root/usr/lib/systemd/systemd" ]; then
    mkdir -p "$cache"
    partial="$root.partial.$$"
    trap 'rm -rf "$partial"' EXIT
    echo "building the Debian 12 root with debootstrap (cached in $root)" >&2
    debootstrap --variant=minbase --include="$packages" bookworm "$partial" "$mirror" >"$partial.log" 2>&1 ||
        { tail -20 "$partial.log" >&2; rm -f "$partial.log"; exit 1; }
    rm -f "$partial.log"
    # Two runs building at once: the first to finish wins and the other's copy is dropped.
    mv -T "$partial" "$root" 2>/dev/null || rm -rf "$partial"
fi
echo "$root"
