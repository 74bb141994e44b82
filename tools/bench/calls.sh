#!/usr/bin/env bash
# Benchmark: calls per second through the box with the media anchored, Outpost's B2BUA beside
# Kamailio + rtpengine, in one run, on loopback: sipp UAC -> server -> sipp UAS. A benchmark, not
# a test: it measures and prints, it never fails on a figure.
#
# Each call is the full flow of tests/sipp/call_uac.xml: INVITE, 401 challenge (MD5), ACK,
# INVITE with credentials, routing, media anchored (both SDPs rewritten), 180, 200, ACK, the UAC
# playing g711a.pcap (50 packets/s) to the box, which relays it to the UAS, which echoes it
# (-rtp_echo) back through the box, then BYE after HOLD_MS. The UAS (tests/sipp/call_uas.xml)
# answers at once; it registers first with each server (the same users: 101 calls 102).
#   - Outpost: B2BUA, bridge ports opened per call, CDR written to SQLite.
#   - Kamailio (Debian kamailio, tools/bench/kamailio/calls.cfg): registrar (usrloc in memory),
#     auth (passwords in an htable), tm + rr stateful proxy, no dialog module; media through
#     rtpengine (Debian rtpengine-daemon, userspace forwarding --table=-1, one worker thread)
#     driven by the rtpengine module (offer on INVITE, answer on the 200, delete on BYE).
# Both servers (and rtpengine) are pinned to CPU 1 and take turns, rate by rate; both sipps run
# on CPU 0. Per offered rate (RATES, calls/s; CALLS = rate x SECONDS each) and server:
#   - completed and failed calls (sipp's counts); the summary's capacity is the highest rate
#     with under 1 % failed calls
#   - server CPU seconds per 1,000 calls (utime + stime; Kamailio: all its processes + rtpengine)
#   - memory per active call: the server's PSS (summed over its processes) at the run's peak
#     concurrency (rate x call length) minus its PSS idle at start, divided by that concurrency
#   - CDRs written by Outpost (they must match the completed calls)
#
# Usage: tools/bench/calls.sh            (a few minutes; sipp, kamailio and rtpengine installed:
#                                         apt-get install sip-tester kamailio rtpengine-daemon)
#   env RATES="25 50 100 200" SECONDS=20 HOLD_MS=3000 MEDIA=1 KEEP=1 BIN=target/release/outpost
#       SERVERS="outpost kamailio"   (either one alone: SERVERS=outpost)
#   MEDIA=0: the same calls with the media anchored and the SDP rewritten but no RTP played.
set -euo pipefail
cd "$(dirname "$0")/../.."

RATES=${RATES:-"25 50 100 200"}
SECONDS_EACH=${SECONDS:-20}
HOLD_MS=${HOLD_MS:-3000}
MEDIA=${MEDIA:-1}
SERVERS=${SERVERS:-"outpost kamailio"}
SIP=16060; API=18463; UAS=5092; UAC=5094; UAS_MEDIA=26000; UAC_MEDIA=27000
KSIP=16070; NG=22223   # Kamailio's SIP port (as in calls.cfg), rtpengine's ng control port
SERVER_CPU=1; LOAD_CPU=0

command -v sipp >/dev/null || { echo "sipp is needed: apt-get install sip-tester" >&2; exit 1; }
case " $SERVERS " in *" kamailio "*)
  for pair in kamailio:kamailio kamcmd:kamailio rtpengine:rtpengine-daemon; do
    command -v "${pair%%:*}" >/dev/null && continue
    if [ "$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pair#*:}" </dev/null >/dev/null
    else echo "${pair%%:*} is needed: apt-get install ${pair#*:} (or SERVERS=outpost)" >&2; exit 1; fi
  done ;;
esac
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet -p appliance --bin outpost
  BIN=target/release/outpost
fi
WORK=$(mktemp -d)
OPID=; SPID=; KPID=; RPID=
cleanup() {
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null || true
  [ -n "$OPID" ] && kill "$OPID" 2>/dev/null || true
  [ -n "$KPID" ] && kill "$KPID" 2>/dev/null || true   # the main process stops its children
  [ -n "$RPID" ] && kill "$RPID" 2>/dev/null || true
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

# A counter from rtpengine's ng "statistics" (bencode over UDP), or - if it does not answer
ng_stat() {
  python3 - "$NG" "$1" <<'PY'
import re, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
s.sendto(b"1 d7:command10:statisticse", ("127.0.0.1", int(sys.argv[1])))
try:
    m = re.search(rb"%d:%si(\d+)e" % (len(sys.argv[2]), sys.argv[2].encode()), s.recv(65536))
    print(int(m.group(1)) if m else "-")
except OSError:
    print("-")
PY
}
# --- Kamailio + rtpengine: the same two users, in the htable that calls.cfg loads from db_text
if [[ " $SERVERS " == *" kamailio "* ]]; then
  mkdir -p "$WORK/kamdb" "$WORK/krun"
  printf 'id(int,auto) table_name(string) table_version(int)\n1:htable:2\n' > "$WORK/kamdb/version"
  printf 'id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) expires(int)\n1:101:0:0:bench-caller-101:0\n2:102:0:0:bench-callee-102:0\n' > "$WORK/kamdb/htable"
  # The package may have started its own daemons; this benchmark runs its own, on other ports.
  # Userspace forwarding only (no kernel table), one worker thread, sessions freed at once on
  # delete (the default keeps them 30 s, which would count ended calls as active ones).
  taskset -c $SERVER_CPU rtpengine --config-file=none --foreground --log-stderr --log-level=4 --table=-1 \
    --interface=127.0.0.1 --listen-ng=127.0.0.1:$NG --port-min=40000 --port-max=49999 \
    --num-threads=1 --delete-delay=0 --timeout=600 2> "$WORK/rtpengine.log" </dev/null &
  RPID=$!
  for _ in $(seq 50); do [ "$(ng_stat sessionsown)" != - ] && break; sleep 0.1; done
  CTL="unix:$WORK/kamailio_ctl"
  taskset -c $SERVER_CPU kamailio -DD -E -m 64 -M 8 -Y "$WORK/krun" -f tools/bench/kamailio/calls.cfg \
    -A "DBURL=\"text://$WORK/kamdb\"" -A "CTLSOCK=\"$CTL\"" -A "RTPENGINE=\"udp:127.0.0.1:$NG\"" \
    > "$WORK/kamailio.log" 2>&1 </dev/null &
  KPID=$!
  for _ in $(seq 100); do kamcmd -s "$CTL" core.uptime >/dev/null 2>&1 && break; sleep 0.1; done
  kamcmd -s "$CTL" core.uptime >/dev/null || { echo "kamailio did not start:" >&2; cat "$WORK/kamailio.log" >&2; exit 1; }
fi

cd "$WORK"
port_of() { if [ "$1" = outpost ]; then echo $SIP; else echo $KSIP; fi; }
# The callee registers with each server, then one UAS answers the calls from both.
for s in $SERVERS; do
  sipp "127.0.0.1:$(port_of $s)" -sf "$OLDPWD/tests/sipp/register.xml" -inf uas.csv -m 1 -p $UAS -i 127.0.0.1 \
    -timeout 10 -timeout_error -nostdin >/dev/null 2>&1 || echo "warning: the callee did not register with $s" >&2
done
taskset -c $LOAD_CPU sipp "127.0.0.1:$SIP" -sf "$OLDPWD/tests/sipp/call_uas.xml" -inf uas.csv -p $UAS \
  -i 127.0.0.1 -mi 127.0.0.1 -mp $UAS_MEDIA -rtp_echo -nostdin -bg >/dev/null 2>&1 || true
sleep 0.5
SPID=$(pgrep -f "sipp .* -p $UAS " | head -1 || true)

pids() { if [ "$1" = outpost ]; then echo "$OPID"; else echo "$KPID" $(pgrep -P "$KPID") "$RPID"; fi; }
cpu() { local t=0 p; for p in $(pids "$1"); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
pss() { local t=0 p; for p in $(pids "$1"); do t=$((t + $(awk '/^Pss:/ {s += $2} END {print s}' "/proc/$p/smaps_rollup"))); done; echo $t; }
cdrs() {
  if [ "$1" = outpost ]; then
    api -H "Authorization: Bearer $token" "https://127.0.0.1:$API/api/v1/cdrs?limit=100000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
  else echo -; fi
}
tick=$(getconf CLK_TCK)
declare -A idle_pss
for s in $SERVERS; do idle_pss[$s]=$(pss $s); done
printf 'server\trate\tcalls\tok\tfailed\tcpu_s_per_1000\tkB_per_call\tidle_pss_kB\tbusy_pss_kB\tcdrs\trtpengine_pkts\n' > results.tsv
# cdrs: written by Outpost; rtp_pkts: packets rtpengine relayed in the run (about 300 per call)
printf '%-9s %-6s %-7s %-7s %-7s %-12s %-9s %-6s %-8s\n' server rate calls ok failed cpu_s/1000 kB/call cdrs rtp_pkts
for rate in $RATES; do
  for s in $SERVERS; do
    calls=$((rate * SECONDS_EACH))
    before_cpu=$(cpu $s)
    before_cdrs=$(cdrs $s)
    before_pkts=-; [ $s = outpost ] || before_pkts=$(ng_stat relayedpackets)
    stat="uac_${s}_${rate}.csv"
    rm -f "$stat"
    taskset -c $LOAD_CPU sipp "127.0.0.1:$(port_of $s)" -sf uac.xml -inf uac.csv -s 102 -p $UAC -i 127.0.0.1 -mi 127.0.0.1 \
      -mp $UAC_MEDIA -r "$rate" -m "$calls" -l $((rate * (HOLD_MS / 1000 + 6))) -timeout $((SECONDS_EACH + 60)) \
      -nostdin -trace_stat -stf "$stat" -fd 1 -trace_err -error_file "uac_${s}_${rate}_errors.log" >/dev/null 2>&1 &
    upid=$!
    # Peak concurrency: halfway through the run.
    sleep $((SECONDS_EACH / 2))
    busy_pss=$(pss $s)
    wait $upid || true
    sleep 2
    after_cpu=$(cpu $s)
    read -r ok failed < <(python3 - "$stat" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
head, last = rows[0], rows[-1]
print(last[head.index("SuccessfulCall(C)")], last[head.index("FailedCall(C)")])
PY
)
    after_cdrs=$(cdrs $s)
    relayed=-; [ $s = outpost ] || relayed=$(( $(ng_stat relayedpackets) - before_pkts ))
    written=-; [ "$after_cdrs" = - ] || written=$((after_cdrs - before_cdrs))
    concurrent=$((rate * (HOLD_MS + 100) / 1000))
    per_call=$(( (busy_pss - ${idle_pss[$s]}) / (concurrent > 0 ? concurrent : 1) ))
    cpu_per_k=$(python3 -c "print(f'{($after_cpu - $before_cpu) / $tick / max($ok, 1) * 1000:.2f}')")
    printf '%-9s %-6s %-7s %-7s %-7s %-12s %-9s %-6s %-8s\n' "$s" "$rate" "$calls" "$ok" "$failed" "$cpu_per_k" "$per_call" "$written" "$relayed"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$rate" "$calls" "$ok" "$failed" "$cpu_per_k" "$per_call" \
      "${idle_pss[$s]}" "$busy_pss" "$written" "$relayed" >> results.tsv
  done
done
python3 - "$MEDIA" <<'PY'
import csv, sys
rows = list(csv.DictReader(open("results.tsv"), delimiter="\t"))
servers = list(dict.fromkeys(r["server"] for r in rows))
def best(s):
    ok = [r for r in rows if r["server"] == s and int(r["ok"]) > 0 and int(r["failed"]) * 100 < int(r["calls"])]
    return max(ok, key=lambda r: int(r["rate"])) if ok else None
media = "anchored and flowing" if sys.argv[1] == "1" else "anchored, silent"
for s in servers:
    b = best(s)
    print(f"capacity {s}: {b['rate'] if b else 0} calls/s offered with under 1 % failed calls (media {media})")
if len(servers) < 2:
    sys.exit()
o, k = servers[0], servers[1]
def ratio(a, b):
    return f"{a / b:.2f}" if b else "-"
print()
print(f"| measure | Outpost | Kamailio + rtpengine | ratio (Outpost / (Kamailio + rtpengine)) |")
print("|---|---|---|---|")
bo, bk = best(o), best(k)
ro, rk = (int(bo["rate"]) if bo else 0), (int(bk["rate"]) if bk else 0)
print(f"| calls/s, highest offered rate with < 1 % failed | {ro} | {rk} | {ratio(ro, rk)} |")
for rate in dict.fromkeys(r["rate"] for r in rows):
    a = next((r for r in rows if r["server"] == o and r["rate"] == rate), None)
    b = next((r for r in rows if r["server"] == k and r["rate"] == rate), None)
    if not a or not b:
        continue
    print(f"| {rate}/s: completed / failed | {a['ok']} / {a['failed']} | {b['ok']} / {b['failed']} | |")
    print(f"| {rate}/s: server CPU s per 1,000 calls | {a['cpu_s_per_1000']} | {b['cpu_s_per_1000']} | {ratio(float(a['cpu_s_per_1000']), float(b['cpu_s_per_1000']))} |")
    print(f"| {rate}/s: PSS per active call (kB) | {a['kB_per_call']} | {b['kB_per_call']} | {ratio(float(a['kB_per_call']), float(b['kB_per_call']))} |")
print(f"| PSS idle (kB) | {rows[0]['idle_pss_kB']} | {next(r['idle_pss_kB'] for r in rows if r['server'] == k)} | |")
PY
