#!/usr/bin/env bash
# Several gateways on one PostgreSQL database, all on loopback (release build): a private PostgreSQL server
# (initdb in a temporary folder, Unix socket only, default durability), two zero-time ComfySims, then
#   1. tasks/s through 1 gateway on SQLite (baseline), 1 gateway on PostgreSQL, 3 gateways on PostgreSQL:
#      TASKS rows submitted with `promptgate submit` (split over the gateways), to the end of the last image;
#      wall seconds, CPU seconds of the whole box, and each gateway's claim latency from its /metrics;
#   2. the cost of the shared rate limit on /api/v1/moderate: wrk against one gateway with the rate limit on
#      (a limit too high to refuse) on SQLite (local state) and on PostgreSQL (one upsert per request).
# Everything stops by itself; nothing leaves loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/promptgate
tasks=${TASKS:-1500}
work=$(mktemp -d)
chmod 755 "$work"
pids=()
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
runas() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    runas "$pgbin/pg_ctl" -D "$work/pg" stop -m fast >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] && chown postgres "$work"

runas "$pgbin/initdb" -D "$work/pg" -A trust -U promptgate -E UTF8 --locale=C >/dev/null
runas "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
    -o "-k $work -c listen_addresses= -c max_connections=300 ${PGOPTIONS_EXTRA:-}" start >/dev/null
# A new database named <label> (callers run it in a subshell, so no counter survives it).
new_database() {
    runas "$pgbin/createdb" -h "$work" -U promptgate "$1"
    echo "postgres://promptgate@localhost:5432/$1?host=$work"
}

# Starts a process that prints "listening on http://127.0.0.1:<port>"; sets $port and appends its pid.
start() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
    port=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1 | cut -d: -f3)
}

start "$work/sim0.log" "$bin" comfy-sim --port 0 --run-seconds 0
sim0=$port
start "$work/sim1.log" "$bin" comfy-sim --port 0 --run-seconds 0
sim1=$port

# config <file> <store yaml> <rate limit yaml>
config() {
    cat >"$1" <<YAML
backends:
  - {name: sim0, url: "http://127.0.0.1:$sim0", max_in_flight: 8}
  - {name: sim1, url: "http://127.0.0.1:$sim1", max_in_flight: 8}
comfyui: {health_interval: 0.5}
workflow: {path: workflows/sd15-lora-txt2img.api.json}
queue: {max_concurrent: 16, max_queue_size: 100000}
store: $2
server: {port: 0, output_dir: "$work/output"}
security: {rate_limit: $3}
logging: {level: warning}
YAML
}

busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
hz=$(getconf CLK_TCK)

# Claim latency over the gateways' promptgate_queue_claim_duration_seconds histograms: the mean, and the
# share of claims under 2 and 5 ms; and the claims by outcome.
claims() {
    for gateway_port in "$@"; do curl -s "http://127.0.0.1:$gateway_port/metrics"; done | awk '
        /^promptgate_queue_claim_duration_seconds_sum/ { sum += $2 }
        /^promptgate_queue_claim_duration_seconds_count/ { count += $2 }
        /^promptgate_queue_claim_duration_seconds_bucket.*le="0.002"/ { under2 += $2 }
        /^promptgate_queue_claim_duration_seconds_bucket.*le="0.005"/ { under5 += $2 }
        /^promptgate_queue_claims_total/ {
            match($0, /outcome="[^"]*"/); outcomes[substr($0, RSTART + 9, RLENGTH - 10)] += $2 }
        END {
            if (count == 0) { print "no claims"; exit }
            line = sprintf("claims %d: mean %.2f ms, %.0f%% under 2 ms, %.0f%% under 5 ms;", count,
                1000 * sum / count, 100 * under2 / count, 100 * under5 / count)
            for (o in outcomes) line = line sprintf(" %s %d", o, outcomes[o])
            print line }'
}

seq 0 $((tasks - 1)) | awk '{printf "{\"prompt\": \"studio product shot %d of a ceramic mug, soft light\", \"seed\": %d}\n", $1, $1}' \
    >"$work/rows.jsonl"

runs=0
# run <label> <gateways> <store kind> [rows in flight in total] [rows]
run() {
    local label=$1 count=$2 kind=$3 inflight=${4:-48} rows=${5:-$tasks} store ports=() gpids=()
    runs=$((runs + 1))
    if [ "$kind" = sqlite ]; then store="{path: \"$work/run$runs.sqlite\"}"; else store="{url: \"$(new_database "run$runs")\"}"; fi
    for index in $(seq 1 "$count"); do
        config "$work/run$runs-$index.yaml" "$store" "{enabled: false}"
        start "$work/run$runs-$index.log" "$bin" serve --config "$work/run$runs-$index.yaml"
        ports+=("$port")
        gpids+=("${pids[-1]}")
    done
    sleep 1.5 # the backends' first health check and /object_info validation
    head -n "$rows" "$work/rows.jsonl" | split -n "r/$count" -d - "$work/run$runs-part-"
    local before wall_start
    before=$(busy_ticks)
    wall_start=$(date +%s.%N)
    local index=0 clients=()
    for part in "$work/run$runs-part-"*; do
        mv "$part" "$part.jsonl"
        "$bin" submit --server "http://127.0.0.1:${ports[$index]}" --concurrency $((inflight / count)) \
            --out "$work/run$runs-out-$index" --no-progress --retries 0 ${SUBMIT_FLAGS:-} "$part.jsonl" >/dev/null 2>&1 &
        clients+=($!)
        index=$((index + 1))
    done
    local failed=0
    for client in "${clients[@]}"; do wait "$client" || failed=1; done
    local wall cpu completed
    wall=$(echo "$(date +%s.%N) - $wall_start" | bc)
    cpu=$(echo "scale=2; ($(busy_ticks) - $before) / $hz" | bc)
    completed=$(cat "$work/run$runs-out-"*/summary.jsonl | grep -c '"completed"' || true)
    printf '%-34s %5d tasks (%d completed%s) in %6.2f s wall, %6.2f s CPU (box): %7.1f tasks/s\n' \
        "$label" "$rows" "$completed" "$([ $failed = 1 ] && echo ', some failed')" "$wall" "$cpu" \
        "$(echo "$rows / $wall" | bc -l)"
    echo "    $(claims "${ports[@]}")"
    for pid in "${gpids[@]}"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done
}

echo "== tasks/s to two zero-time ComfySims (submit: 48 rows in flight in total)"
run "1 gateway, SQLite" 1 sqlite
run "1 gateway, PostgreSQL" 1 postgres
run "3 gateways, PostgreSQL" 3 postgres
echo "== claim latency on a quiet box: one row in flight"
run "1 gateway, SQLite, 1 in flight" 1 sqlite 1 200
run "1 gateway, PostgreSQL, 1 in flight" 1 postgres 1 200

echo "== /api/v1/moderate with the rate limit on (wrk -t2 -c32 -d10s; the limit never refuses)"
cat >"$work/moderate.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"prompt": "a portrait of an old fisherman mending nets at golden hour, highly detailed, cinematic composition, 35mm film grain", "negative_prompt": "blurry", "style": "realistic", "seed": 42}'
wrk.headers["Content-Type"] = "application/json"
LUA
for kind in sqlite postgres; do
    if [ "$kind" = sqlite ]; then store="{path: \"$work/rate.sqlite\"}"; else store="{url: \"$(new_database rate)\"}"; fi
    config "$work/rate-$kind.yaml" "$store" "{enabled: true, requests_per_minute: 1000000, burst_limit: 100000}"
    start "$work/rate-$kind.log" "$bin" serve --config "$work/rate-$kind.yaml"
    echo "-- $kind store ($([ $kind = sqlite ] && echo 'local GCRA only' || echo 'local look + one shared upsert'))"
    before=$(busy_ticks)
    wrk -t2 -c32 -d10s --latency -s "$work/moderate.lua" "http://127.0.0.1:$port/api/v1/moderate" |
        grep -E "Requests/sec|50%|99%|Non-2xx"
    echo "   CPU (box): $(echo "scale=2; ($(busy_ticks) - $before) / $hz" | bc) s over 10 s"
    kill "${pids[-1]}"
done
