#!/usr/bin/env bash
# Install the client generators tests/openapi/test_generators.py drives (openapi-typescript,
# openapi-fetch, typescript) at fixed versions under .cache/generators, which git ignores.
# openapi-python-client comes with the dev extras. Needs node and npm; quiet when done.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=.cache/generators
WANT="openapi-typescript@7.13.0 openapi-fetch@0.17.0 typescript@5.9.3"
if [ -f "$DIR/installed" ] && [ "$(cat "$DIR/installed")" = "$WANT" ]; then exit 0; fi
mkdir -p "$DIR"
# shellcheck disable=SC2086
npm install --prefix "$DIR" --no-audit --no-fund --no-save --silent $WANT
echo "$WANT" >"$DIR/installed"
