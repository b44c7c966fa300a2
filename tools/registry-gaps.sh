#!/usr/bin/env bash
# Fills a gap in the crate registry these machines reach, so that weft builds
# on the patched wasmtime 48.0.11.
#
# wasmtime 48.0.11's proc-macro crate (wasmtime-internal-component-macro)
# needs wasmtime-internal-wit-bindgen =48.0.11, and the registry serves that
# crate only up to 48.0.10 (48.0.9 and 48.0.11 are missing; upstream published
# them, and the 48.0.11 lock file names its checksum). wit-bindgen is the
# code generator behind `bindgen!`, used at compile time only, and upstream's
# 48.0.11 release changed nothing in it but the version (the crate that uses
# it, component-macro, differs between 48.0.10 and 48.0.11 in version numbers
# only).
#
# So this script takes 48.0.10's published source from the registry, checks
# its SHA-256 against the registry index's, and unpacks it under
# tools/registry-gaps/ with its version set to 48.0.11. The root Cargo.toml's
# [patch.crates-io] points there. Nothing of it is committed.
#
# Delete this script and the [patch.crates-io] entry once the registry
# serves wasmtime-internal-wit-bindgen 48.0.11.
#
# Idempotent and quiet when the crate is already in place.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name=wasmtime-internal-wit-bindgen
from=48.0.10
to=48.0.11
sha256=5bc8a4ec2e822054d35c7e5ec800c4a33a3d4199a682a5114ce71e6f63e0de45
dest="$root/tools/registry-gaps/$name"
stamp="$dest/.weft-stamp"

[[ -f "$stamp" && "$(cat "$stamp")" == "$name $from as $to $sha256" ]] && exit 0

echo "tools/registry-gaps.sh: fetching $name $from from the crate registry (to build as $to)"
# Where the registry serves crate files: its index's config.json says.
index="${WEFT_CRATES_INDEX:-https://index.crates.io}"
dl="$(curl -fsSL --retry 3 "$index/config.json" | python3 -c 'import json, sys; print(json.load(sys.stdin)["dl"])')"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [[ "$dl" == *"{crate}"* || "$dl" == *"{version}"* ]]; then
    url="${dl//\{crate\}/$name}"
    url="${url//\{version\}/$from}"
else
    url="$dl/$name/$from/download"
fi
curl -fsSL --retry 3 -o "$work/crate.tar.gz" "$url"
echo "$sha256  $work/crate.tar.gz" | sha256sum --check --quiet - \
    || { echo "tools/registry-gaps.sh: $name $from does not have the expected SHA-256; refusing it" >&2; exit 1; }
tar -xzf "$work/crate.tar.gz" -C "$work"
src="$work/$name-$from"
# The version line of the [package] table, and nothing else.
python3 - "$src/Cargo.toml" "$from" "$to" << 'EOF'
import sys
path, old, new = sys.argv[1:]
lines = open(path).read().split("\n")
in_package = False
done = False
for i, line in enumerate(lines):
    if line.startswith("["):
        in_package = line.strip() == "[package]"
    elif in_package and line.strip() == f'version = "{old}"':
        lines[i] = f'version = "{new}"'
        done = True
        break
if not done:
    sys.exit(f"tools/registry-gaps.sh: no version {old} in {path}'s [package]")
open(path, "w").write("\n".join(lines))
EOF
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$src" "$dest"
echo "$name $from as $to $sha256" > "$stamp"
