#!/usr/bin/env bash
# Builds the script runners and the skills written in Python and JavaScript
# into target/skills/:
#
#   python-runner.wasm   runners/python/ (runner.py, weft.py)   componentize-py
#   js-runner.wasm       runners/js/ (runner.js, wit/)          componentize-qjs
#   NAME.wasm            skills/python/NAME/app.py              componentize-py
#   NAME.wasm            skills/js/NAME/index.js                componentize-qjs
#
# with the pinned tools that tools/setup.sh installs (it runs first). Each
# component is rebuilt only when its sources, the WIT, the pinned tools or
# this script changed (a stamp in target/script-build/ holds the hash it was
# built from); components build in parallel. Prints nothing when there is
# nothing to do, one line per component built, and the tool's output when a
# build fails.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/tools/setup.sh"

dest="$root/target/skills"
work="$root/target/script-build"
mkdir -p "$dest" "$work"

componentize_py="$root/.venv/bin/componentize-py"
componentize_qjs="$root/tools/node_modules/.bin/componentize-qjs"
# componentize-py adds $VIRTUAL_ENV's site-packages to the module path: build
# from the listed directories only, whatever the caller's environment.
unset VIRTUAL_ENV PYTHONPATH PYTHONHOME
# Short error messages from the tools (no Rust backtraces).
export RUST_BACKTRACE=0 RUST_LIB_BACKTRACE=0

# The hash a component is built from: its source files and tool pins (the
# arguments), the WIT, and this script.
fingerprint() {
    find "$@" wit runners/build.sh -type f -not -path '*/__pycache__/*' -not -name '*.pyc' -print0 \
        | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}
python_pins=tools/requirements.txt
js_pins=tools/package-lock.json

pids=()

# build NAME SOURCES... -- COMMAND...: runs COMMAND (in the background) to
# write $out unless the stamp says the sources (files or directories, tool
# pins included) are unchanged.
build() {
    local name="$1"
    shift
    local sources=()
    while [[ "$1" != "--" ]]; do
        sources+=("$1")
        shift
    done
    shift
    local want
    want="$(fingerprint "${sources[@]}")"
    if [[ -f "$dest/$name.wasm" && -f "$work/$name.stamp" && "$(cat "$work/$name.stamp")" == "$want" ]]; then
        return
    fi
    (
        start=$SECONDS
        out="$work/$name.wasm"
        rm -f "$out" "$work/$name.stamp"
        export out
        if ! "$@" > "$work/$name.log" 2>&1 || [[ ! -s "$out" ]]; then
            echo "runners/build.sh: building $name.wasm failed:" >&2
            cat "$work/$name.log" >&2
            exit 1
        fi
        mv "$out" "$dest/$name.wasm"
        echo "$want" > "$work/$name.stamp"
        size="$(du -m "$dest/$name.wasm" | cut -f1)"
        echo "runners/build.sh: built target/skills/$name.wasm (${size} MB, $((SECONDS - start)) s)"
    ) &
    pids+=($!)
}

# --- the runners -------------------------------------------------------------------
build python-runner runners/python "$python_pins" -- \
    sh -c '"$0" -q -d wit -w skill componentize -p runners/python runner -o "$out"' "$componentize_py"

# The JavaScript runner's world is weft:skill plus wasi:random (to reseed
# Math.random, whose state is otherwise frozen in the build-time snapshot):
# its WIT directory is assembled from wit/skill.wit and runners/js/wit/.
js_wit="$work/js-runner-wit"
rm -rf "$js_wit"
mkdir -p "$js_wit/deps/weft-skill" "$js_wit/deps/wasi-random"
cp runners/js/wit/runner.wit "$js_wit/runner.wit"
cp wit/skill.wit "$js_wit/deps/weft-skill/skill.wit"
cp runners/js/wit/wasi-random.wit "$js_wit/deps/wasi-random/random.wit"
build js-runner runners/js "$js_pins" -- \
    sh -c '"$0" --sync --wit "$1" --world runner --js runners/js/runner.js -o "$out"' "$componentize_qjs" "$js_wit"

# --- skills in Python and JavaScript -------------------------------------------------
for dir in skills/python/*/; do
    dir="${dir%/}"
    [[ -f "$dir/app.py" ]] || continue
    name="$(basename "$dir")"
    build "$name" "$dir" "$python_pins" -- \
        sh -c '"$0" -q -d wit -w skill componentize -p "$1" app -o "$out"' "$componentize_py" "$dir"
done
for dir in skills/js/*/; do
    dir="${dir%/}"
    [[ -f "$dir/index.js" ]] || continue
    name="$(basename "$dir")"
    build "$name" "$dir" "$js_pins" -- \
        sh -c '"$0" --sync --wit wit --world skill --js "$1/index.js" --module-root "$1" -o "$out"' "$componentize_qjs" "$dir"
done

failed=0
for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
done
exit "$failed"
