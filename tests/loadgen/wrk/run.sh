#!/usr/bin/env bash
# A second, independent driver for issue 17's single-event figures: wrk
# (Debian's package) posting one event per request over keep-alive
# connections into a real `scaihub serve`, whose webhooks deliver to
# loadgen's receiver; and, with `ceiling`, the same wrk straight into that
# receiver. Prints one line per run: requests/s, latency, scaihub's CPU
# per event, and what the receiver counted.
#
#   tests/loadgen/wrk/run.sh ceiling
#   tests/loadgen/wrk/run.sh ingest [BINARY] [WEBHOOKS] [SECONDS]
#
# WRK_CONNECTIONS (32) and WRK_THREADS (2) set wrk's shape; PG_URL (a
# server URL such as postgres://postgres@127.0.0.1:5432) runs ScaiHub on a
# fresh PostgreSQL database, dropped afterwards, instead of SQLite.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
loadgen=$root/target/release/loadgen
conns=${WRK_CONNECTIONS:-32}
threads=${WRK_THREADS:-2}
command -v wrk > /dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
[ -x "$loadgen" ] || { echo "build it first: cargo build --release -p scaihub -p loadgen" >&2; exit 2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
db=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  wait 2> /dev/null || true
  [ -n "${data:-}" ] && rm -rf "$data"
  [ -n "$db" ] && psql -q "$PG_URL/postgres" -c "DROP DATABASE $db WITH (FORCE)" || true
}
trap cleanup EXIT

recv_port=$(free_port)
"$loadgen" receiver --listen "127.0.0.1:$recv_port" > /dev/null &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$recv_port/stats" > /dev/null && break; sleep 0.1; done

mode=${1:-ingest}
if [ "$mode" = ceiling ]; then
  out=$(KEY=none ORG=none wrk -t"$threads" -c"$conns" -d10s --latency -s "$here/single-event.lua" "http://127.0.0.1:$recv_port")
  echo "ceiling (wrk into the receiver): $(grep Requests/sec <<< "$out" | awk '{print $2}') req/s," \
    "p50 $(grep ' 50%' <<< "$out" | awk '{print $2}'), p99 $(grep ' 99%' <<< "$out" | awk '{print $2}')"
  exit 0
fi

binary=${2:-$root/target/release/scaihub}
webhooks=${3:-1}
secs=${4:-10}
data=$(mktemp -d)
key=shk_admin_$(head -c 16 /dev/urandom | xxd -p)
port=$(free_port)
env_db=()
if [ -n "${PG_URL:-}" ]; then
  db=wrk_$(date +%s)_$$
  psql -q "$PG_URL/postgres" -c "CREATE DATABASE $db"
  env_db=(SCAIHUB_DATABASE_URL="$PG_URL/$db" SCAIHUB_MASTER_KEY="$(head -c 32 /dev/urandom | xxd -p -c 64)")
fi
env -i PATH="$PATH" SCAIHUB_LISTEN="127.0.0.1:$port" SCAIHUB_DATA_DIR="$data" SCAIHUB_ADMIN_KEY="$key" \
  SCAIHUB_ALLOW_DESTINATIONS=127.0.0.0/8 SCAIHUB_LOG=warn "${env_db[@]}" "$binary" serve > "$data/serve.log" 2>&1 &
hub=$!
pids+=($hub)
api=http://127.0.0.1:$port
for _ in $(seq 100); do curl -sf "$api/v1/me" -H "Authorization: Bearer $key" > "$data/me.json" && break; sleep 0.2; done
org=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["org_id"])' "$data/me.json")
for i in $(seq "$webhooks"); do
  curl -sf -X POST "$api/v1/orgs/$org/webhooks" -H "Authorization: Bearer $key" -H 'content-type: application/json' \
    -d "{\"name\":\"wrk $i\",\"url\":\"http://127.0.0.1:$recv_port/hook\",\"events\":[\"SHARING\"]}" > /dev/null
done
cpu() { awk '{print $14 + $15}' "/proc/$hub/stat"; }
before=$(cpu)
out=$(KEY=$key ORG=$org RUN_TAG=$(date +%s%N) wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s "$here/single-event.lua" "$api")
# The deliveries of the last requests arrive within a moment.
sleep 2
after=$(cpu)
total=$(grep 'requests in' <<< "$out" | awk '{print $1}')
errors=$(grep -E 'Non-2xx|Socket errors' <<< "$out" || true)
hz=$(getconf CLK_TCK)
echo "ingest ($webhooks webhook(s), $conns connections): $(grep Requests/sec <<< "$out" | awk '{print $2}') events/s," \
  "answer p50 $(grep ' 50%' <<< "$out" | awk '{print $2}') p99 $(grep ' 99%' <<< "$out" | awk '{print $2}')," \
  "scaihub CPU $(python3 -c "print(round(($after - $before) / $hz * 1e6 / $total, 1))") us/event," \
  "$(curl -s "http://127.0.0.1:$recv_port/stats" | python3 -c 'import json,sys; s=json.load(sys.stdin); print("received %d deliveries (%d distinct)" % (s["count"], s["unique"]))')" \
  "of $total requests answered${errors:+; $errors}"
