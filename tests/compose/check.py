#!/usr/bin/env python3
"""Checks docker-compose.yml without a container engine (CI has none).

1. The file against the Compose Specification's JSON schema, with
   check-jsonschema's vendored copy (`--builtin-schema vendor.compose-spec`).
2. Every MONBAN_* setting it passes is one .env.example documents, and the
   monban service uses the image's health check command.

Usage: tests/compose/check.py   (installs check-jsonschema into a temporary
virtual environment from PyPI)
"""

import os
import re
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
    print(f"compose: docker-compose.yml is valid Compose and sets {len(used)} documented settings")


if __name__ == "__main__":
    main()
