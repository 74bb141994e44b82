#!/usr/bin/env bash
# Benchmark (issue 7): fleet scale. BOXES simulated box agents in one process
# (target/…/fleet-scale: one tokio runtime, one rumqttc MQTT 3.1.1 connection per box, the
# cloud-sync documents) against the real outpost-fleet, once with Mosquitto as the broker and
# once with the fleet's embedded broker (when this build has one). Measured per mode: time for
# one config change, pushed to every box through the fleet's REST API, to be applied and
# reported (per box p50/p99/max, and first push → last report), the fleet's and the broker's
# CPU seconds and peak RSS, the connect storm, and raw broker throughput of 128 KiB chunk
# messages. A benchmark, not a test: it measures and prints, it never fails on a figure.
#
# Mosquitto runs with its own config, password file (BOXES users + fleet, hashed with
# `mosquitto_passwd -U`) and ACL (`pattern readwrite outpost/v1/%u/#`, user fleet on
# `outpost/v1/#`) on a free loopback port. The bench's observer subscribes as the fleet user to
# `outpost/v1/+/config/reported` and timestamps arrivals; the fleet's store is checked for every
# report at the end (GET /api/v1/boxes/<id>).
#
# Usage: tools/bench/fleet-scale.sh            (builds both binaries in release first)
#   env BOXES=1000 MODES="mosquitto embedded" PUSHERS=8 EXTENSIONS=20 CHUNK_AGENTS=10 CHUNKS=20
#       FLEET=target/release/outpost-fleet BENCH=target/release/fleet-scale (skip the build)
#       RESULTS=fleet-scale-results.jsonl KEEP=1 (keep the work directory and logs)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v mosquitto >/dev/null || { echo "mosquitto is needed: apt-get install mosquitto" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

BOXES=${BOXES:-1000}
MODES=${MODES:-mosquitto embedded}
PUSHERS=${PUSHERS:-8}
EXTENSIONS=${EXTENSIONS:-20}
CHUNK_AGENTS=${CHUNK_AGENTS:-10}
CHUNKS=${CHUNKS:-20}
if [ -z "${FLEET:-}" ] || [ -z "${BENCH:-}" ]; then
  cargo build --release -p cloud-sync --bin outpost-fleet -p tools --bin fleet-scale
  FLEET=${FLEET:-target/release/outpost-fleet}
  BENCH=${BENCH:-target/release/fleet-scale}
fi
FLEET=$(realpath "$FLEET")
BENCH=$(realpath "$BENCH")

WORK=$(mktemp -d /tmp/fleet-scale.XXXXXX)
RESULTS=${RESULTS:-$WORK/results.jsonl}
: >"$RESULTS"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "${KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Secrets of this run only; handed over in the environment, never on a command line.
export OUTPOST_BOX_PASSWORD="bench-box-$RANDOM$RANDOM"
export OUTPOST_FLEET_PASSWORD="bench-fleet-$RANDOM$RANDOM"
export OUTPOST_FLEET_ADMIN_PASSWORD="bench-admin-$RANDOM$RANDOM"
CLK_TCK=$(getconf CLK_TCK)

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  return 1
}

stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# start_fleet DIR ARGS...: runs outpost-fleet, sets FLEET_PID, API_URL and (embedded) MQTT_URL.
start_fleet() {
  local dir=$1
  shift
  "$FLEET" run "$@" >"$dir/fleet.out" 2>"$dir/fleet.err" &
  FLEET_PID=$!
  PIDS+=("$FLEET_PID")
  API_URL=
  MQTT_URL=
  for _ in $(seq 600); do
    API_URL=$(sed -n 's/^outpost-fleet API on \(http:[^ ]*\).*/\1/p' "$dir/fleet.out" | head -1)
    MQTT_URL=$(sed -n 's/^outpost-fleet MQTT on \(mqtt:[^ ]*\).*/\1/p' "$dir/fleet.out" | head -1)
    if [ -n "$API_URL" ] && { [ -z "${WANT_MQTT:-}" ] || [ -n "$MQTT_URL" ]; }; then return 0; fi
    kill -0 "$FLEET_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "outpost-fleet did not start:" >&2
  tail -20 "$dir/fleet.err" >&2
  return 1
}

bench() {
  local label=$1
  shift
  echo "== $label: $BOXES boxes" >&2
  "$BENCH" --boxes "$BOXES" --pushers "$PUSHERS" --extensions "$EXTENSIONS" --chunk-agents "$CHUNK_AGENTS" \
    --chunks "$CHUNKS" --clk-tck "$CLK_TCK" --fleet-pid "$FLEET_PID" --label "$label" "$@" \
    >"$WORK/$label.json" || echo "fleet-scale ($label) did not finish: see above" >&2
  tail -1 "$WORK/$label.json" >>"$RESULTS"
}

run_mosquitto() {
  local dir=$WORK/mosquitto port
  mkdir -p "$dir"
  port=$(free_port)
  {
    echo "fleet:$OUTPOST_FLEET_PASSWORD"
    for i in $(seq 0 $((BOXES - 1))); do printf 'bench-%04d:%s\n' "$i" "$OUTPOST_BOX_PASSWORD"; done
  } >"$dir/passwd"
  mosquitto_passwd -U "$dir/passwd"
  printf 'pattern readwrite outpost/v1/%%u/#\n\nuser fleet\ntopic readwrite outpost/v1/#\n' >"$dir/acl"
  {
    echo "listener $port 127.0.0.1"
    echo "allow_anonymous false"
    echo "password_file $dir/passwd"
    echo "acl_file $dir/acl"
    echo "persistence false"
    echo "log_dest file $dir/mosquitto.log"
    echo "log_type error"
    echo "log_type warning"
    if [ "$(id -u)" = 0 ]; then echo "user root"; fi
  } >"$dir/mosquitto.conf"
  mosquitto -c "$dir/mosquitto.conf" >/dev/null 2>"$dir/mosquitto.err" &
  local broker=$!
  PIDS+=("$broker")
  wait_port "$port"
  WANT_MQTT='' start_fleet "$dir" --broker "mqtt://127.0.0.1:$port" --username fleet --api 127.0.0.1:0 --data "$dir/data"
  bench mosquitto --mqtt "mqtt://127.0.0.1:$port" --api "$API_URL" --observer-user fleet --broker-pid "$broker"
  stop "$FLEET_PID"
  stop "$broker"
}

run_embedded() {
  local dir=$WORK/embedded
  mkdir -p "$dir"
  if "$FLEET" run --help | grep -q 'Usage:.*--broker <'; then
    echo "== embedded: not measured: embedded broker not built (outpost-fleet run needs --broker)" >&2
    echo '{"label":"embedded","not_measured":"embedded broker not built"}' >>"$RESULTS"
    return 0
  fi
  echo "registering $BOXES boxes" >&2
  for i in $(seq 0 $((BOXES - 1))); do
    "$FLEET" box add "$(printf 'bench-%04d' "$i")" --tenant bench --data "$dir/data" >/dev/null
  done
  WANT_MQTT=1 start_fleet "$dir" --mqtt-listen 127.0.0.1:0 --api 127.0.0.1:0 --data "$dir/data"
  # The observer needs a login that may read every box's topics; the embedded broker is
  # reached by the fleet service from inside, so the bench polls the API instead.
  bench embedded --mqtt "$MQTT_URL" --api "$API_URL"
  stop "$FLEET_PID"
}

for mode in $MODES; do
  case $mode in
    mosquitto) run_mosquitto ;;
    embedded) run_embedded ;;
    *) echo "unknown mode $mode" >&2 ;;
  esac
done

echo "== results ($RESULTS)" >&2
python3 - "$RESULTS" <<'PY'
import json, sys

runs = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if line:
        try:
            r = json.loads(line)
        except ValueError:
            continue
        runs[r.get("label")] = r
cols = ["mosquitto", "embedded"]

def get(r, *path):
    for k in path:
        if not isinstance(r, dict) or r.get(k) is None:
            return None
        r = r[k]
    return r

def add(*xs):
    return None if any(x is None for x in xs) else sum(xs)

def mib(kib):
    return None if kib is None else kib / 1024

rows = [
    ("boxes connected and subscribed", lambda r: get(r, "connect", "connected_and_subscribed")),
    ("connect storm: all connected and subscribed (ms)", lambda r: get(r, "connect", "to_all_subscribed_ms")),
    ("config round: all POSTs answered (ms)", lambda r: get(r, "config_round", "push_all_ms")),
    ("push -> applied report at the fleet, p50 (ms)", lambda r: get(r, "config_round", "push_to_report_ms", "p50")),
    ("push -> applied report at the fleet, p99 (ms)", lambda r: get(r, "config_round", "push_to_report_ms", "p99")),
    ("push -> applied report at the fleet, max (ms)", lambda r: get(r, "config_round", "push_to_report_ms", "max")),
    ("push -> desired document at the box, p50 (ms)", lambda r: get(r, "config_round", "push_to_desired_at_box_ms", "p50")),
    ("push -> desired document at the box, p99 (ms)", lambda r: get(r, "config_round", "push_to_desired_at_box_ms", "p99")),
    ("first push -> last report, whole fleet (ms)", lambda r: get(r, "config_round", "first_push_to_last_report_ms")),
    ("reports stored by the fleet (checked by API)", lambda r: get(r, "config_round", "stored_by_fleet")),
    ("fleet CPU, config round (s)", lambda r: get(r, "config_round", "cpu", "fleet_cpu_s")),
    ("broker CPU, config round (s)", lambda r: get(r, "config_round", "cpu", "broker_cpu_s")),
    ("fleet + broker CPU, config round (s)", lambda r: add(get(r, "config_round", "cpu", "fleet_cpu_s"), get(r, "config_round", "cpu", "broker_cpu_s") or 0) if get(r, "config_round") else None),
    ("fleet + broker CPU, connect storm (s)", lambda r: add(get(r, "connect", "cpu", "fleet_cpu_s"), get(r, "connect", "cpu", "broker_cpu_s") or 0) if get(r, "connect") else None),
    ("fleet peak RSS, VmHWM (MiB)", lambda r: mib(get(r, "memory_end", "fleet", "hwm_kib"))),
    ("broker peak RSS, VmHWM (MiB)", lambda r: mib(get(r, "memory_end", "broker", "hwm_kib"))),
    ("fleet + broker peak RSS (MiB)", lambda r: add(mib(get(r, "memory_end", "fleet", "hwm_kib")), mib(get(r, "memory_end", "broker", "hwm_kib")) or 0) if get(r, "memory_end") else None),
    ("128 KiB chunks QoS 1, publish -> all PUBACKs (MiB/s)", lambda r: get(r, "chunks", "mib_per_s_acked")),
    ("128 KiB chunks QoS 1, publish -> all at fleet-user subscriber (MiB/s)", lambda r: get(r, "chunks", "mib_per_s_delivered")),
    ("fleet + broker CPU, chunk phase (s)", lambda r: add(get(r, "chunks", "cpu", "fleet_cpu_s"), get(r, "chunks", "cpu", "broker_cpu_s") or 0) if get(r, "chunks") else None),
    ("agents' MQTT errors (reconnects)", lambda r: get(r, "mqtt_errors")),
]

def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 10 else f"{v:.2f}"
    return f"{v:,}" if isinstance(v, int) else str(v)

print("| measure | Mosquitto | embedded | ratio (embedded / Mosquitto) |")
print("|---|---|---|---|")
for name, f in rows:
    vals = []
    for c in cols:
        r = runs.get(c)
        if r is None or "not_measured" in r:
            vals.append(None)
        else:
            vals.append(f(r))
    a, b = vals
    ratio = f"{b / a:.2f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a else "-"
    print(f"| {name} | {fmt(a)} | {fmt(b)} | {ratio} |")
for c in cols:
    r = runs.get(c)
    if r and "not_measured" in r:
        print(f"\n{c}: not measured: {r['not_measured']}")
PY
