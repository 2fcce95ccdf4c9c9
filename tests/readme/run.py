#!/usr/bin/env python3
"""Runs the README's snippets as a new user would: in order, in one shell.

A fenced block runs when its info string says so: ```sh run or ```bash run
(GitHub shows the first word as the language and ignores the rest); the
other sh blocks (installing, PostgreSQL, Docker) are listed as not run.

What stands in for the new user's machine, set explicitly here:
- `monban serve` runs as the README's first terminal does, started by this
  script (with a known admin password, for the sign-in check below) from a
  copy of the repository's tracked files, which is also where the snippets
  run; `monban` on the PATH is the debug build `cargo test` made (the README
  installs the release build with `cargo install`, which this skips).
- The addresses `localhost:8080`, `3001` and `3002` become free ports.
- `cargo build --release --example demo_rp` is skipped: `target/release` in
  the copy points at the debug build, where `cargo test` built the examples.
- curl gets `--fail-with-body` from a .curlrc (CURL_HOME), so an HTTP error
  fails its snippet as it would fail the reader.

Afterwards: the demo apps sign a browser in and show every claim (SSO on
the second), and the copy's git status is clean: no snippet wrote a secret
or anything else into the working tree.

Usage: tests/readme/run.py [--bin-dir DIR]   (default: $CARGO_TARGET_DIR/debug)
"""

import argparse
import html.parser
import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADMIN_PASSWORD = "readme-admin-password-0123"
FENCE = re.compile(r"^( *)(```+)(.*)$")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def blocks(text):
    """(line number, info words, content) of every fenced block."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = len(m.group(1)), m.group(2), m.group(3).split()
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            line = lines[i]
            # CommonMark: content loses up to the fence's own indentation.
            strip = min(indent, len(line) - len(line.lstrip(" ")))
            body.append(line[strip:])
            i += 1
        i += 1
        yield start, info, "\n".join(body) + "\n"


def script_of(readme):
    parts = []
    for line, info, content in blocks(readme):
        if not info:
            continue
        where = f"README.md:{line}"
        if info[0] in ("sh", "bash") and "run" not in info[1:]:
            # Set-up, PostgreSQL and Docker examples: said here, not run.
            print(f"readme: not run: {where}: {content.splitlines()[0]}", file=sys.stderr)
        elif info[0] in ("sh", "bash"):
            parts.append(f"echo '### {where}' >&2\n{content}")
    return parts


def copy_tracked_files(dest):
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.decode().split("\0")
    for name in filter(None, files):
        src = os.path.join(ROOT, name)
        if not os.path.isfile(src):
            continue
        os.makedirs(os.path.dirname(os.path.join(dest, name)), exist_ok=True)
        shutil.copy2(src, os.path.join(dest, name))
    git = ["git", "-c", "user.name=readme", "-c", "user.email=readme@localhost"]
    subprocess.run(git + ["init", "-q"], cwd=dest, check=True)
    subprocess.run(git + ["add", "-A"], cwd=dest, check=True)
    subprocess.run(git + ["commit", "-qm", "copy"], cwd=dest, check=True)


def wait_for(url, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except Exception:
            time.sleep(0.2)
    sys.exit(f"readme: nothing answered at {url} within {seconds} s")


class Form(html.parser.HTMLParser):
    """The first form of a page: its action and hidden fields."""

    def __init__(self):
        super().__init__()
        self.action, self.fields = None, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = a.get("action", "")
        if tag == "input" and a.get("type") == "hidden" and self.action is not None:
            self.fields[a["name"]] = a.get("value", "")


def check_demo_sso(issuer, ports):
    """Sign in on the first demo with the admin password, then on the second
    without one (SSO); each page shows every claim of the ID token and
    userinfo."""
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    first = f"http://localhost:{ports[0]}"
    for port in ports:
        wait_for(f"http://localhost:{port}/")
    page = browser.open(f"{first}/login", timeout=10)
    form = Form()
    form.feed(page.read().decode())
    if form.action is None:
        sys.exit(f"readme: no login form at {page.url}")
    fields = dict(form.fields, username="admin", password=ADMIN_PASSWORD)
    request = urllib.request.Request(
        urllib.parse.urljoin(page.url, form.action),
        data=urllib.parse.urlencode(fields).encode(),
        headers={"Origin": issuer},
    )
    for port, page in [
        (ports[0], browser.open(request, timeout=10).read().decode()),
        (ports[1], browser.open(f"http://localhost:{ports[1]}/login", timeout=10).read().decode()),
    ]:
        text = html.unescape(page)
        for needle in ["Signed in as <strong>admin</strong>", '"sid"', '"groups"', "Userinfo", '"preferred_username": "admin"']:
            if needle not in text:
                sys.exit(f"readme: the demo on port {port} does not show {needle!r}:\n{text}")
    print(f"readme: demo apps on ports {ports[0]} and {ports[1]}: signed in, then SSO", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    parser.add_argument("--bin-dir", default=os.path.join(target, "debug"))
    args = parser.parse_args()
    bin_dir = os.path.abspath(args.bin_dir)
    for needed in ["monban", "examples/demo_rp"]:
        if not os.access(os.path.join(bin_dir, needed), os.X_OK):
            sys.exit(f"readme: {bin_dir}/{needed} is missing: run `cargo test` first")
    for tool in ["curl", "jq", "python3", "openssl"]:
        if shutil.which(tool) is None:
            sys.exit(f"readme: the README needs {tool}, which is not on the PATH")

    port, demo_ports = free_port(), (free_port(), free_port())
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    replacements = {
        "localhost:8080": f"localhost:{port}",
        "3001": str(demo_ports[0]),
        "3002": str(demo_ports[1]),
        "cargo build --release --example demo_rp": "true",
    }
    for old, new in replacements.items():
        readme = readme.replace(old, new)
    parts = script_of(readme)
    if not parts:
        sys.exit("readme: no runnable snippet found")

    scratch = tempfile.mkdtemp(prefix="monban-readme-")
    work, bin_link, curl_home = (os.path.join(scratch, d) for d in ("monban", "bin", "curl"))
    copy_tracked_files(work)
    os.makedirs(os.path.join(work, "target"))
    os.symlink(bin_dir, os.path.join(work, "target", "release"))
    os.makedirs(bin_link)
    os.symlink(os.path.join(bin_dir, "monban"), os.path.join(bin_link, "monban"))
    os.makedirs(curl_home)
    with open(os.path.join(curl_home, ".curlrc"), "w") as f:
        f.write("fail-with-body\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONBAN_")}
    env.update(
        PATH=f"{bin_link}:{env['PATH']}",
        CURL_HOME=curl_home,
        MONBAN_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    # Not in the environment the snippets see: the first terminal's settings.
    server_env = dict(env, MONBAN_LISTEN=f"127.0.0.1:{port}", MONBAN_ISSUER=f"http://localhost:{port}")
    with open(os.path.join(scratch, "server.log"), "w") as log:
        server = subprocess.Popen(
            ["monban", "serve"], cwd=work, env=server_env, stdout=log, stderr=log,
            start_new_session=True,
        )
    shell = None
    try:
        wait_for(f"http://localhost:{port}/readyz")
        script = "set -euo pipefail\n" + "\n".join(parts)
        shell = subprocess.Popen(["bash", "-c", script], cwd=work, env=env, start_new_session=True)
        if shell.wait(timeout=600) != 0:
            sys.exit(f"readme: a snippet failed (the last '###' line above names it); server log: {scratch}/server.log")
        if any("demo_rp" in p for p in parts):
            check_demo_sso(f"http://localhost:{port}", demo_ports)
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=work, check=True, capture_output=True, text=True
        ).stdout
        if status:
            sys.exit(f"readme: the snippets wrote into the working tree:\n{status}")
        print(f"readme: {len(parts)} snippets ran as written", file=sys.stderr)
    finally:
        for process in [shell, server]:
            if process is not None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        server.wait(timeout=15)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
