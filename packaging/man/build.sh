#!/usr/bin/env bash
# Writes the manual pages authd(8), authctl(1) and authd.toml(5) into OUT_DIR. The two commands'
# pages come from the commands themselves (argument-parser's generate-manual), with the sections
# in packaging/man/*.tail appended; the configuration's from the shipped, commented authd.toml.
#
# Usage: packaging/man/build.sh BIN_DIR OUT_DIR
#   BIN_DIR holds authd, authctl and generate-manual (swift build --product generate-manual)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:?usage: build.sh BIN_DIR OUT_DIR}
out=${2:?usage: build.sh BIN_DIR OUT_DIR}
mkdir -p "$out"
# The date of the last commit (or SOURCE_DATE_EPOCH), so that the same source writes the same pages.
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    day=$(date -u -d "@$SOURCE_DATE_EPOCH" +%F)
else
    day=$(git log -1 --format=%cs 2>/dev/null || date -u +%F)
fi
authors='authd developers<authd@localhost>'

"$bin/generate-manual" "$bin/authd" --section 8 --date "$day" --authors "$authors" --output-directory "$out" >/dev/null
"$bin/generate-manual" "$bin/authctl" --section 1 --date "$day" --authors "$authors" --output-directory "$out" >/dev/null
# argument-parser ends each page with its AUTHORS section; ours go before it, as mdoc orders them.
for page in authd.8 authctl.1; do
    awk -v tail="packaging/man/$page.tail" '
        /^\.Sh AUTHORS/ && !done { while ((getline line < tail) > 0) print line; done = 1 }
        { print }
        END { if (!done) while ((getline line < tail) > 0) print line }
    ' "$out/$page" >"$out/$page.new"
    mv "$out/$page.new" "$out/$page"
done
python3 packaging/man/config-manual.py packaging/authd.toml "$(date -u -d "$day" '+%B %-d, %Y')" >"$out/authd.toml.5"
