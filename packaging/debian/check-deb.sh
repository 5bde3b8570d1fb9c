#!/usr/bin/env bash
# Checks a built authd .deb the way a Debian 12 machine without Swift would meet it:
# contents and metadata, binaries that load nothing from a Swift toolchain, and binaries that
# run from an empty environment. Prints one line per check and 'deb: N passed, N failed'.
set -uo pipefail
package=$1
. "$(dirname "$0")/../checks.sh"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg-deb -x "$package" "$root/fs"
dpkg-deb -e "$package" "$root/control"
listing=$(dpkg-deb -c "$package")

version=$(dpkg-deb -f "$package" Version)
check "file name is authd_<version>_<arch>.deb" test "$(basename "$package")" = "authd_${version}_$(dpkg --print-architecture).deb"
for path in usr/libexec/authd/authd usr/bin/authctl usr/lib/systemd/system/authd.service \
    usr/lib/systemd/system/authd.socket usr/lib/systemd/system/authd-http.socket usr/lib/sysusers.d/authd.conf usr/lib/tmpfiles.d/authd.conf etc/authd/authd.toml; do
    check "ships /$path" test -f "$root/fs/$path"
done
for page in man8/authd.8.gz man1/authctl.1.gz man5/authd.toml.5.gz; do
    check "ships the manual page /usr/share/man/$page" test -s "$root/fs/usr/share/man/$page"
    # man --warnings runs groff with its warnings on: a page that renders with a warning is a bug.
    check "$page renders without a warning" bash -c '[ -z "$(LC_ALL=C.UTF-8 man --warnings -l "$0" 2>&1 >/dev/null)" ] && LC_ALL=C.UTF-8 man -l "$0" | grep -q "SEE ALSO"' "$root/fs/usr/share/man/$page"
done
check "authd.toml(5) documents every table of the shipped file" bash -c 'for table in tokens server state log users limits policy.grant fleet http; do zcat "$0" | grep -qF "[$table]" || exit 1; done' "$root/fs/usr/share/man/man5/authd.toml.5.gz"
for completion in bash-completion/completions/authctl zsh/vendor-completions/_authctl fish/vendor_completions.d/authctl.fish \
    bash-completion/completions/authd zsh/vendor-completions/_authd fish/vendor_completions.d/authd.fish; do
    check "ships the completion /usr/share/$completion" test -s "$root/fs/usr/share/$completion"
done
check "the bash completion offers authctl's subcommands" bash -c 'source "$0" && COMP_WORDS=(authctl is) COMP_CWORD=1 COMP_LINE="authctl is" COMP_POINT=10 && _authctl && printf "%s\n" "${COMPREPLY[@]}" | grep -qx issue' "$root/fs/usr/share/bash-completion/completions/authctl"
check "the units name the installed binary and configuration" grep -q '^ExecStart=/usr/libexec/authd/authd --config /etc/authd/authd.toml$' "$root/fs/usr/lib/systemd/system/authd.service"
check "files are owned by root" bash -c "! grep -v ' root/root ' <<<\"\$0\"" "$listing"
check "the configuration is a conffile" grep -qx /etc/authd/authd.toml "$root/control/conffiles"
for script in postinst prerm postrm; do
    check "$script is valid sh" sh -n "$root/control/$script"
done
check "postinst creates the user and enables the socket" grep -q "systemctl enable authd.socket" "$root/control/postinst"

for binary in usr/libexec/authd/authd usr/bin/authctl; do
    check "$binary links nothing from /opt/swift or missing" bash -c "ldd \"\$0\" | grep -Eq '/opt/swift|not found' && exit 1 || exit 0" "$root/fs/$binary"
    check "$binary links no Swift runtime library" bash -c "ldd \"\$0\" | grep -Eq 'libswift|libFoundation|libdispatch|libBlocksRuntime' && exit 1 || exit 0" "$root/fs/$binary"
done
# Every shared library the binaries link directly (ELF NEEDED) comes from a package the .deb
# depends on; what those libraries need in turn is their own packages' business.
depends_on_linked_packages() {
    local depends missing=0 binary needed path owner
    depends=$(dpkg-deb -f "$package" Depends | tr -d ' ' | tr ',' '\n' | sed 's/(.*//')
    for binary in "$@"; do
        for needed in $(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
            case $needed in ld-linux*) continue ;; esac # the dynamic loader is part of libc6
            path=$(ldd "$binary" | awk -v lib="$needed" '$1 == lib && $3 ~ /^\// {print $3}')
            owner=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
            [ -n "$owner" ] || owner=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
            if [ -z "$owner" ] || ! grep -qx "$owner" <<<"$depends"; then
                echo "$binary needs $needed ($path, package '${owner:-?}') which Depends does not name" >&2
                missing=1
            fi
        done
    done
    return $missing
}
check "Depends covers every linked library's package" depends_on_linked_packages "$root/fs/usr/libexec/authd/authd" "$root/fs/usr/bin/authctl"
check "authd --version runs from an empty environment" bash -c "test \"\$(env -i \"\$0\" --version)\" = \"\$1\"" "$root/fs/usr/libexec/authd/authd" "$version"
check "authctl --help runs from an empty environment" env -i "$root/fs/usr/bin/authctl" --help

# What the running daemon actually maps, including anything loaded late: nothing from /opt/swift.
work=$(mktemp -d)
env -i "$root/fs/usr/libexec/authd/authd" --socket "$work/s" --state-dir "$work/state" --config "$root/fs/etc/authd/authd.toml" 2>"$work/log" &
pid=$!
for _ in $(seq 200); do [ -S "$work/s" ] && break; sleep 0.05; done
check "the installed daemon serves (issue via the installed authctl)" env -i "$root/fs/usr/bin/authctl" --socket "$work/s" issue probe
check "the running daemon maps nothing from /opt/swift" bash -c "! grep -q /opt/swift /proc/\$0/maps" "$pid"
kill -TERM "$pid"
wait "$pid"
check "the installed daemon exits 0 on SIGTERM" test $? -eq 0
rm -rf "$work"

checks_summary deb
