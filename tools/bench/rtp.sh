#!/usr/bin/env bash
# Benchmark: RTP relay, Outpost's media bridge beside rtpengine, in one run, on loopback. A
# benchmark, not a test: it measures and prints, it never fails on a figure.
#
# The same load from tools/src/bin/rtp-load.rs goes through each relay in turn: CALLS
# concurrent G.711 calls, each 50 packets/s of 172 bytes each way (RTP header + 160 bytes, the
# send time inside the payload), spread evenly over each 20 ms. Both relays are pinned to CPU 1
# (taskset) with one packet worker each; the load generator runs on CPU 0.
#   - Outpost: appliance/examples/media_bench.rs opens the calls on one `media::Bridge` the way
#     the B2BUA does (SDP rewrite, expect_remote) on a one-worker tokio runtime.
#   - rtpengine (Debian rtpengine-daemon): userspace forwarding only (--table=-1: no kernel
#     module), one worker thread; the calls are set up over its ng control protocol (bencode over
#     UDP: offer from A, answer from B, delete at the end).
# Measured over SECONDS_EACH seconds after a WARMUP:
#   - relayed packets per second per core: packets that came out of the relay / the relay's
#     CPU seconds (utime + stime, all threads) over the window
#   - added latency p50/p99/p99.9: arrival at the far phone minus the send time in the payload,
#     generator included (the same for both)
#   - loss: sent in the window and not received
#
# Usage: sudo tools/bench/rtp.sh        (as root: installs rtpengine-daemon with apt if missing)
#   env CALLS="100 500 1000 2000" SECONDS_EACH=10 WARMUP=2 KEEP=1 NO_BUILD=1 (use the last build)
set -euo pipefail
cd "$(dirname "$0")/../.."

CALLS=${CALLS:-"100 500 1000 2000"}
SECONDS_EACH=${SECONDS_EACH:-10}
WARMUP=${WARMUP:-2}
SERVER_CPU=1
LOAD_CPU=0
NG=22222
PORT_MIN=30000
PORT_MAX=39999

command -v rtpengine >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rtpengine-daemon </dev/null
}
# The package may start its own daemon (with the kernel table); this benchmark runs its own.
systemctl stop rtpengine-daemon 2>/dev/null || true

[ -n "${NO_BUILD:-}" ] || cargo build --release -p appliance --example media_bench -p tools --bin rtp-load >/dev/null 2>&1
BENCH=target/release/examples/media_bench
LOAD=target/release/rtp-load
WORK=$(mktemp -d)
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  if [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

ng_ping() {
  python3 - "$NG" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
s.sendto(b"1 d7:command4:pinge", ("127.0.0.1", int(sys.argv[1])))
try:
    sys.exit(0 if b"pong" in s.recv(1000) else 1)
except OSError:
    sys.exit(1)
EOF
}

load() { # label calls extra-args...
  local label=$1 calls=$2
  shift 2
  taskset -c $LOAD_CPU "$LOAD" --calls "$calls" --seconds "$SECONDS_EACH" --warmup "$WARMUP" \
    --server-pid "$PID" --label "$label" "$@" | tee -a "$WORK/results.jsonl"
}

for calls in $CALLS; do
  # Outpost
  rm -f "$WORK/ports"
  taskset -c $SERVER_CPU "$BENCH" --calls "$calls" --threads 1 --ports "$PORT_MIN-$PORT_MAX" \
    --out "$WORK/ports" 2>>"$WORK/outpost.log" &
  PID=$!
  load outpost "$calls" --ports-file "$WORK/ports"
  kill -TERM "$PID"
  wait "$PID" || true
  PID=

  # rtpengine
  taskset -c $SERVER_CPU rtpengine --config-file=none --foreground --log-stderr --log-level=4 --table=-1 \
    --interface=127.0.0.1 --listen-ng=127.0.0.1:$NG --port-min=$PORT_MIN --port-max=$PORT_MAX \
    --num-threads=1 --timeout=600 2>>"$WORK/rtpengine.log" &
  PID=$!
  for _ in $(seq 50); do ng_ping && break; sleep 0.1; done
  load rtpengine "$calls" --ng 127.0.0.1:$NG
  kill -TERM "$PID"
  wait "$PID" || true
  PID=
done

python3 - "$WORK/results.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    by.setdefault(r["calls"], {})[r["label"]] = r
print()
print("| calls | pps relayed | Outpost pps/core | rtpengine pps/core | ratio | p50 µs O / r | p99 µs O / r | p99.9 µs O / r | loss % O / r |")
print("|---|---|---|---|---|---|---|---|---|")
for calls in sorted(by):
    o, r = by[calls].get("outpost"), by[calls].get("rtpengine")
    if not o or not r:
        continue
    po, pr = o.get("pps_per_core") or 0, r.get("pps_per_core") or 0
    ratio = f"{po / pr:.2f}" if pr else "-"
    lat = lambda k: f'{o["latency_us"][k]} / {r["latency_us"][k]}'
    print(f'| {calls} | {o["relayed_pps"]:.0f} / {r["relayed_pps"]:.0f} | {po:.0f} | {pr:.0f} | {ratio} | {lat("p50")} | {lat("p99")} | {lat("p999")} | {o["loss_pct"]:.2f} / {r["loss_pct"]:.2f} |')
EOF
