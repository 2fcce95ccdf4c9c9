#!/usr/bin/env bash
# Load benchmark: installs wrk (Debian) if needed, builds the release binary,
# then runs bench/run.py. Not part of the tests. Pass --duration N to change
# the seconds of load per scenario; results also go to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq wrk
fi
command -v openssl >/dev/null || { echo "openssl is needed for the RSA yardstick" >&2; exit 1; }
cargo build --release --quiet
# The argon2 yardstick, built now so that nothing compiles during the load.
# Its compiler output is kept, and shown if the build fails. Every message
# is read: closing the pipe early would fail cargo (broken pipe, exit 101).
build_log="$(mktemp)"
if ! ARGON2_BENCH=$(cargo bench --bench argon2 --no-run --message-format=json 2>"$build_log" \
  | python3 -c 'import json,sys; found=[m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable") and m["target"]["name"] == "argon2"]; print(found[0])'); then
  echo "building the argon2 bench failed:" >&2
  tail -40 "$build_log" >&2
  exit 1
fi
export ARGON2_BENCH
exec python3 bench/run.py --json "bench/results/$(date +%Y%m%d-%H%M%S).json" "$@"
