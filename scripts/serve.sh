#!/usr/bin/env bash
# Start chat-core in dev mode on 127.0.0.1:8080 with the embedded SQLite store under ./data.
# Makes .venv on first use; prints a dev token and a ready-to-paste curl line.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/chat-core ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e .
fi
exec .venv/bin/chat-core serve "$@"
