#!/usr/bin/env bash
# Run every check CI runs: a fresh venv under .venv, ruff, mypy --strict, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy --strict events chat_core transports
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
