#!/usr/bin/env bash
# The server's CPU per sign-in, a password beside a passkey alone
# (benches/sign_in.rs): builds the release binary, then runs the bench.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
cargo bench --locked --bench sign_in
