#!/usr/bin/env python3
"""Two monban builds side by side (not a test): CPU per request of the
machine-to-machine scenarios of bench/run.py, with the two servers running at
once and the load alternating between them (A B B A, repeated), so that a
shared machine's drift falls on both alike. Prints each scenario's median
and the ratio B/A.

Usage: bench/compare.py BEFORE_BINARY AFTER_BINARY [--rounds N] [--duration S]
(build each with `cargo build --release` and copy target/release/monban
aside; wrk comes from bench/run.sh). Standard library only.
"""

import argparse
import base64
import http.client
import importlib.util
import json
import statistics
import tempfile
from pathlib import Path

spec = importlib.util.spec_from_file_location("run", Path(__file__).with_name("run.py"))
run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run)


def start(binary):
    """A server of `binary` in a fresh directory, with its clients and tokens."""
    run.BIN = binary
    workdir = Path(tempfile.mkdtemp(prefix="monban-compare-"))
    # Tokens outlive the whole comparison (the default 5 minutes would not).
    server = run.Server(workdir, run.free_port(), {"MONBAN_ACCESS_TOKEN_TTL": "86400"})
    server.wait_ready()
    server.workdir_path = workdir
    jwt = server.cli("client", "create", "--name", "bench-jwt", "--scope", "read write")
    opaque = server.cli("client", "create", "--name", "bench-opaque", "--scope", "read",
                        "--token-format", "opaque")
    gateway = server.cli("client", "create", "--name", "bench-gateway")

    def token_for(client):
        conn = http.client.HTTPConnection("127.0.0.1", server.port)
        auth = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
        conn.request("POST", "/token", "grant_type=client_credentials",
                     {"Content-Type": "application/x-www-form-urlencoded",
                      "Authorization": f"Basic {auth}"})
        return json.loads(conn.getresponse().read())["access_token"]

    opaque_token, jwt_token = token_for(opaque), token_for(jwt)
    cc = "grant_type=client_credentials"
    server.scenarios = {
        "token: client_credentials, JWT RS256": run.post_script(
            "/token", cc, jwt["client_id"], jwt["client_secret"]),
        "token: client_credentials, opaque": run.post_script(
            "/token", cc, opaque["client_id"], opaque["client_secret"]),
        "introspect: opaque token": run.post_script(
            "/introspect", f"token={opaque_token}", gateway["client_id"], gateway["client_secret"]),
        "introspect: JWT": run.post_script(
            "/introspect", f"token={jwt_token}", gateway["client_id"], gateway["client_secret"]),
        "GET /forward_auth, opaque token (no cache)": run.get_script(
            "/forward_auth", {"Authorization": f"Bearer {opaque_token}"}),
        "GET /jwks": run.get_script("/jwks"),
        "GET /.well-known/openid-configuration": run.get_script(
            "/.well-known/openid-configuration"),
    }
    return server


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rounds", type=int, default=2, help="A B B A repetitions")
    parser.add_argument("--duration", type=int, default=4, help="seconds of load per measurement")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    servers = {"before": start(args.before), "after": start(args.after)}
    cpu = {}
    try:
        for _ in range(args.rounds):
            for order in (("before", "after"), ("after", "before")):
                for name in order:
                    server = servers[name]
                    for scenario, script in server.scenarios.items():
                        result = run.run_wrk(server, script, server.workdir_path,
                                             args.duration, args.connections)
                        cpu.setdefault(scenario, {}).setdefault(name, []).append(
                            result["cpu_us_per_request"])
    finally:
        for server in servers.values():
            server.stop()
    print(f"monban builds compared, {run.machine()}, {args.rounds} x ABBA of {args.duration} s\n")
    print("| scenario | before µs/req | after µs/req | after/before | runs (before; after) |")
    print("|---|---:|---:|---:|---|")
    for scenario, by_build in cpu.items():
        before, after = (statistics.median(by_build[n]) for n in ("before", "after"))
        runs = "; ".join(" ".join(f"{x:.0f}" for x in by_build[n]) for n in ("before", "after"))
        print(f"| {scenario} | {before:.1f} | {after:.1f} | {after / before:.2f} | {runs} |")


if __name__ == "__main__":
    main()
