#!/usr/bin/env bash
# Checks what `make install DESTDIR=… PREFIX=…` laid out: every file in place under the prefix,
# units that name the installed binary and configuration, an existing configuration kept, and the
# installed commands running. Prints one line per check and 'install: N passed, N failed'.
set -uo pipefail
destdir=${1:?usage: check-install.sh DESTDIR PREFIX}
prefix=${2:?usage: check-install.sh DESTDIR PREFIX}
root="$destdir$prefix"
. "$(dirname "$0")/checks.sh"
for path in libexec/authd/authd bin/authctl lib/systemd/system/authd.service lib/systemd/system/authd.socket \
    lib/systemd/system/authd-http.socket lib/sysusers.d/authd.conf lib/tmpfiles.d/authd.conf \
    share/man/man8/authd.8 share/man/man1/authctl.1 share/man/man5/authd.toml.5 \
    share/bash-completion/completions/authctl share/zsh/site-functions/_authctl share/fish/vendor_completions.d/authctl.fish; do
    check "installs $prefix/$path" test -s "$root/$path"
done
check "installs /etc/authd/authd.toml" test -s "$destdir/etc/authd/authd.toml"
check "authd.service starts $prefix/libexec/authd/authd" \
    grep -qx "ExecStart=$prefix/libexec/authd/authd --config /etc/authd/authd.toml" "$root/lib/systemd/system/authd.service"
check "the installed authctl prints its version" "$root/bin/authctl" --version
check "the installed authd prints its version" "$root/libexec/authd/authd" --version
checks_summary install
