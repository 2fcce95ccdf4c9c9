#!/usr/bin/env bash
# Runs the cargo-fuzz targets (fuzz/fuzz_targets) on the nightly toolchain.
#
#   fuzz/run.sh SECONDS [TARGET…]     each target for SECONDS (default: all)
#
# Environment: JOBS (targets at once, default 1), FUZZ_CORPUS_DIR (where the
# corpora live; default fuzz/corpus, which then grows — CI passes a copy),
# FUZZ_TARGET_DIR (build directory, default ~/.cache/monban/fuzz-target, kept
# between runs), FUZZ_PROFILE (release, the default, for real runs; dev for
# CI's smoke: unoptimised, built in about a third of the time). Installs
# cargo-fuzz when it is missing. Prints, per target, the executions, the
# corpus size and whether it crashed; exits 1 on any crash (the input is in
# fuzz/artifacts/TARGET/).
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:?usage: fuzz/run.sh SECONDS [TARGET…]}"
shift
jobs="${JOBS:-1}"
corpus_root="${FUZZ_CORPUS_DIR:-$PWD/corpus}"
target_dir="${FUZZ_TARGET_DIR:-$HOME/.cache/monban/fuzz-target}"
profile="${FUZZ_PROFILE:-release}"
case "$profile" in
  release) build_flags=(); bin_profile=release ;;
  dev) build_flags=(--dev); bin_profile=debug ;;
  *) echo "FUZZ_PROFILE must be release or dev" >&2; exit 2 ;;
esac

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

# No sanitizer: monban forbids unsafe code; what is sought is panics,
# broken properties, hangs and runaway memory. Built once for all targets,
# which then run as they are (source changed meanwhile is not rebuilt).
cargo +nightly fuzz build "${build_flags[@]}" --sanitizer none --target-dir "$target_dir" >/dev/null
triple="$(rustc +nightly -vV | sed -n 's/^host: //p')"
bin_dir="$target_dir/$triple/$bin_profile"

logs="$(mktemp -d)"
run() {
  local target="$1"
  mkdir -p "$corpus_root/$target" "artifacts/$target"
  local status=0
  "$bin_dir/$target" "$corpus_root/$target" -artifact_prefix="artifacts/$target/" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$logs/$target.log" 2>&1 || status=$?
  local execs corpus
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$target.log" | grep -o '[0-9]*$' || echo '?')"
  corpus="$(find "$corpus_root/$target" -type f | wc -l)"
  if [ "$status" -eq 0 ]; then
    printf '%-16s ok      %10s runs  %6s inputs in the corpus  (%ss)\n' "$target" "$execs" "$corpus" "$seconds"
  else
    printf '%-16s CRASHED (see fuzz/artifacts/%s; log:)\n' "$target" "$target"
    tail -40 "$logs/$target.log"
    return 1
  fi
}

failed=0
running=0
for target in "${targets[@]}"; do
  run "$target" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
rm -rf "$logs"
exit "$failed"
