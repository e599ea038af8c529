#!/usr/bin/env bash
# Fails when include/vframe.h is not what cbindgen generates from src/capi today (someone
# changed the ABI without `make header`, or edited the header by hand), or when the
# header's version macros do not match Cargo.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

header=include/vframe.h
want_cbindgen="cbindgen 0.29.2"
have_cbindgen=$(cbindgen --version 2>/dev/null || echo "no cbindgen")
if [ "$have_cbindgen" != "$want_cbindgen" ]; then
    echo "check-header: need $want_cbindgen (make deps), found: $have_cbindgen" >&2
    exit 1
fi

fresh=$(mktemp "${TMPDIR:-/tmp}/vframe-header.XXXXXX")
trap 'rm -f "$fresh"' EXIT
cbindgen --quiet --config cbindgen.toml --output "$fresh"
if ! diff -u "$header" "$fresh" >&2; then
    echo "check-header: $header is stale or edited by hand; run 'make header' and commit it" >&2
    exit 1
fi

version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)
IFS=. read -r major minor patch <<<"${version%%[-+]*}"
expect=("VFRAME_VERSION \"$version\"" "VFRAME_VERSION_MAJOR $major" "VFRAME_VERSION_MINOR $minor"
        "VFRAME_VERSION_PATCH $patch")
for line in "${expect[@]}"; do
    if ! grep -qx "#define $line" "$header"; then
        echo "check-header: $header lacks '#define $line' (Cargo.toml says $version);" \
             "update after_includes in cbindgen.toml, then 'make header'" >&2
        exit 1
    fi
done
echo "check-header: $header is up to date (cbindgen 0.29.2, version $version)"
