#!/usr/bin/env bash
# Runs the fuzz targets one after another, each for FUZZ_SECONDS (default 60),
# niced and with one libFuzzer job, and prints per target the executions done
# and whether it found a crash, a timeout or an out-of-memory. Exits non-zero
# if any did. `make fuzz` runs it; `fuzz/run.sh NAME...` runs only those.
#
# The committed seeds (fuzz/corpus/NAME/) are read, never written: what the
# fuzzer adds goes to fuzz/work/NAME/ (ignored by git), where the next run
# starts from. Crash inputs go to fuzz/artifacts/NAME/; the full libFuzzer
# output of the last run of NAME is fuzz/work/NAME.log.
set -euo pipefail

cd "$(dirname "$0")"
fuzz_dir=$PWD
seconds=${FUZZ_SECONDS:-60}
# Extra libFuzzer flags, e.g. FUZZ_FLAGS=-runs=1000000.
extra=${FUZZ_FLAGS:-}
cargo_fuzz=(nice -n 19 cargo +nightly fuzz)
# With debug assertions (overflow checks and debug_assert! in weft and its
# dependencies); reproduce with the same flag so that nothing is rebuilt.
build_flags=(--debug-assertions)

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <("${cargo_fuzz[@]}" list)
fi

# Build every target once, then run the binaries themselves: `cargo fuzz run`
# would check (and, while someone edits host/, redo) the build per target.
# FUZZ_NO_BUILD=1 runs what was built last (to keep fuzzing the same code
# while host/ changes).
mkdir -p work
if [ -z "${FUZZ_NO_BUILD:-}" ]; then
  "${cargo_fuzz[@]}" build "${build_flags[@]}" 2> work/build.log || {
    cat work/build.log >&2
    exit 1
  }
fi
bin_dir=$fuzz_dir/target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release

dict_for() {
  case $1 in
    cel_eval) echo "$fuzz_dir/dicts/cel.dict" ;;
    spec_parse | spec_check | mcp_message) echo "$fuzz_dir/dicts/spec.dict" ;;
  esac
}

failed=0
for t in "${targets[@]}"; do
  mkdir -p "work/$t" "artifacts/$t"
  # -jobs=1 runs the fuzzer in one child process whose output goes to
  # fuzz-0.log in the current directory: give each target its own.
  rundir=$(mktemp -d "$fuzz_dir/work/$t.run.XXXXXX")
  dict=$(dict_for "$t")
  flags=(-max_total_time="$seconds" -jobs=1 -workers=1 -timeout=10 -rss_limit_mb=4096 -print_final_stats=1)
  [ -n "$dict" ] && flags+=(-dict="$dict")
  before=$(find "artifacts/$t" -type f | wc -l)
  set +e
  # shellcheck disable=SC2086 # $extra is a list of flags
  (cd "$rundir" && ASAN_OPTIONS=detect_odr_violation=0 nice -n 19 "$bin_dir/$t" \
    -artifact_prefix="$fuzz_dir/artifacts/$t/" "${flags[@]}" $extra \
    "$fuzz_dir/work/$t" "$fuzz_dir/corpus/$t") > "work/$t.outer.log" 2>&1
  rc=$?
  set -e
  cat "work/$t.outer.log" "$rundir"/fuzz-*.log > "work/$t.log" 2> /dev/null || true
  rm -rf "$rundir" "work/$t.outer.log"
  log="work/$t.log"
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
  [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#' || true)
  [ -n "$execs" ] || execs="?"
  time=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1 | grep -oE '[0-9]+ second' | grep -oE '[0-9]+' || true)
  corpus=$(find "work/$t" -type f | wc -l)
  found=$(grep -oE 'SUMMARY: libFuzzer: [a-z-]+|ERROR: libFuzzer: [a-z-]+|panicked at [^ ]+' "$log" | head -1 || true)
  artifact=$(grep -oE '(Test unit|artifact) written to [^ ]+' "$log" | tail -1 | awk '{print $NF}' || true)
  after=$(find "artifacts/$t" -type f | wc -l)
  if [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ] || [ -n "$artifact" ]; then
    failed=1
    printf '%-14s %12s executions  %s corpus  FOUND: %s%s\n' "$t" "$execs" "$corpus" "${found:-exit code $rc}" \
      "${artifact:+ ($artifact)}"
    printf '%-14s see fuzz/%s; reproduce: cd fuzz && cargo +nightly fuzz run %s %s %s\n' "" "$log" \
      "${build_flags[*]}" "$t" "${artifact:-ARTIFACT}"
  else
    printf '%-14s %12s executions  %s corpus  in %ss: no crash\n' "$t" "$execs" "$corpus" "${time:-$seconds}"
  fi
done
exit "$failed"
