#!/usr/bin/env python3
"""monban soak run (not a test): a bounded mixed load for a given time
against the release build on a fresh SQLite database (or PostgreSQL with
--database), sampling once a minute what must stay flat:

  - the server's RSS and open file descriptors,
  - its database connections (SQLite: descriptors open on the database
    files; PostgreSQL: its backends in pg_stat_activity),
  - the row count of every table,
  - requests answered, and any that were not what they should be.

The load, from a few threads on loopback, each capped at --rate requests/s:
client_credentials (opaque and JWT) with introspection and /forward_auth,
browser sign-ins (login form, SSO authorize, code redemption), refresh
rotations, and sign-outs. Lifetimes are short so that the upkeep purges
(every 10 minutes) have rows to remove.

Writes bench/results/soak-<time>.json and .svg (RSS, descriptors and rows
over time). Usage: bench/soak.sh [--minutes 30]. Standard library only.
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REDIRECT_URI = "https://app.example.com/callback"
PASSWORD = "correct horse battery staple"
SETTINGS = {
    "MONBAN_ACCESS_TOKEN_TTL": "60",
    "MONBAN_REFRESH_TOKEN_TTL": "300",
    "MONBAN_SESSION_IDLE_TTL": "120",
    "MONBAN_SESSION_MAX_TTL": "600",
    "MONBAN_PHANTOM_CACHE": "1000",
    "MONBAN_RATE_LIMIT_TOKEN": "off",
    "MONBAN_RATE_LIMIT_INTROSPECTION": "off",
    "MONBAN_RATE_LIMIT_LOGIN": "off",
    "MONBAN_RATE_LIMIT_REGISTRATION": "off",
    "MONBAN_RATE_LIMIT_DEVICE": "off",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(binary, env, *args, stdin=None):
    out = subprocess.run(
        [str(binary), *args, "--json"], env=env, input=stdin, capture_output=True, text=True
    )
    if out.returncode != 0:
        sys.exit(f"monban {' '.join(args)} failed: {out.stderr or out.stdout}")
    return json.loads(out.stdout)


class Http:
    """One kept-alive connection, with the cookies it was given."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if isinstance(body, dict):
            body = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
                if attempt:
                    raise
        for value in r.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return r.status, r.headers, data


def basic(client):
    pair = f"{urllib.parse.quote(client['client_id'], safe='')}:{urllib.parse.quote(client['client_secret'], safe='')}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def hidden(page, name):
    m = re.search(rf'name="{name}" value="([^"]*)"', page)
    return m.group(1) if m else None


class Load:
    def __init__(self, port, clients, rate, browser_rate, deadline):
        self.port, self.clients, self.deadline = port, clients, deadline
        self.rate, self.browser_rate = rate, browser_rate
        self.lock = threading.Lock()
        self.answered = 0
        self.wrong = []

    def count(self, what, status, *expected):
        with self.lock:
            self.answered += 1
            if status not in expected and len(self.wrong) < 50:
                self.wrong.append((what, status))

    def paced(self, step, rate):
        interval = 1.0 / rate
        while time.time() < self.deadline:
            started = time.time()
            try:
                step()
            except Exception as e:  # noqa: BLE001 - a soak records, it does not stop
                with self.lock:
                    if len(self.wrong) < 50:
                        self.wrong.append(("exception", repr(e)))
            spent = time.time() - started
            time.sleep(max(0.0, interval - spent))

    def services(self):
        http_ = Http(self.port)

        def step():
            for kind in ("opaque", "jwt"):
                client = self.clients[kind]
                s, _, body = http_.request(
                    "POST", "/token", {"grant_type": "client_credentials"}, basic(client)
                )
                self.count("token", s, 200)
                token = json.loads(body)["access_token"]
                s, _, _ = http_.request("POST", "/introspect", {"token": token}, basic(self.clients["opaque"]))
                self.count("introspect", s, 200)
                s, _, _ = http_.request("GET", "/forward_auth", headers={"Authorization": f"Bearer {token}"})
                self.count("forward_auth", s, 200)

        self.paced(step, self.rate)

    def browsers(self):
        web = self.clients["web"]

        def step():
            http_ = Http(self.port)
            verifier = secrets.token_urlsafe(48)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            query = urllib.parse.urlencode(
                {
                    "response_type": "code",
                    "client_id": web["client_id"],
                    "redirect_uri": REDIRECT_URI,
                    "scope": "openid",
                    "state": secrets.token_urlsafe(8),
                    "nonce": secrets.token_urlsafe(8),
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                }
            )
            s, headers, page = http_.request("GET", f"/authorize?{query}")
            if s in (302, 303):
                login = urllib.parse.urlsplit(headers["Location"])
                s, _, page = http_.request("GET", f"{login.path}?{login.query}")
            self.count("login page", s, 200)
            page = page.decode()
            form = {"csrf": hidden(page, "csrf"), "rid": hidden(page, "rid"), "username": "alice", "password": PASSWORD}
            s, headers, _ = http_.request("POST", "/login", form)
            self.count("login", s, 302, 303)
            # Back through /authorize, to the client with a code.
            location = headers["Location"]
            while not location.startswith(REDIRECT_URI):
                target = urllib.parse.urlsplit(location)
                s, headers, _ = http_.request("GET", f"{target.path}?{target.query}")
                location = headers["Location"]
            code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
            form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier}
            s, _, body = http_.request("POST", "/token", form, basic(web))
            self.count("code", s, 200)
            tokens = json.loads(body)
            refresh = tokens["refresh_token"]
            for _ in range(3):
                form = {"grant_type": "refresh_token", "refresh_token": refresh}
                s, _, body = http_.request("POST", "/token", form, basic(web))
                self.count("refresh", s, 200)
                refresh = json.loads(body)["refresh_token"]
            # Half the sessions sign out; the others expire (idle TTL).
            if secrets.randbelow(2):
                hint = urllib.parse.urlencode({"id_token_hint": tokens["id_token"]})
                s, _, _ = http_.request("GET", f"/end_session?{hint}")
                self.count("sign-out", s, 200, 302, 303)

        self.paced(step, self.browser_rate)


def tables(db_path):
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'")]
        return {n: db.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in sorted(names)}


def postgres_tables(url):
    def psql(sql):
        return subprocess.run(["psql", url, "-Atc", sql], capture_output=True, text=True, check=True).stdout
    counts = psql(
        "SELECT string_agg(format('SELECT %L, COUNT(*) FROM %I', tablename, tablename), ' UNION ALL ') "
        "FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations'"
    ).strip()
    rows = (line.split("|") for line in psql(counts).splitlines() if line)
    return dict(sorted((name, int(n)) for name, n in rows))


def sample(pid, db_path, url, started, load):
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kib = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    fds = os.listdir(f"/proc/{pid}/fd")
    if db_path:
        links = []
        for fd in fds:
            try:
                links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                pass
        connections = sum(1 for link in links if link == str(db_path))
        rows = tables(db_path)
    else:
        out = subprocess.run(["psql", url, "-Atc", "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"], capture_output=True, text=True)
        connections = int(out.stdout.strip() or 0)
        rows = postgres_tables(url)
    with load.lock:
        answered, wrong = load.answered, len(load.wrong)
    return {
        "minute": round((time.time() - started) / 60, 2),
        "rss_mib": round(rss_kib / 1024, 1),
        "fds": len(fds),
        "db_connections": connections,
        "rows": rows,
        "answered": answered,
        "wrong": wrong,
    }


def svg(samples, path):
    """RSS, descriptors, the rows of the tables whose rows expire, and the
    audit events (kept for their retention), over time, each scaled to its
    own maximum (the labels give the ranges)."""
    w, h, pad, top = 640, 300, 40, 75
    minutes = [s["minute"] for s in samples] or [0]
    span = max(minutes[-1], 1)
    series = [
        ("RSS (MiB)", [s["rss_mib"] for s in samples], "#d62728"),
        ("open fds", [s["fds"] for s in samples], "#1f77b4"),
        ("rows of expiring tables", [sum(n for t, n in s["rows"].items() if t != "audit_events") for s in samples], "#2ca02c"),
        ("audit events (kept 90 days)", [s["rows"].get("audit_events", 0) for s in samples], "#9467bd"),
    ]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#888"/>',
        f'<text x="{w / 2}" y="{h - 10}" text-anchor="middle">minutes (0–{span:g})</text>',
    ]
    for i, (label, values, colour) in enumerate(series):
        peak = max(values) or 1
        points = " ".join(
            f"{pad + (m / span) * (w - 2 * pad):.1f},{h - pad - (v / peak) * (h - pad - top):.1f}"
            for m, v in zip(minutes, values)
        )
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        parts.append(f'<text x="{pad + 5}" y="{15 + 14 * i}" fill="{colour}">{label}: {min(values):g}–{peak:g}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--rate", type=float, default=20, help="service steps (3 requests) per second per thread")
    p.add_argument("--browser-rate", type=float, default=2, help="browser steps (a sign-in, 3 refreshes) per second per thread")
    p.add_argument("--threads", type=int, default=2, help="threads of each kind")
    p.add_argument("--binary", default=str(ROOT / "target" / "release" / "monban"))
    p.add_argument("--database", help="a PostgreSQL URL (default: a new SQLite file)")
    p.add_argument("--plot", metavar="JSON", help="only draw the SVG of an earlier run's JSON")
    args = p.parse_args()
    if args.plot:
        svg(json.loads(Path(args.plot).read_text())["samples"], Path(args.plot).with_suffix(".svg"))
        return 0
    binary = Path(args.binary)
    work = Path(tempfile.mkdtemp(prefix="monban-soak-"))
    db_path = None
    if args.database:
        url = args.database
    else:
        db_path = work / "monban.db"
        url = f"sqlite://{db_path}"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONBAN_")}
    env.update(SETTINGS, MONBAN_DATABASE_URL=url, MONBAN_LISTEN=f"127.0.0.1:{port}", MONBAN_ISSUER=f"http://127.0.0.1:{port}")
    subprocess.run([str(binary), "migrate"], env=env, check=True, capture_output=True)
    cli(binary, env, "user", "create", "--username", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    clients = {
        "web": cli(binary, env, "client", "create", "--name", "web", "--first-party", "--redirect-uri", REDIRECT_URI,
                   "--grant-type", "authorization_code", "--grant-type", "refresh_token"),
        "opaque": cli(binary, env, "client", "create", "--name", "opaque", "--token-format", "opaque"),
        "jwt": cli(binary, env, "client", "create", "--name", "jwt", "--token-format", "jwt"),
    }
    log = open(work / "server.log", "wb")
    server = subprocess.Popen([str(binary), "serve"], env=env, stdout=log, stderr=log)
    try:
        for _ in range(300):
            try:
                if Http(port).request("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        started = time.time()
        load = Load(port, clients, args.rate, args.browser_rate, started + args.minutes * 60)
        threads = [threading.Thread(target=load.services, daemon=True) for _ in range(args.threads)]
        threads += [threading.Thread(target=load.browsers, daemon=True) for _ in range(args.threads)]
        for t in threads:
            t.start()
        samples = [sample(server.pid, db_path, url, started, load)]
        print(json.dumps(samples[-1]), flush=True)
        while time.time() < load.deadline:
            time.sleep(min(60, max(0, load.deadline - time.time())))
            samples.append(sample(server.pid, db_path, url, started, load))
            print(json.dumps(samples[-1]), flush=True)
        for t in threads:
            t.join(timeout=30)
    finally:
        server.terminate()
        server.wait(timeout=15)
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report = {
        "minutes": args.minutes,
        "rate": {"service_steps_per_s": args.rate * args.threads, "browser_steps_per_s": args.browser_rate * args.threads},
        "database": "postgres" if args.database else "sqlite",
        "settings": SETTINGS,
        "samples": samples,
        "wrong_answers": load.wrong,
        "machine": os.uname().nodename,
        "cpus": os.cpu_count(),
    }
    (results / f"soak-{stamp}.json").write_text(json.dumps(report, indent=1))
    svg(samples, results / f"soak-{stamp}.svg")
    print(f"wrote bench/results/soak-{stamp}.json and .svg; {len(load.wrong)} wrong answers: {load.wrong[:5]}")
    return 1 if load.wrong else 0


if __name__ == "__main__":
    sys.exit(main())
