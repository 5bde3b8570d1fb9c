#!/usr/bin/env bash
# Builds authd_<version>_<arch>.deb from release binaries with the Swift runtime linked statically,
# so the package runs on Debian 12 without a Swift toolchain.
set -euo pipefail
cd "$(dirname "$0")/../.."
SWIFT=${SWIFT:-swift}
version=$(sed -n 's/^public let authdVersion = "\(.*\)"$/\1/p' Sources/AuthdCore/Support/AuthdVersion.swift)
arch=$(dpkg --print-architecture)
out=${1:-.}

# lld, as `make fuzz` uses: GNU ld prints a warning for every static link of the toolchain's
# FoundationEssentials (glibc's link-time note on mktemp), which is not ours and not actionable.
"$SWIFT" build -c release --static-swift-stdlib -Xswiftc -use-ld=lld --product authd >&2
"$SWIFT" build -c release --static-swift-stdlib -Xswiftc -use-ld=lld --product authctl >&2
bin=$("$SWIFT" build -c release --show-bin-path)

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
install -D -m 0755 "$bin/authd" "$root/usr/libexec/authd/authd"
install -D -m 0755 "$bin/authctl" "$root/usr/bin/authctl"
strip --strip-unneeded "$root/usr/libexec/authd/authd" "$root/usr/bin/authctl"
install -D -m 0644 packaging/systemd/authd.service "$root/usr/lib/systemd/system/authd.service"
install -D -m 0644 packaging/systemd/authd.socket "$root/usr/lib/systemd/system/authd.socket"
install -D -m 0644 packaging/systemd/authd-http.socket "$root/usr/lib/systemd/system/authd-http.socket"
install -D -m 0644 packaging/sysusers.d/authd.conf "$root/usr/lib/sysusers.d/authd.conf"
install -D -m 0644 packaging/tmpfiles.d/authd.conf "$root/usr/lib/tmpfiles.d/authd.conf"
install -D -m 0644 packaging/authd.toml "$root/etc/authd/authd.toml"
install -D -m 0644 README.md "$root/usr/share/doc/authd/README.md"

mkdir -p "$root/DEBIAN"
size=$(du -sk "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" packaging/debian/control.in >"$root/DEBIAN/control"
echo /etc/authd/authd.toml >"$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    install -m 0755 "packaging/debian/$script" "$root/DEBIAN/$script"
done

package="$out/authd_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$package" >/dev/null
echo "$package"
