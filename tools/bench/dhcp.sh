#!/usr/bin/env bash
# Benchmark: DHCP leases per second, Outpost beside dnsmasq and Kea (kea-dhcp4, memfile), in one
# run, on one veth pair between two network namespaces. A benchmark, not a test: it measures and
# prints, it never fails on a figure.
#
# perfdhcp (from kea-admin) plays a relay agent in the client namespace: it sends DISCOVERs with
# giaddr set to its own address, as many distinct clients (MACs) as CLIENTS, at each offered
# RATE for SECS seconds, and completes DORA (DISCOVER, OFFER, REQUEST, ACK) for each answer.
# One 4-way exchange is one lease. Every server keeps its leases on disk: Outpost in SQLite
# (WAL, synchronous=NORMAL, group commit before the reply), dnsmasq in its lease file, Kea in
# its memfile CSV (persist=true). Outpost and Kea do not fsync per lease; dnsmasq rewrites its
# whole lease file and fsyncs it after the changes of each pass of its loop. dnsmasq runs with --no-ping
# (Outpost and Kea do not ping either) and --quiet-dhcp (it logs every message to stderr by
# default; Outpost logs none, Kea is at WARN). "Lease rows on disk": Outpost and dnsmasq keep
# one row per address, Kea's memfile appends one per ACK. The servers take turns, rate by rate, each on a fresh
# lease database, pinned to CPU 1 with perfdhcp on CPU 0.
#
# Usage: sudo tools/bench/dhcp.sh           (about 4 minutes)
#   env RATES="1000 4000 16000"   offered DISCOVERs/s
#       CLIENTS=20000             distinct clients (the pool holds 50,000 addresses)
#       SECS=20                   seconds per run (perfdhcp -p)
#       OUTPOST=path              the outpost binary (default: a release build, made here)
#       KEEP=1                    keep the work directory
set -euo pipefail
cd "$(dirname "$0")/../.."

RATES=${RATES-"1000 4000 16000"}
CLIENTS=${CLIENTS:-20000}
SECS=${SECS:-20}
SERVER_CPU=1; LOAD_CPU=0
[ "$(id -u)" = 0 ] || { echo "run as root (namespaces, port 67, apt-get): sudo $0" >&2; exit 1; }
for pair in perfdhcp:kea-admin kea-dhcp4:kea-dhcp4-server dnsmasq:dnsmasq-base ip:iproute2 taskset:util-linux curl:curl; do
  command -v "${pair%%:*}" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pair#*:}" </dev/null >/dev/null
done
if [ -z "${OUTPOST:-}" ]; then
  cargo build --release -q -p appliance --bin outpost
  OUTPOST=${CARGO_TARGET_DIR:-target}/release/outpost
fi

WORK=$(mktemp -d /tmp/outpost-dhcp-bench.XXXXXX)
NS_S=obench-s$$; NS_C=obench-c$$; VS=obs$$; VC=obc$$
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  ip netns del "$NS_S" 2>/dev/null || true
  ip netns del "$NS_C" 2>/dev/null || true
  [ "${KEEP:-}" = 1 ] && echo "work directory kept: $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NS_S"; ip netns add "$NS_C"
ip link add "$VS" type veth peer name "$VC"
ip link set "$VS" netns "$NS_S"; ip link set "$VC" netns "$NS_C"
ip -n "$NS_S" addr add 10.88.0.1/16 dev "$VS"; ip -n "$NS_C" addr add 10.88.0.2/16 dev "$VC"
for ns in "$NS_S" "$NS_C"; do ip -n "$ns" link set lo up; done
ip -n "$NS_S" link set "$VS" up; ip -n "$NS_C" link set "$VC" up

# Each server starts as `ip netns exec NS taskset -c CPU server ...` straight from this shell:
# ip and taskset exec the next program, so $! is the server's own pid and `kill` reaches it.
IN_S=(ip netns exec "$NS_S" taskset -c "$SERVER_CPU")

start_outpost() {
  local d=$WORK/outpost; rm -rf "$d"; mkdir -p "$d"
  cat >"$d/site.toml" <<TOML
schema = 1
[site]
name = "bench"
[[dhcp_scopes]]
name = "bench"
network = "10.88.0.0/16"
range_start = "10.88.1.0"
range_end = "10.88.196.79"
router = "10.88.0.1"
dns = ["10.88.0.1"]
lease_time = 3600
authoritative = true
TOML
  cat >"$d/outpost.toml" <<TOML
data_dir = "$d/box"
[api]
listen = "127.0.0.1:18443"
[sip]
udp = "off"
tcp = "off"
tls = "off"
[tftp]
listen = "off"
[dhcp]
interface = "$VS"
port = 67
TOML
  "$OUTPOST" config apply --config "$d/outpost.toml" "$d/site.toml" >/dev/null 2>&1
  RUST_LOG=warn,appliance::dhcp=info "${IN_S[@]}" "$OUTPOST" run --config "$d/outpost.toml" >"$d/stdout" 2>"$d/stderr" &
  SERVER_PID=$!
  # Serving starts after the probe for another server (5 s).
  for _ in $(seq 100); do grep -q "DHCP serving" "$d/stderr" && return; sleep 0.2; done
  echo "outpost did not start serving:" >&2; cat "$d/stderr" >&2; exit 1
}

start_dnsmasq() {
  local d=$WORK/dnsmasq; rm -rf "$d"; mkdir -p "$d"
  "${IN_S[@]}" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --user=root --interface="$VS" --bind-interfaces \
    --dhcp-range=10.88.1.0,10.88.196.79,255.255.0.0,1h --dhcp-lease-max=100000 --no-ping --quiet-dhcp \
    --dhcp-option=3,10.88.0.1 --dhcp-option=6,10.88.0.1 \
    --dhcp-leasefile="$d/leases" --pid-file="$d/pid" 2>"$d/stderr" &
  SERVER_PID=$!
  sleep 1
}

start_kea() {
  local d=$WORK/kea; rm -rf "$d"; mkdir -p "$d"
  cat >"$d/kea.json" <<JSON
{ "Dhcp4": {
    "interfaces-config": { "interfaces": ["$VS"], "dhcp-socket-type": "udp" },
    "lease-database": { "type": "memfile", "persist": true, "name": "$d/leases.csv", "lfc-interval": 0 },
    "valid-lifetime": 3600,
    "subnet4": [ { "id": 1, "subnet": "10.88.0.0/16",
                   "pools": [ { "pool": "10.88.1.0 - 10.88.196.79" } ],
                   "option-data": [ { "name": "routers", "data": "10.88.0.1" },
                                    { "name": "domain-name-servers", "data": "10.88.0.1" } ] } ],
    "loggers": [ { "name": "kea-dhcp4", "severity": "WARN", "output_options": [ { "output": "$d/kea.log" } ] } ]
} }
JSON
  KEA_PIDFILE_DIR=$d KEA_LOCKFILE_DIR=$d "${IN_S[@]}" kea-dhcp4 -c "$d/kea.json" >"$d/stdout" 2>&1 &
  SERVER_PID=$!
  sleep 2
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
  # The next server needs port 67 free.
  for _ in $(seq 50); do ip netns exec "$NS_S" ss -Hlun 'sport = :67' | grep -q . || return 0; sleep 0.1; done
  echo "port 67 still taken after stopping a server" >&2; exit 1
}

# Leases the server wrote to disk, to show that each one persisted what it answered.
stored() {
  case $1 in
    outpost) python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from dhcp_leases').fetchone()[0])" "$WORK/outpost/box/outpost.db" 2>/dev/null || echo "?" ;;
    dnsmasq) wc -l <"$WORK/dnsmasq/leases" ;;
    kea) cat "$WORK"/kea/leases.csv* | grep -vc '^address' ;;
  esac
}

# Prints "<exchanges/s> <sent discovers> <acks>" for one perfdhcp run.
run_perfdhcp() {
  local rate=$1 out=$2
  ip netns exec "$NS_C" taskset -c "$LOAD_CPU" perfdhcp -4 -l "$VC" -r "$rate" -R "$CLIENTS" -p "$SECS" 10.88.0.1 >"$out" 2>&1 || true
  local exch sent acks
  exch=$(awk '/^Rate:/ {print $2; exit}' "$out")
  sent=$(awk '/DISCOVER-OFFER/ {f=1} f && /sent packets/ {print $3; exit}' "$out")
  acks=$(awk '/REQUEST-ACK/ {f=1} f && /received packets/ {print $3; exit}' "$out")
  echo "${exch:-0} ${sent:-0} ${acks:-0}"
}

echo "DHCP benchmark: rates $RATES/s, $CLIENTS clients, ${SECS}s per run; outpost $("$OUTPOST" --version 2>/dev/null || echo "$OUTPOST"), $(dnsmasq --version | head -1 | cut -d' ' -f1-3), kea-dhcp4 $(kea-dhcp4 -v)"
declare -A RESULT
for rate in $RATES; do
  for server in outpost dnsmasq kea; do
    "start_$server"
    read -r exch sent acks < <(run_perfdhcp "$rate" "$WORK/perfdhcp-$server-$rate.txt")
    stop_server
    RESULT[$server,$rate]=$exch
    printf '  %-8s offered %6s/s: %10s leases/s (%s DISCOVERs sent, %s ACKs, %s lease rows on disk)\n' \
      "$server" "$rate" "$exch" "$sent" "$acks" "$(stored "$server")"
  done
done

echo
echo "| offered DISCOVERs/s | Outpost leases/s | dnsmasq leases/s | Kea leases/s | Outpost / dnsmasq | Outpost / Kea |"
echo "|---|---|---|---|---|---|"
for rate in $RATES; do
  o=${RESULT[outpost,$rate]}; d=${RESULT[dnsmasq,$rate]}; k=${RESULT[kea,$rate]}
  rd=$(awk -v a="$o" -v b="$d" 'BEGIN { printf (b > 0 ? "%.2f" : "-"), a / b }')
  rk=$(awk -v a="$o" -v b="$k" 'BEGIN { printf (b > 0 ? "%.2f" : "-"), a / b }')
  printf '| %s | %.0f | %.0f | %.0f | %s | %s |\n' "$rate" "$o" "$d" "$k" "$rd" "$rk"
done
