#!/usr/bin/env bash
# schemathesis (PyPI) against the admin API's OpenAPI document, on a fresh
# monban with a SQLite database: every answer must conform to the document
# (status codes, content types, headers, bodies) and none may be a 5xx.
#
#   tests/schemathesis/run.sh [MAX_EXAMPLES]      (default 20 per operation)
#
# Uses target/debug/monban (build it first: cargo build), or $MONBAN_BIN.
# Installs schemathesis into a venv ($SCHEMATHESIS_VENV, default
# ~/.cache/monban/schemathesis-venv) when it is missing there.
set -euo pipefail
cd "$(dirname "$0")/../.."

max_examples="${1:-20}"
version="4.32.5"
bin="${MONBAN_BIN:-target/debug/monban}"
venv="${SCHEMATHESIS_VENV:-$HOME/.cache/monban/schemathesis-venv}"

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$version"
fi

work="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
export MONBAN_DATABASE_URL="sqlite://$work/monban.db"
export MONBAN_LISTEN="127.0.0.1:$port"
export MONBAN_ISSUER="$base"
export MONBAN_ADMIN_PASSWORD="schemathesis-admin-password"
# One address sends everything: no rate limits. The token outlives the run.
for limit in TOKEN INTROSPECTION LOGIN REGISTRATION DEVICE; do
  export "MONBAN_RATE_LIMIT_$limit=off"
done
export MONBAN_ACCESS_TOKEN_TTL=7200

"$bin" migrate >/dev/null
# An opaque token: a `keys/rotate {"mode": "now"}` mid-run does not end it.
"$bin" client create --name schemathesis --scope monban:admin --token-format opaque --json \
  >"$work/client.json"
client_id="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_id"])' "$work/client.json")"
client_secret="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_secret"])' "$work/client.json")"

"$bin" serve >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fs "$base/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
token="$(curl -fs -u "$client_id:$client_secret" -d grant_type=client_credentials "$base/token" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"

status=0
"$venv/bin/schemathesis" --config-file tests/schemathesis/schemathesis.toml \
  run "$base/admin/api/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks all \
  --max-examples "$max_examples" \
  --seed 1 \
  --workers 1 \
  --no-color \
  --output-sanitize false \
  --report junit --report-dir "$work/report" || status=$?
if grep -E "panicked|internal error" "$work/serve.log" >/dev/null; then
  echo "the server logged internal errors:" >&2
  grep -E "panicked|internal error" "$work/serve.log" | head -20 >&2
  status=1
fi
exit "$status"
