#!/usr/bin/env python3
"""monban load benchmark (not a test): starts the release build with the
default configuration on a fresh SQLite database and measures, with wrk:

  - client_credentials tokens (JWT RS256 and opaque), JWKS, metadata,
    introspection, /forward_auth (with and without the phantom cache),
    browser logins and SSO authorize requests: requests/s, p50/p99 latency, and the server's CPU time per
    request (utime+stime from /proc/PID/stat over the load, divided by the
    requests: steadier than requests/s on a shared machine);
  - idle and peak RSS, start-to-ready time on an existing database;
  - the single-core cost of one RSA-2048 signature (`openssl speed`), the
    yardstick for the RS256 token path.

Usage: bench/run.sh (installs wrk, builds, then runs this). Standard library only.
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "monban"
HZ = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The load comes from one address, which the default rate limits would
# stop within a second: they are off (`--rate-limits off`), or set so high
# that they never refuse (`--rate-limits 1000000/s`) to measure their cost.
RATE_LIMITS = "off"
RATE_LIMIT_SETTINGS = [
    "MONBAN_RATE_LIMIT_TOKEN",
    "MONBAN_RATE_LIMIT_INTROSPECTION",
    "MONBAN_RATE_LIMIT_LOGIN",
    "MONBAN_RATE_LIMIT_REGISTRATION",
    "MONBAN_RATE_LIMIT_DEVICE",
]


class Server:
    def __init__(self, workdir, port, extra_env=None):
        self.port = port
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONBAN_")}
        env.update({name: RATE_LIMITS for name in RATE_LIMIT_SETTINGS})
        env.update(MONBAN_LISTEN=f"127.0.0.1:{port}", MONBAN_ISSUER=f"http://127.0.0.1:{port}")
        env.update(extra_env or {})
        self.env = env
        self.workdir = workdir
        self.log = open(workdir / "server.log", "ab")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(BIN), "serve"], cwd=workdir, env=env, stdout=self.log, stderr=self.log
        )

    def wait_ready(self, timeout=30.0):
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.001)
        raise RuntimeError("server did not become ready; see server.log")

    def cpu_seconds(self):
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # utime and stime are fields 14 and 15 of stat(5); fields[0] is field 3.
        return (int(fields[11]) + int(fields[12])) / HZ

    def memory_kib(self, key):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def cli(self, *args):
        out = subprocess.run(
            [str(BIN), *args, "--json"], cwd=self.workdir, env=self.env,
            capture_output=True, text=True, check=True,
        )
        return json.loads(out.stdout)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def post_script(path, body, client_id, secret):
    auth = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return (
        'wrk.method = "POST"\n'
        f'wrk.path = "{path}"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        f'wrk.headers["Authorization"] = "Basic {auth}"\n'
    )


def get_script(path, headers=None):
    script = f'wrk.method = "GET"\nwrk.path = "{path}"\n'
    for name, value in (headers or {}).items():
        script += f'wrk.headers["{name}"] = "{value}"\n'
    return script


def to_ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(server, script_text, workdir, duration, connections, expect_redirect=False):
    script = workdir / "script.lua"
    script.write_text(script_text)
    url = f"http://127.0.0.1:{server.port}"
    base = ["wrk", "-t1", f"-c{connections}", "--latency", "-s", str(script), url]
    subprocess.run(base[:1] + ["-d2s"] + base[1:], capture_output=True, check=True)  # warm-up
    cpu_before = server.cpu_seconds()
    out = subprocess.run(base[:1] + [f"-d{duration}s"] + base[1:], capture_output=True, text=True, check=True).stdout
    cpu = server.cpu_seconds() - cpu_before
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    # wrk counts 3xx as success; only real errors fail the run.
    if ("Non-2xx" in out and not expect_redirect) or "Socket errors" in out:
        raise RuntimeError("errors during the load:\n" + out)
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))

    def parse(v):
        m = re.match(r"([\d.]+)(us|ms|s)", v)
        return to_ms(m.group(1), m.group(2))

    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": parse(latency["50"]),
        "p99_ms": parse(latency["99"]),
        "cpu_us_per_request": cpu / requests * 1e6,
        "requests": requests,
    }


class Browser:
    """Just enough of a browser for monban's login pages: one cookie, forms."""

    def __init__(self, port):
        self.port = port
        self.cookie = None
        self.gateway_cookie = None
        # One keep-alive connection, as a browser would use.
        self.conn = http.client.HTTPConnection("127.0.0.1", port)

    def request(self, method, path, body=None, headers=None):
        conn = self.conn
        headers = dict(headers or {})
        if self.cookie:
            headers["Cookie"] = self.cookie
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body, headers)
        response = conn.getresponse()
        data = response.read().decode()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie" and value.startswith("monban_session="):
                self.cookie = value.split(";", 1)[0]
            if name.lower() == "set-cookie" and value.startswith("monban_gateway="):
                self.gateway_cookie = value.split(";", 1)[0]
        return response.status, response.getheader("Location"), data


def field(html, name):
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


def pkce():
    verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


REDIRECT = "http://127.0.0.1:9/cb"


def authorize_path(client_id, challenge, extra=None):
    params = {
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
        "scope": "openid profile email", "state": "s", "nonce": "n",
        "code_challenge": challenge, "code_challenge_method": "S256",
    }
    params.update(extra or {})
    return "/authorize?" + urllib.parse.urlencode(params)


def code_of(location):
    return urllib.parse.parse_qs(urllib.parse.urlparse(location).query)["code"][0]


def full_login(port, client, username, password):
    """authorize -> login page -> login POST -> consent -> code -> token."""
    b = Browser(port)
    verifier, challenge = pkce()
    status, _, page = b.request("GET", authorize_path(client["client_id"], challenge, {"prompt": "consent"}))
    assert status == 200 and 'name="password"' in page, status
    form = {"csrf": field(page, "csrf"), "rid": field(page, "rid"), "username": username, "password": password}
    status, location, page = b.request("POST", "/login", urllib.parse.urlencode(form))
    if status == 200:  # the consent page (first-party clients skip it)
        form = {"csrf": field(page, "csrf"), "rid": field(page, "rid"), "decision": "allow"}
        status, location, _ = b.request("POST", "/consent", urllib.parse.urlencode(form))
    assert status == 303, status
    code = code_of(location)
    auth = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    body = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code,
                                   "redirect_uri": REDIRECT, "code_verifier": verifier})
    status, _, _ = b.request("POST", "/token", body, {"Authorization": f"Basic {auth}"})
    assert status == 200, status
    return b


def login_benchmark(server, client, username, password, workers, logins):
    """Server CPU per full login, and logins/s, with `workers` browsers at once."""
    from concurrent.futures import ThreadPoolExecutor
    cpu = server.cpu_seconds()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda _: full_login(server.port, client, username, password), range(logins)))
    elapsed = time.perf_counter() - started
    return {
        "logins_per_s": logins / elapsed,
        "cpu_ms_per_login": (server.cpu_seconds() - cpu) / logins * 1000,
    }


def argon2_verify_us():
    # run.sh builds the bench before the load starts (ARGON2_BENCH), so that
    # nothing is compiled while measuring and edits made meanwhile do not
    # matter; without it, cargo builds and runs it now.
    prebuilt = os.environ.get("ARGON2_BENCH")
    command = [prebuilt, "--bench"] if prebuilt else ["cargo", "bench", "--quiet", "--bench", "argon2"]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["argon2_verify_cpu_us"]


def openssl_rsa2048_sign_us():
    out = subprocess.run(
        ["openssl", "speed", "-seconds", "3", "rsa2048"], capture_output=True, text=True, check=True
    ).stdout
    m = re.search(r"rsa\s+2048 bits\s+([\d.]+)s", out)
    return float(m.group(1)) * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per scenario")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--logins", type=int, default=60, help="scripted browser logins per worker setting")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--rate-limits", default="off",
                        help="MONBAN_RATE_LIMIT_* for the server (off, or e.g. 1000000/s to measure the limiter)")
    args = parser.parse_args()
    global RATE_LIMITS
    RATE_LIMITS = args.rate_limits
    if not BIN.exists():
        sys.exit(f"{BIN} is missing: run bench/run.sh (it builds the release binary)")
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: run bench/run.sh (it installs wrk)")

    workdir = Path(tempfile.mkdtemp(prefix="monban-bench-"))
    port = free_port()
    results = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "scenarios": {}}
    # The yardsticks first: a failure here costs nothing.
    results["argon2_verify_us"] = argon2_verify_us()
    results["openssl_rsa2048_sign_us"] = openssl_rsa2048_sign_us()

    # First start creates the database, keys and admin; the next ones are
    # "an existing database".
    first = Server(workdir, port)
    first.wait_ready()
    first.stop()
    ready = []
    for _ in range(5):
        s = Server(workdir, port)
        ready.append(s.wait_ready() * 1000)
        s.stop()
    results["ready_ms_median"] = statistics.median(ready)

    server = Server(workdir, port)
    server.wait_ready()
    time.sleep(2)
    results["idle_rss_mib"] = server.memory_kib("VmRSS") / 1024

    jwt = server.cli("client", "create", "--name", "bench-jwt", "--scope", "read write")
    opaque = server.cli("client", "create", "--name", "bench-opaque", "--scope", "read", "--token-format", "opaque")
    gateway = server.cli("client", "create", "--name", "bench-gateway")

    def token_for(client):
        conn = http.client.HTTPConnection("127.0.0.1", port)
        auth = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
        conn.request("POST", "/token", "grant_type=client_credentials",
                     {"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {auth}"})
        return json.loads(conn.getresponse().read())["access_token"]

    opaque_token = token_for(opaque)
    jwt_token = token_for(jwt)
    cc = "grant_type=client_credentials"
    scenarios = {
        "token: client_credentials, JWT RS256": post_script("/token", cc, jwt["client_id"], jwt["client_secret"]),
        "token: client_credentials, opaque": post_script("/token", cc, opaque["client_id"], opaque["client_secret"]),
        "introspect: opaque token": post_script(
            "/introspect", f"token={opaque_token}", gateway["client_id"], gateway["client_secret"]),
        "introspect: JWT": post_script(
            "/introspect", f"token={jwt_token}", gateway["client_id"], gateway["client_secret"]),
        "GET /forward_auth, opaque token (no cache)": get_script(
            "/forward_auth", {"Authorization": f"Bearer {opaque_token}"}),
        "GET /jwks": get_script("/jwks"),
        "GET /.well-known/oauth-authorization-server": get_script("/.well-known/oauth-authorization-server"),
    }
    for name, script in scenarios.items():
        results["scenarios"][name] = run_wrk(server, script, workdir, args.duration, args.connections)
        print(f"  measured {name}", file=sys.stderr)

    # Browser logins: a user, a web app, and scripted logins.
    password = "benchmark password 1"
    subprocess.run([str(BIN), "user", "create", "--username", "bench", "--password-stdin", "--json"],
                   cwd=workdir, env=server.env, input=password + "\n", capture_output=True, text=True, check=True)
    web = server.cli("client", "create", "--name", "bench-web", "--redirect-uri", REDIRECT, "--scope", "openid")
    full_login(port, web, "bench", password)  # warm-up
    results["logins"] = {
        workers: login_benchmark(server, web, "bench", password, workers, args.logins)
        for workers in (1, 2)
    }
    print("  measured logins", file=sys.stderr)
    # SSO: a logged-in browser's authorize request, answered with a code.
    first = server.cli("client", "create", "--name", "bench-sso", "--first-party", "--redirect-uri", REDIRECT)
    browser = full_login(port, first, "bench", password)
    _, challenge = pkce()
    sso = (f'wrk.method = "GET"\nwrk.path = "{authorize_path(first["client_id"], challenge)}"\n'
           f'wrk.headers["Cookie"] = "{browser.cookie}"\n')
    results["scenarios"]["GET /authorize, SSO session (code issued)"] = run_wrk(
        server, sso, workdir, args.duration, args.connections, expect_redirect=True)
    print("  measured SSO authorize", file=sys.stderr)
    results["peak_rss_mib"] = server.memory_kib("VmHWM") / 1024
    server.stop()

    # The phantom cache: the same database, a server that keeps phantom JWTs.
    cached = Server(workdir, port, {"MONBAN_PHANTOM_CACHE": "10000"})
    cached.wait_ready()
    warm = get_script("/forward_auth", {"Authorization": f"Bearer {token_for(opaque)}"})
    results["scenarios"]["GET /forward_auth, opaque token (phantom cache warm)"] = run_wrk(
        cached, warm, workdir, args.duration, args.connections)
    print("  measured forward_auth with the phantom cache", file=sys.stderr)
    cached.stop()

    # The gateway session: a server whose policy takes the browser's gateway
    # cookie, a browser signed in, and a gateway asking about a page.
    policy = workdir / "apps-policy.toml"
    policy.write_text('default = "allow"\nauth = "session"\n')
    apps = Server(workdir, port, {
        "MONBAN_ISSUER": f"http://auth.bench.test:{port}",
        "MONBAN_GATEWAY_COOKIE_DOMAIN": "bench.test",
        "MONBAN_TRUSTED_PROXIES": "127.0.0.1/32",
        "MONBAN_POLICY_FILE": str(policy),
    })
    apps.wait_ready()
    signed_in = full_login(port, web, "bench", password)
    status, _, _ = signed_in.request("GET", "/login?rd=" + urllib.parse.quote("http://app.bench.test/", safe=""))
    assert status == 303 and signed_in.gateway_cookie, status
    asked = get_script("/forward_auth", {
        "Cookie": signed_in.gateway_cookie,
        "X-Forwarded-Method": "GET",
        "X-Forwarded-Uri": "/dashboard",
        "X-Forwarded-Host": "app.bench.test",
        "X-Forwarded-Proto": "https",
        "Accept": "text/html",
    })
    results["scenarios"]["GET /forward_auth, gateway session cookie"] = run_wrk(
        apps, asked, workdir, args.duration, args.connections)
    print("  measured forward_auth with a gateway session", file=sys.stderr)
    apps.stop()
    report(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    shutil.rmtree(workdir, ignore_errors=True)


def machine():
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{cpu}, {os.cpu_count()} cores"


def report(r):
    sign = r["openssl_rsa2048_sign_us"]
    print(f"\nmonban benchmark, {r['date']}, {r['machine']}\n")
    print("| scenario | req/s | p50 ms | p99 ms | CPU µs/req |")
    print("|---|---:|---:|---:|---:|")
    for name, s in r["scenarios"].items():
        print(f"| {name} | {s['rps']:.0f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['cpu_us_per_request']:.1f} |")
    rs256 = r["scenarios"]["token: client_credentials, JWT RS256"]["cpu_us_per_request"]
    print()
    print(f"- one RSA-2048 signature (openssl speed, one core): {sign:.1f} µs")
    print(f"- RS256 token CPU / RSA signature: {rs256 / sign:.2f}x (target <= 1.2x)")
    print(f"- idle RSS: {r['idle_rss_mib']:.1f} MiB (target <= 20), peak RSS: {r['peak_rss_mib']:.1f} MiB")
    print(f"- start to ready on an existing database: {r['ready_ms_median']:.1f} ms median of 5 (target <= 100)")
    argon2 = r["argon2_verify_us"] / 1000
    print(f"- one argon2id verification (OWASP parameters): {argon2:.1f} ms CPU")
    for workers, login in r["logins"].items():
        print(f"- full login (authorize, login, consent, code, token) with {workers} worker(s): "
              f"{login['logins_per_s']:.1f} logins/s, {login['cpu_ms_per_login']:.1f} ms CPU each = "
              f"{login['cpu_ms_per_login'] / argon2:.2f}x argon2 (target <= 1.25x)")
    sso = r["scenarios"]["GET /authorize, SSO session (code issued)"]["cpu_us_per_request"]
    print(f"- SSO authorize (session read from the database, code issued): {sso:.1f} µs CPU (target <= 150)")
    cold = r["scenarios"]["GET /forward_auth, opaque token (no cache)"]["cpu_us_per_request"]
    warm = r["scenarios"]["GET /forward_auth, opaque token (phantom cache warm)"]["cpu_us_per_request"]
    print(f"- forward_auth, opaque token, no cache: {cold:.1f} µs CPU = {cold / sign:.2f}x RSA signature (target <= 1.4x)")
    print(f"- forward_auth, opaque token, phantom cache warm: {warm:.1f} µs CPU (target <= 40)")
    session = r["scenarios"]["GET /forward_auth, gateway session cookie"]["cpu_us_per_request"]
    jwks = r["scenarios"]["GET /jwks"]["cpu_us_per_request"]
    print(f"- forward_auth, gateway session cookie: {session:.1f} µs CPU = {session / warm:.2f}x the "
          f"phantom cache hit, {session / jwks:.2f}x serving the JWKS")


if __name__ == "__main__":
    main()
