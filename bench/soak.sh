#!/usr/bin/env bash
# Soak run: builds the release binary, then runs bench/soak.py (default 30
# minutes of bounded load on loopback; --minutes N, --database URL for
# PostgreSQL). Not part of the tests; results go to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec python3 bench/soak.py "$@"
