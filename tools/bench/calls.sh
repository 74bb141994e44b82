#!/usr/bin/env bash
# Benchmark: calls per second through Outpost's B2BUA with the media anchored on its bridge,
# sipp UAC -> Outpost -> sipp UAS, on loopback. A benchmark, not a test: it measures and
# prints, it never fails on a figure.
#
# Each call is the full flow of tests/sipp/call_uac.xml: INVITE, 401 challenge (MD5), ACK,
# INVITE with credentials, routing, bridge ports opened and both SDPs rewritten, 180, 200, ACK,
# the UAC playing g711a.pcap (50 packets/s) to the box, which relays it to the UAS, which echoes
# it (-rtp_echo) back through the box, then BYE after HOLD_MS and the CDR written. The UAS
# (tests/sipp/call_uas.xml) answers at once. Outpost is pinned to CPU 1, both sipps to CPU 0.
# Per offered rate (RATES, calls/s; CALLS = rate x SECONDS each):
#   - completed and failed calls (sipp's counts); the summary's capacity is the highest rate
#     with under 1 % failed calls
#   - Outpost's CPU seconds per 1,000 calls (utime + stime)
#   - memory per active call: Outpost's PSS at the run's peak concurrency (rate x call length)
#     minus its PSS idle, divided by that concurrency
#   - CDRs written (they must match the completed calls)
#
# Usage: tools/bench/calls.sh            (a few minutes; sipp must be installed: sip-tester)
#   env RATES="25 50 100 200" SECONDS=20 HOLD_MS=3000 MEDIA=1 KEEP=1 BIN=target/release/outpost
#   MEDIA=0: the same calls with the bridge opened and the SDP rewritten but no RTP played.
set -euo pipefail
cd "$(dirname "$0")/../.."

RATES=${RATES:-"25 50 100 200"}
SECONDS_EACH=${SECONDS:-20}
HOLD_MS=${HOLD_MS:-3000}
MEDIA=${MEDIA:-1}
SIP=16060; API=18463; UAS=5092; UAC=5094; UAS_MEDIA=26000; UAC_MEDIA=27000
SERVER_CPU=1; LOAD_CPU=0

command -v sipp >/dev/null || { echo "sipp is needed: apt-get install sip-tester" >&2; exit 1; }
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet -p appliance --bin outpost
  BIN=target/release/outpost
fi
WORK=$(mktemp -d)
OPID=; SPID=
cleanup() {
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null || true
  [ -n "$OPID" ] && kill "$OPID" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

cat > "$WORK/site.toml" <<'TOML'
schema = 1
[site]
name = "bench"
[[tenants]]
name = "bench"
domains = ["bench.local"]
[[tenants.extensions]]
number = "101"
secret = "bench-caller-101"
[[tenants.extensions]]
number = "102"
secret = "bench-callee-102"
TOML
cat > "$WORK/outpost.toml" <<TOML
data_dir = "$WORK/box"
[api]
listen = "127.0.0.1:$API"
[sip]
udp = "127.0.0.1:$SIP"
tcp = "off"
tls = "off"
digest_algorithms = ["MD5"]
allowlist = ["127.0.0.0/8"]
[rtp]
port_min = 30000
port_max = 39999
[tftp]
listen = "off"
[daemon]
shutdown_timeout_secs = 5
TOML
printf 'SEQUENTIAL\n101;bench.local;[authentication username=101 password=bench-caller-101];600\n' > "$WORK/uac.csv"
printf 'SEQUENTIAL\n102;bench.local;[authentication username=102 password=bench-callee-102];3600\n' > "$WORK/uas.csv"
UAC_SCENARIO=tests/sipp/call_uac.xml
if [ "$MEDIA" = 0 ]; then
  grep -v 'play_pcap_audio' tests/sipp/call_uac.xml > "$WORK/call_uac_nomedia.xml"
  UAC_SCENARIO=$WORK/call_uac_nomedia.xml
fi
sed "s/<pause milliseconds=\"3000\"\/>/<pause milliseconds=\"$HOLD_MS\"\/>/" "$UAC_SCENARIO" > "$WORK/uac.xml"

"$BIN" config apply --config "$WORK/outpost.toml" "$WORK/site.toml" >/dev/null
taskset -c $SERVER_CPU "$BIN" run --config "$WORK/outpost.toml" > "$WORK/outpost.out" 2> "$WORK/outpost.log" &
OPID=$!
for _ in $(seq 100); do grep -q "Admin login" "$WORK/outpost.out" 2>/dev/null && break; sleep 0.1; done
pass=$(sed -n 's/.*Admin login: admin \/ \([^ ]*\).*/\1/p' "$WORK/outpost.out")
api() { curl -sS --cacert "$WORK/box/tls/cert.pem" "$@"; }
api -X POST "https://127.0.0.1:$API/api/v1/login" -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$pass\"}" > "$WORK/login.json"
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$WORK/login.json")
# The one-time password must be changed before the API answers anything else.
api -X POST "https://127.0.0.1:$API/api/v1/password" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d "{\"current\":\"$pass\",\"new\":\"bench-admin-password\"}" >/dev/null
api -X POST "https://127.0.0.1:$API/api/v1/login" -H 'Content-Type: application/json' \
  -d '{"username":"admin","password":"bench-admin-password"}' > "$WORK/login.json"
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$WORK/login.json")

cd "$WORK"
sipp "127.0.0.1:$SIP" -sf "$OLDPWD/tests/sipp/register.xml" -inf uas.csv -m 1 -p $UAS -i 127.0.0.1 \
  -timeout 10 -timeout_error -nostdin >/dev/null 2>&1
taskset -c $LOAD_CPU sipp "127.0.0.1:$SIP" -sf "$OLDPWD/tests/sipp/call_uas.xml" -inf uas.csv -p $UAS \
  -i 127.0.0.1 -mi 127.0.0.1 -mp $UAS_MEDIA -rtp_echo -nostdin -bg >/dev/null 2>&1 || true
sleep 0.5
SPID=$(pgrep -f "sipp .* -p $UAS " | head -1 || true)

cpu() { awk '{print $14 + $15}' "/proc/$OPID/stat"; }
pss() { awk '/^Pss:/ {s += $2} END {print s}' "/proc/$OPID/smaps_rollup"; }
tick=$(getconf CLK_TCK)
idle_pss=$(pss)
printf '%-8s %-8s %-8s %-8s %-12s %-12s %-8s\n' rate calls ok failed cpu_s/1000 kB/call cdrs
best=0
for rate in $RATES; do
  calls=$((rate * SECONDS_EACH))
  before_cpu=$(cpu)
  before_cdrs=$(api -H "Authorization: Bearer $token" "https://127.0.0.1:$API/api/v1/cdrs?limit=100000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
  rm -f uac_*_.csv
  taskset -c $LOAD_CPU sipp "127.0.0.1:$SIP" -sf uac.xml -inf uac.csv -s 102 -p $UAC -i 127.0.0.1 -mi 127.0.0.1 \
    -mp $UAC_MEDIA -r "$rate" -m "$calls" -l $((rate * (HOLD_MS / 1000 + 6))) -timeout $((SECONDS_EACH + 60)) \
    -nostdin -trace_stat -stf uac_stat.csv -fd 1 -trace_err >/dev/null 2>&1 &
  upid=$!
  # Peak concurrency: halfway through the run.
  sleep $((SECONDS_EACH / 2))
  busy_pss=$(pss)
  wait $upid || true
  sleep 2
  after_cpu=$(cpu)
  read -r ok failed < <(python3 - <<'PY'
import csv
rows = list(csv.reader(open("uac_stat.csv"), delimiter=";"))
head, last = rows[0], rows[-1]
print(last[head.index("SuccessfulCall(C)")], last[head.index("FailedCall(C)")])
PY
)
  after_cdrs=$(api -H "Authorization: Bearer $token" "https://127.0.0.1:$API/api/v1/cdrs?limit=100000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
  concurrent=$((rate * (HOLD_MS + 100) / 1000))
  per_call=$(( (busy_pss - idle_pss) / (concurrent > 0 ? concurrent : 1) ))
  cpu_per_k=$(python3 -c "print(f'{($after_cpu - $before_cpu) / $tick / max($ok, 1) * 1000:.2f}')")
  printf '%-8s %-8s %-8s %-8s %-12s %-12s %-8s\n' "$rate" "$calls" "$ok" "$failed" "$cpu_per_k" "$per_call" "$((after_cdrs - before_cdrs))"
  if [ "$failed" -le $((calls / 100)) ] && [ "$ok" -gt 0 ]; then best=$rate; fi
done
echo "capacity: $best calls/s offered with under 1 % failed calls (media $([ "$MEDIA" = 1 ] && echo anchored and flowing || echo anchored, silent))"
