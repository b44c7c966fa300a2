#!/usr/bin/env bash
# The supply-chain audit (`make audit`): cargo-deny checks advisories, bans,
# licenses and sources, as deny.toml configures them, for both workspaces
# (this one and skills/), with all features, offline.
#
# Advisories come from a copy of the RustSec advisory database: by default
# ../shared/advisory-db beside the repository, or the directory named by
# $WEFT_ADVISORY_DB (a plain copy of the advisory-db repository's files, or a
# clone of it). That directory is only read. cargo-deny wants the database as
# a git repository under its db-path, so this script copies it to
# target/advisory-db/advisory-db-3157b0e258782691/ (the name cargo-deny gives
# the default database URL) and makes it a git repository there, again only
# when the source's contents changed. cargo-deny then runs with --offline and
# fetches nothing.
#
# The first run installs cargo-deny (pinned below) from crates.io and fetches
# any crate sources cargo has not downloaded yet; after that nothing here
# uses the network. Prints one line when everything passes; the full reports
# are in target/audit/.
set -euo pipefail

deny_version=0.20.2

caller="$PWD"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo="${CARGO:-cargo}"
me="tools/audit.sh"

# --- cargo-deny -----------------------------------------------------------------
if [[ "$("$cargo" deny --version 2> /dev/null || true)" != "cargo-deny $deny_version" ]]; then
    echo "$me: installing cargo-deny $deny_version from crates.io (a few minutes, once)"
    "$cargo" install --locked --quiet cargo-deny --version "$deny_version"
fi

# --- the advisory database ------------------------------------------------------
src="${WEFT_ADVISORY_DB:-$root/../shared/advisory-db}"
[[ "$src" == /* ]] || src="$caller/$src"
if [[ ! -d "$src/crates" ]]; then
    echo "$me: no advisory database at $src (it has no crates/ folder)." >&2
    echo "$me: point WEFT_ADVISORY_DB at a copy of https://github.com/rustsec/advisory-db" >&2
    exit 1
fi
src="$(cd "$src" && pwd)"
db_root="$root/target/advisory-db"
# cargo-deny's directory for db-urls = ["https://github.com/rustsec/advisory-db"]:
# the URL's last path segment and its XxHash64.
db="$db_root/advisory-db-3157b0e258782691"

# Copies $src to $db as a git repository unless $db already holds the same
# files, and prints the date of the newest advisory.
newest="$(python3 - "$src" "$db" << 'EOF'
import hashlib, os, re, shutil, subprocess, sys, tempfile

src, db = sys.argv[1:]
files = []
for dirpath, dirnames, filenames in os.walk(src):
    dirnames[:] = sorted(d for d in dirnames if d != ".git")
    for name in sorted(filenames):
        path = os.path.join(dirpath, name)
        files.append((os.path.relpath(path, src), path))

digest = hashlib.sha256()
newest = ""
date = re.compile(rb'^date = "(\d{4}-\d{2}-\d{2})"', re.M)
for rel, path in files:
    with open(path, "rb") as f:
        data = f.read()
    digest.update(rel.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    if rel.endswith(".md") and rel.split(os.sep)[0] in ("crates", "rust"):
        m = date.search(data)
        if m and m.group(1).decode() > newest:
            newest = m.group(1).decode()
stamp_text = f"{digest.hexdigest()} {newest}\n"
stamp = os.path.join(db, ".git", "weft-source")

try:
    up_to_date = open(stamp).read() == stamp_text
except OSError:
    up_to_date = False

if not up_to_date:
    os.makedirs(os.path.dirname(db), exist_ok=True)
    work = tempfile.mkdtemp(prefix=".new-", dir=os.path.dirname(db))
    for rel, path in files:
        dest = os.path.join(work, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(path, dest)  # contents only: the copy is writable
    git = ["git", "-C", work, "-c", "user.name=weft audit", "-c", "user.email=audit@weft.invalid",
           "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null"]
    quiet = {"stdout": subprocess.DEVNULL, "check": True}
    subprocess.run(git + ["init", "--quiet"], **quiet)
    subprocess.run(git + ["add", "--all"], **quiet)
    subprocess.run(git + ["commit", "--quiet", "--no-verify", "-m",
                          f"advisory-db from {src}, newest advisory {newest}"], **quiet)
    with open(os.path.join(work, ".git", "weft-source"), "w") as f:
        f.write(stamp_text)
    if os.path.exists(db):
        old = tempfile.mkdtemp(prefix=".old-", dir=os.path.dirname(db))
        os.rename(db, os.path.join(old, "db"))
        shutil.rmtree(old)
    os.rename(work, db)

# cargo-deny rejects a database whose last fetch (FETCH_HEAD's mtime) is older
# than maximum-db-staleness: the copy counts as fetched now, from $src. How old
# the advisories themselves are, the summary line says.
head = subprocess.run(["git", "-C", db, "rev-parse", "HEAD"], capture_output=True, text=True,
                      check=True).stdout.strip()
with open(os.path.join(db, ".git", "FETCH_HEAD"), "w") as f:
    f.write(f"{head}\t\tcopy of '{src}'\n")
print(newest)
EOF
)"

# --- crate sources --------------------------------------------------------------
# cargo-deny reads every crate's manifest and license files. Download what cargo
# does not have yet (from crates.io, as any build would); when everything is
# there, this stays offline.
for manifest in Cargo.toml skills/Cargo.toml; do
    "$cargo" fetch --locked --offline --quiet --manifest-path "$manifest" 2> /dev/null \
        || "$cargo" fetch --locked --quiet --manifest-path "$manifest"
done

# --- the checks -----------------------------------------------------------------
mkdir -p target/audit
failed=()
declare -A warnings=()
for ws in weft skills; do
    args=(--offline --locked --all-features --color never)
    extra=()
    if [[ "$ws" == skills ]]; then
        args+=(--manifest-path skills/Cargo.toml --config deny.toml)
        # deny.toml's allow-list and ignore list cover both workspaces together.
        extra=(--allow license-not-encountered --allow advisory-not-detected)
    fi
    log="target/audit/$ws.log"
    if ! "$cargo" deny "${args[@]}" check "${extra[@]}" > "$log" 2>&1; then
        failed+=("$ws")
    fi
    while read -r code; do
        warnings[$code]=$(( ${warnings[$code]:-0} + 1 ))
    done < <(sed -n 's/^warning\[\([a-z-]*\)\].*/\1/p' "$log")
done

if (( ${#failed[@]} )); then
    for ws in "${failed[@]}"; do
        echo "$me: the audit of the $ws workspace failed; its errors (all of it: target/audit/$ws.log):" >&2
        # The errors again, without the warnings around them.
        args=(--offline --locked --all-features --log-level error)
        extra=()
        if [[ "$ws" == skills ]]; then
            args+=(--manifest-path skills/Cargo.toml --config deny.toml)
            extra=(--allow license-not-encountered --allow advisory-not-detected)
        fi
        "$cargo" deny "${args[@]}" check "${extra[@]}" >&2 || true
    done
    exit 1
fi

summary=""
for code in $(printf '%s\n' "${!warnings[@]}" | sort); do
    summary+="${summary:+, }${warnings[$code]} $code"
done
echo "audit: advisories, bans, licenses, sources ok for weft and skills" \
    "(cargo-deny $deny_version, advisories up to $newest)${summary:+; warnings: $summary, see target/audit/}"
