#!/usr/bin/env bash
# Installs the pinned tools that build the script runners and the Python and
# JavaScript skills (runners/build.sh calls this first):
#
#   .venv/                 componentize-py, from tools/requirements.txt
#   tools/node_modules/    componentize-qjs (and componentize-js), from tools/package-lock.json
#
# Idempotent: each part is reinstalled only when its pin file changed (a stamp
# holds the hash it was installed from) or the install is missing or broken.
# Prints nothing when there is nothing to do.
set -euo pipefail

tools="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$tools")"
python="${PYTHON:-python3}"
venv="$root/.venv"

hash_of() {
    # The pin file, and the interpreter the install is built with.
    { cat "$1"; shift; "$@" 2>&1; } | sha256sum | cut -d' ' -f1
}

need() {
    command -v "$1" > /dev/null || { echo "tools/setup.sh: '$1' is needed to build the script runners; install it first" >&2; exit 1; }
}

# --- Python: .venv with componentize-py -----------------------------------------
need "$python"
want="$(hash_of "$tools/requirements.txt" "$python" --version)"
stamp="$venv/.weft-tools-stamp"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]] || ! "$venv/bin/python" -c '' 2> /dev/null \
    || [[ ! -x "$venv/bin/componentize-py" ]]; then
    echo "tools/setup.sh: installing Python tools into .venv (tools/requirements.txt)"
    if ! "$venv/bin/python" -c '' 2> /dev/null; then
        rm -rf "$venv"
        "$python" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$tools/requirements.txt"
    echo "$want" > "$stamp"
fi

# --- JavaScript: tools/node_modules from the lock file ----------------------------
need node
need npm
want="$(hash_of "$tools/package-lock.json" node --version)"
stamp="$tools/node_modules/.weft-tools-stamp"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]] || [[ ! -e "$tools/node_modules/.bin/componentize-qjs" ]]; then
    echo "tools/setup.sh: installing JavaScript tools into tools/node_modules (tools/package-lock.json)"
    (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error > /dev/null)
    echo "$want" > "$stamp"
fi
