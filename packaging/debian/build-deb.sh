#!/usr/bin/env bash
# Builds authd_<version>_<arch>.deb from release binaries with the Swift runtime linked statically,
# so the package runs on Debian 12 without a Swift toolchain.
set -euo pipefail
cd "$(dirname "$0")/../.."
SWIFT=${SWIFT:-swift}
version=$(sed -n 's/^public let authdVersion = "\(.*\)"$/\1/p' Sources/AuthdProtocol/AuthdVersion.swift)
arch=$(dpkg --print-architecture)
out=${1:-.}

# lld, as `make fuzz` uses: GNU ld prints a warning for every static link of the toolchain's
# FoundationEssentials (glibc's link-time note on mktemp), which is not ours and not actionable.
"$SWIFT" build -c release --static-swift-stdlib -Xswiftc -use-ld=lld --product authd >&2
"$SWIFT" build -c release --static-swift-stdlib -Xswiftc -use-ld=lld --product authctl >&2
# argument-parser's manual generator, which reads the two commands' own descriptions.
"$SWIFT" build -c release --static-swift-stdlib -Xswiftc -use-ld=lld --product generate-manual >&2
bin=$("$SWIFT" build -c release --show-bin-path)

root=$(mktemp -d)
man=$(mktemp -d)
trap 'rm -rf "$root" "$man"' EXIT
packaging/man/build.sh "$bin" "$man"
# The same layout as `make install PREFIX=/usr`, stripped.
DESTDIR="$root" PREFIX=/usr SYSCONFDIR=/etc STRIP=1 packaging/install.sh "$bin" "$man" >&2
# Debian compresses manual pages.
gzip -9n "$root"/usr/share/man/man*/*

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
