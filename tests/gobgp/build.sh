#!/usr/bin/env bash
# Builds gobgpd and the gobgp CLI from the gobgp release pinned in tests/gobgp/go.mod (go.sum
# committed), so that porter-bench measures today's gobgp beside Debian's packaged 3.10.
# Test infrastructure only: porter is pure Rust.
#
# Both binaries land in one folder, cached per pinned version under
# ${PORTER_GOBGP_CACHE:-${XDG_CACHE_HOME:-~/.cache}/porter/gobgp}/, so a second run is instant.
# Prints that folder on stdout; everything else goes to stderr.
#
#   export PORTER_GOBGP_DIR=$(bash tests/gobgp/build.sh)
#   porter-bench --quick --gobgp-dir "$PORTER_GOBGP_DIR"
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../go-cache.sh"

command -v go >/dev/null || { echo "tests/gobgp/build.sh: needs Go (1.26; see README)" >&2; exit 1; }
module=github.com/osrg/gobgp/v4
version=$(awk -v m="$module" '$1 == m && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' "$here/go.mod")
[[ -n $version ]] || { echo "tests/gobgp/build.sh: no $module in $here/go.mod" >&2; exit 1; }
cache_root=${PORTER_GOBGP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/porter/gobgp}

# The cache key: the pinned modules and how they are built (bump `recipe` when the go build
# line below changes), not this script's comments.
recipe="1: CGO_ENABLED=0 -trimpath -s -w; cmd/gobgpd cmd/gobgp"
key=$( (cat "$here/go.mod" "$here/go.sum"; echo "$recipe") | sha256sum | cut -c1-12)
out=$cache_root/$version-$key
bins=(gobgpd gobgp)

say="tests/gobgp/build.sh: gobgp $version"
go_cache_begin "$cache_root" "$out" "$say" "${bins[@]}"
echo "tests/gobgp/build.sh: building gobgp $version (first time: ~2 min on 2 cores)" >&2
(
  cd "$here"
  export CGO_ENABLED=0
  go build -trimpath -ldflags "-s -w" -o "$go_cache_tmp/" "$module/cmd/gobgpd" "$module/cmd/gobgp"
) >&2
go_cache_finish "$out" "$say"
