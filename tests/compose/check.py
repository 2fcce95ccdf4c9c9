#!/usr/bin/env python3
"""Checks docker-compose.yml without a container engine (CI has none).

1. The file against the Compose Specification's JSON schema, with
   check-jsonschema's vendored copy (`--builtin-schema vendor.compose-spec`).
2. Every MONBAN_* setting it passes is one .env.example documents, and the
   monban service uses the image's health check command.
3. The Dockerfile copies what `cargo build` reads before its first build:
   the manifest and the files of every target Cargo.toml declares (Cargo
   refuses a manifest whose declared bench is missing), and then the
   directories the binary compiles in (src, migrations, templates, static).

Usage: tests/compose/check.py   (installs check-jsonschema into a temporary
virtual environment from PyPI)
"""

import os
import re
import tomllib
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECK_JSONSCHEMA = "check-jsonschema==0.39.0"


def main():
    compose = os.path.join(ROOT, "docker-compose.yml")
    with tempfile.TemporaryDirectory() as venv:
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        pip = os.path.join(venv, "bin", "pip")
        subprocess.run([pip, "install", "-q", "--disable-pip-version-check", CHECK_JSONSCHEMA], check=True)
        subprocess.run(
            [os.path.join(venv, "bin", "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", compose],
            check=True,
        )
    text = open(compose, encoding="utf-8").read()
    documented = set(re.findall(r"^#? ?(MONBAN_[A-Z_]+)=", open(os.path.join(ROOT, ".env.example")).read(), re.M))
    used = set(re.findall(r"^\s+(MONBAN_[A-Z_]+):", text, re.M))
    unknown = used - documented
    if unknown:
        sys.exit(f"compose: docker-compose.yml sets settings monban does not have: {sorted(unknown)}")
    for needed in ["MONBAN_ISSUER", "MONBAN_DATABASE_URL", "MONBAN_KEY_ENCRYPTION_KEY"]:
        if needed not in used:
            sys.exit(f"compose: the monban service does not set {needed}")
    if '["CMD", "/usr/local/bin/monban", "healthcheck"]' not in text:
        sys.exit("compose: the monban service's health check is not `monban healthcheck`")
    check_dockerfile()
    print(f"compose: docker-compose.yml is valid Compose and sets {len(used)} documented settings")


def check_dockerfile():
    text = open(os.path.join(ROOT, "Dockerfile"), encoding="utf-8").read()
    # One instruction per entry: continuation lines joined.
    instructions = re.sub(r"\\\n", " ", text).splitlines()
    copied, before_first_build = set(), None
    for instruction in instructions:
        words = instruction.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            copied.update(w.rstrip("/") for w in words[1:-1])
        if before_first_build is None and words[:1] == ["RUN"] and "cargo build" in instruction:
            before_first_build = set(copied)
    manifest = tomllib.load(open(os.path.join(ROOT, "Cargo.toml"), "rb"))
    declared = {"Cargo.toml", "Cargo.lock"}
    for kind, folder in [("bench", "benches"), ("example", "examples"), ("test", "tests")]:
        for target in manifest.get(kind, []):
            declared.add(target.get("path", f"{folder}/{target['name']}.rs").split("/")[0])
    missing = declared - (before_first_build or set())
    if missing:
        sys.exit(f"compose: the Dockerfile's first cargo build lacks {sorted(missing)}")
    for needed in ["src", "migrations", "templates", "static"]:
        if needed not in copied:
            sys.exit(f"compose: the Dockerfile does not copy {needed}/")


if __name__ == "__main__":
    main()
