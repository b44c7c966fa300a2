#!/usr/bin/env bash
# Copies every built skill component to target/skills/<name>.wasm, where
# <name> is the directory name of its crate (echo, word-count, busy-loop, ...).
# Run after `cargo build --release` in this directory. Copies only what
# changed, and says nothing when nothing did.
set -euo pipefail

skills_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$skills_dir")"
release="$root/target/skills-build/wasm32-wasip2/release"
dest="$root/target/skills"
mkdir -p "$dest"

updated=0
missing=()
for manifest in "$skills_dir"/*/Cargo.toml "$skills_dir"/hostile/*/Cargo.toml "$skills_dir"/testing/*/Cargo.toml; do
    name="$(basename "$(dirname "$manifest")")"
    # A cdylib is named after its crate (dashes become underscores); a binary
    # (wrong-world) keeps its dashes.
    src=""
    for candidate in "$release/${name//-/_}.wasm" "$release/$name.wasm"; do
        if [[ -f "$candidate" ]]; then
            src="$candidate"
            break
        fi
    done
    if [[ -z "$src" ]]; then
        missing+=("$name")
        continue
    fi
    if ! cmp -s "$src" "$dest/$name.wasm"; then
        cp "$src" "$dest/$name.wasm"
        updated=$((updated + 1))
    fi
done

if ((${#missing[@]})); then
    echo "collect.sh: not built: ${missing[*]} (run 'cargo build --release' in skills/ first)" >&2
    exit 1
fi
if ((updated)); then
    echo "collect.sh: updated $updated skill component(s) in ${dest#"$root"/}/"
fi
