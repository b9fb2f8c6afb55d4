#!/usr/bin/env bash
# Load test on loopback: starts the release server on a free port with the rate limit off, runs wrk with 64
# connections against /health and /api/v1/moderate (a realistic body), prints requests/s and latency, stops.
set -euo pipefail
cd "$(dirname "$0")/.."
config=$(mktemp --suffix=.yaml)
log=$(mktemp)
trap 'kill "$pid" 2>/dev/null || true; rm -f "$config" "$log" "$config.lua"' EXIT
printf 'server: {port: 0}\nlogging: {level: warning}\nsecurity: {rate_limit: {enabled: false}}\n' > "$config"
.build/release/promptgate serve --config "$config" > "$log" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q "listening on" "$log" && break; sleep 0.1; done
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1)
cat > "$config.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"prompt": "a portrait of an old fisherman mending nets at golden hour, highly detailed, cinematic composition, 35mm film grain", "negative_prompt": "blurry", "style": "realistic", "seed": 42}'
wrk.headers["Content-Type"] = "application/json"
LUA
echo "== GET /health"
wrk -t2 -c64 -d10s --latency "$url/health" | grep -E "Requests/sec|50%|99%|Non-2xx"
echo "== POST /api/v1/moderate"
wrk -t2 -c64 -d10s --latency -s "$config.lua" "$url/api/v1/moderate" | grep -E "Requests/sec|50%|99%|Non-2xx"
