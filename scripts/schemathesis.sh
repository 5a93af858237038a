#!/usr/bin/env bash
# Fuzz the running API against its own /openapi.json with schemathesis: start a dev server on
# loopback with a memory store, mint an admin token, run every phase bounded by --max-examples,
# stop the server. Extra arguments go to `schemathesis run` (e.g. --seed 1, -c all).
# Usage: scripts/schemathesis.sh [MAX_EXAMPLES] [schemathesis args...]
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_EXAMPLES=${1:-50}
shift || true
EXTRA=("$@")
BIN=.venv/bin
if [ ! -x "$BIN/schemathesis" ]; then
  # A dev extra (tests/security runs it too); install the extras if it is missing.
  echo "schemathesis is not installed: $BIN/pip install -e '.[dev]'" >&2
  exit 2
fi
PORT=${CHAT_CORE_PORT:-$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
TENANT=t_fuzz
WORK=$(mktemp -d)
export CHAT_CORE_STORE=memory:// CHAT_CORE_HOST=127.0.0.1 CHAT_CORE_PORT=$PORT
export CHAT_CORE_HS256_SECRET=${CHAT_CORE_HS256_SECRET:-$("$BIN/python" -c 'import secrets; print(secrets.token_hex(32))')}
export CHAT_CORE_LOG_LEVEL=${CHAT_CORE_LOG_LEVEL:-WARNING}

"$BIN/chat-core" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT

TOKEN=$("$BIN/chat-core" token --sub u_fuzz --tenant "$TENANT:member,admin")
BASE=http://127.0.0.1:$PORT
up=no
for _ in $(seq 1 50); do
  if "$BIN/python" -c "import urllib.request; urllib.request.urlopen('$BASE/healthz')" 2>/dev/null; then
    up=yes
    break
  fi
  kill -0 "$SERVER" 2>/dev/null || break
  sleep 0.2
done
if [ "$up" != yes ]; then
  echo "the server did not come up on $BASE:" >&2
  cat "$WORK/server.log" >&2
  exit 1
fi

CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,missing_required_header,unsupported_method,ignored_auth
fuzz() {
  "$BIN/schemathesis" --config-file scripts/schemathesis.toml run "$BASE/openapi.json" \
    --max-examples "$MAX_EXAMPLES" --checks "$CHECKS" \
    --suppress-health-check filter_too_much,too_slow --request-timeout 1.5 \
    -H "Authorization: Bearer $TOKEN" "$@"
}
status=0
echo "== pass 1: the token's own tenant and env, so requests reach the routes' logic"
fuzz -H "X-Tenant-Id: $TENANT" -H "X-Env: dev" "${EXTRA[@]}" || status=$?
echo "== pass 2: X-Tenant-Id and X-Env generated too, valid and not"
fuzz "${EXTRA[@]}" || status=$?
if ! kill -0 "$SERVER" 2>/dev/null; then
  echo "the server died during the run:" >&2
  tail -n 50 "$WORK/server.log" >&2
  status=1
fi
# aiohttp logs its own 400s for unparsable probes (a NUL in a header); only ours count here.
if grep -q "unhandled error in request" "$WORK/server.log"; then
  echo "the app logged an unhandled error:" >&2
  cat "$WORK/server.log" >&2
  status=1
fi
exit "$status"
