#!/usr/bin/env bash
# Load test on loopback: starts the release server on a free port with the rate limit off, and a bare
# Hummingbird hello world (`promptgate bench-floor`) as the framework's floor; runs wrk (2 threads, 64
# connections, 10 s) against /health and /api/v1/moderate (a realistic body) on both, alternating, two rounds;
# prints requests/s, latency and the server's CPU µs a request (from /proc, user + system), then stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
config=$(mktemp --suffix=.yaml)
log=$(mktemp)
floorlog=$(mktemp)
trap 'kill "$pid" "$floor" 2>/dev/null || true; rm -f "$config" "$log" "$floorlog" "$config.lua"' EXIT
printf 'server: {port: 0}\nlogging: {level: warning}\nsecurity: {rate_limit: {enabled: false}}\n' > "$config"
.build/release/promptgate serve --config "$config" > "$log" 2>&1 &
pid=$!
.build/release/promptgate bench-floor > "$floorlog" 2>&1 &
floor=$!
for _ in $(seq 50); do grep -q "listening on" "$log" && grep -q "listening on" "$floorlog" && break; sleep 0.1; done
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1)
floorurl=$(grep -o 'http://127.0.0.1:[0-9]*' "$floorlog" | head -1)
cat > "$config.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"prompt": "a portrait of an old fisherman mending nets at golden hour, highly detailed, cinematic composition, 35mm film grain", "negative_prompt": "blurry", "style": "realistic", "seed": 42}'
wrk.headers["Content-Type"] = "application/json"
LUA
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() {  # name, server pid, url, extra wrk arguments
    local before after output requests
    before=$(ticks "$2")
    output=$(wrk -t2 -c64 -d10s --latency "${@:4}" "$3")
    after=$(ticks "$2")
    requests=$(echo "$output" | awk '/requests in/ {print $1}')
    echo "$1: $(echo "$output" | awk '/Requests\/sec/ {print $2}') req/s, p50 $(echo "$output" | awk '$1 == "50%" {print $2}')," \
        "p99 $(echo "$output" | awk '$1 == "99%" {print $2}'), $(awk -v t=$((after - before)) -v r="$requests" -v hz="$(getconf CLK_TCK)" \
        'BEGIN {printf "%.0f", t / hz * 1e6 / r}') µs server CPU a request$(echo "$output" | grep -q Non-2xx && echo ", NON-2xx answers")"
}
for round in 1 2; do
    echo "== round $round"
    run "hello world GET /health" "$floor" "$floorurl/health"
    run "promptgate  GET /health" "$pid" "$url/health"
    run "hello world POST /api/v1/moderate" "$floor" "$floorurl/api/v1/moderate" -s "$config.lua"
    run "promptgate  POST /api/v1/moderate" "$pid" "$url/api/v1/moderate" -s "$config.lua"
done
