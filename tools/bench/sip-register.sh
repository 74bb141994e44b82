#!/usr/bin/env bash
# Benchmark: SIP REGISTER with digest authentication, Outpost beside Kamailio, in one run, on
# loopback. A benchmark, not a test: it measures and prints, it never fails on a figure.
#
# Both registrars serve the same 10,000 users (tenant/domain bench.local, extensions
# 100000-109999, passwords pw-<ext>) over UDP, each pinned to CPU 1 (taskset), with sipp and
# tcpdump on CPU 0. sipp runs tests/sipp/register.xml (REGISTER, 401 with an MD5 challenge,
# REGISTER with credentials, 200) with the users taken in turn, under two kinds of load:
#   - open loop: a fixed offered rate (RATES, registrations/s), max(10,000, rate x MIN_SECS)
#     registrations; the first, slowest, run registers every user, the later ones refresh
#   - closed loop: as fast as the server answers, with at most N registrations outstanding
#     (LIMITS), 60,000 registrations
# The two servers take turns, load by load, so that whatever else runs on the machine hits both.
# sipp gets 4 MiB socket buffers (-buff_size) so that it is not the one dropping answers.
# Measured:
#   - registrations/s: successful sipp calls / elapsed; the summary takes the best run with
#     fewer than 1 % failed calls, of either kind
#   - response times: from a packet capture on lo (µs timestamps; sipp's own are in whole ms),
#     request to final response, for the first REGISTER (-> 401) and the authenticated one
#     (-> 200); compared at LAT_RATE; open-loop runs above CAPTURE_MAX and closed-loop runs go
#     uncaptured (tcpdump would take CPU 0 from sipp)
#   - datagrams dropped at the server's socket (/proc/net/udp), sipp's retransmissions
#   - server CPU: utime + stime of all the server's processes over each run
#   - the server's core busy outside the server (softirq for its packets, other programs): a
#     high figure means something else ran there and the run is suspect
#   - memory: PSS (and RSS) summed over the server's processes, idle and after the first run
#     has registered all 10,000 users; bindings as each server counts them
# Kamailio: tools/bench/kamailio/kamailio.cfg (sl, usrloc in memory, registrar, auth, and
# passwords from an htable loaded from db_text; KAMAILIO_AUTH=db_text for auth_db's lookup in a
# db_text subscriber table instead).
#
# Usage: sudo tools/bench/sip-register.sh          (about 5 minutes)
#   env RATES="1000 2000 4000 8000 16000"    open-loop rates, ascending (the first registers)
#       LIMITS="32 128 512"                  closed-loop outstanding registrations ("" for none)
#       REPEAT=3                             rounds of all of these; the report takes medians
#       MIN_SECS=5                           shortest open-loop run
#       LAT_RATE=2000                        open-loop rate at which response times are compared
#       CAPTURE_MAX=4000                     highest open-loop rate captured
#       KAMAILIO_AUTH=htable|db_text         Kamailio's password lookup (default htable)
#       KEEP=1                               keep the work directory (captures, logs, sipp stats)
set -euo pipefail
cd "$(dirname "$0")/../.."

RATES=${RATES-"1000 2000 4000 8000 16000"}
LIMITS=${LIMITS-"32 128 512"}
REPEAT=${REPEAT:-3}
LAT_RATE=${LAT_RATE:-2000}
MIN_SECS=${MIN_SECS:-5}
CAPTURE_MAX=${CAPTURE_MAX:-4000}
KAMAILIO_AUTH=${KAMAILIO_AUTH:-htable}
USERS=10000
OSIP=15060; OAPI=18453; KSIP=25060; SIPP_PORT=5090
SERVER_CPU=1; LOAD_CPU=0

[ -n "${RATES// /}${LIMITS// /}" ] || { echo "RATES and LIMITS are both empty: nothing to run" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run as root (apt-get, tcpdump): sudo $0" >&2; exit 1; }
for pair in kamailio:kamailio kamcmd:kamailio sipp:sip-tester tcpdump:tcpdump taskset:util-linux curl:curl; do
  command -v "${pair%%:*}" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pair#*:}" </dev/null >/dev/null
done
case $KAMAILIO_AUTH in htable) KDEF=() ;; db_text) KDEF=(-A WITH_AUTH_DB) ;; *) echo "KAMAILIO_AUTH: htable or db_text" >&2; exit 1 ;; esac
for port in $OSIP $KSIP $SIPP_PORT; do
  ! ss -Hlun "sport = :$port" | grep -q . || { echo "UDP port $port is in use" >&2; exit 1; }
done

cargo build --release --quiet -p appliance --bin outpost
BIN=target/release/outpost
WORK=$(mktemp -d)
OPID=; KPID=; TPID=
cleanup() {
  [ -n "$TPID" ] && kill -INT "$TPID" 2>/dev/null || true
  [ -n "$OPID" ] && kill "$OPID" 2>/dev/null || true
  [ -n "$KPID" ] && kill "$KPID" 2>/dev/null || true   # the main process stops its children
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# --- the same users for all three: Outpost's site config, Kamailio's tables, sipp's injection file
mkdir -p "$WORK/kamdb" "$WORK/sipp"
python3 - "$WORK" "$USERS" <<'PY'
import sys
work, n = sys.argv[1], int(sys.argv[2])
users = [(str(100000 + i), f"pw-{100000 + i}") for i in range(n)]
with open(f"{work}/site.toml", "w") as f:
    f.write('schema = 1\n\n[site]\nname = "bench"\n\n[[tenants]]\nname = "bench"\ndomains = ["bench.local"]\n')
    for ext, pw in users:
        f.write(f'\n[[tenants.extensions]]\nnumber = "{ext}"\nsecret = "{pw}"\n')
with open(f"{work}/kamdb/version", "w") as f:
    f.write("id(int,auto) table_name(string) table_version(int)\n1:subscriber:7\n2:htable:2\n")
with open(f"{work}/kamdb/subscriber", "w") as f:
    f.write("id(int,auto) username(string) domain(string) password(string) ha1(string) ha1b(string)\n")
    for i, (ext, pw) in enumerate(users, 1):
        f.write(f"{i}:{ext}:bench.local:{pw}:x:x\n")
with open(f"{work}/kamdb/htable", "w") as f:
    f.write("id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) expires(int)\n")
    for i, (ext, pw) in enumerate(users, 1):
        f.write(f"{i}:{ext}:0:0:{pw}:0\n")
with open(f"{work}/sipp/users.csv", "w") as f:
    f.write("SEQUENTIAL\n")
    for ext, pw in users:
        f.write(f"{ext};bench.local;[authentication username={ext} password={pw}];3600\n")
PY
cp tests/sipp/register.xml "$WORK/sipp/register.xml"

# --- Outpost
cat > "$WORK/outpost.toml" <<CONF
[api]
listen = "127.0.0.1:$OAPI"
[sip]
udp = "127.0.0.1:$OSIP"
tcp = "off"
tls = "off"
digest_algorithms = ["MD5"]     # sipp 3.6 does MD5 only and answers the first challenge
rate_per_second = 1000000.0     # all load comes from 127.0.0.1: lift the per-source limit
burst = 1000000.0
allowlist = ["127.0.0.0/8"]     # and never ban it
[tftp]
listen = "off"
[log]
level = "warn"
CONF
$BIN config check "$WORK/site.toml" >/dev/null
$BIN config apply --data-dir "$WORK/data" "$WORK/site.toml" >/dev/null 2>"$WORK/apply.log"
taskset -c $SERVER_CPU $BIN run --config "$WORK/outpost.toml" --data-dir "$WORK/data" >"$WORK/banner" 2>"$WORK/outpost.log" </dev/null &
OPID=$!
metrics() { curl -sf --cacert "$WORK/data/tls/cert.pem" "https://127.0.0.1:$OAPI/metrics"; }
for _ in $(seq 100); do metrics >/dev/null 2>&1 && break; sleep 0.1; done
metrics >/dev/null || { echo "outpost did not start:" >&2; cat "$WORK/outpost.log" >&2; exit 1; }

# --- Kamailio (shared memory -m 64 MB, private -M 8 MB per process: its defaults, stated)
CTL="unix:$WORK/kamailio_ctl"
mkdir -p "$WORK/run"
taskset -c $SERVER_CPU kamailio -DD -E -m 64 -M 8 -Y "$WORK/run" -f tools/bench/kamailio/kamailio.cfg \
  -A "DBURL=\"text://$WORK/kamdb\"" -A "CTLSOCK=\"$CTL\"" "${KDEF[@]}" >"$WORK/kamailio.log" 2>&1 </dev/null &
KPID=$!
for _ in $(seq 100); do kamcmd -s "$CTL" core.uptime >/dev/null 2>&1 && break; sleep 0.1; done
kamcmd -s "$CTL" core.uptime >/dev/null || { echo "kamailio did not start:" >&2; cat "$WORK/kamailio.log" >&2; exit 1; }

# --- measuring helpers
pids() { if [ "$1" = outpost ]; then echo "$OPID"; else echo "$KPID" $(pgrep -P "$KPID"); fi; }
sum_status() { local t=0 p; for p in $(pids "$1"); do t=$((t + $(awk -v k="$2:" '$1 == k {print $2}' "/proc/$p/${3:-status}"))); done; echo $t; }
rss_kb() { sum_status "$1" VmRSS; }
pss_kb() { sum_status "$1" Pss smaps_rollup; }
cpu_ticks() { local t=0 p; for p in $(pids "$1"); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
bindings() {
  if [ "$1" = outpost ]; then metrics | awk '$1 == "outpost_sip_bindings" {print $2}'
  else kamcmd -s "$CTL" stats.get_statistics usrloc: | awk '$1 == "usrloc:location_contacts" {print $3}'; fi
}
# Datagrams the kernel dropped at the server's UDP socket (receive buffer full)
socket_drops() { awk -v p="$(printf ':%04X' "$(port_of "$1")")" 'index($2, p) == length($2) - 4 {d += $NF} END {print d + 0}' /proc/net/udp; }
# Ticks the server's core spent busy (user, nice, system, irq, softirq, steal), whoever for
core_busy() { awk -v c="cpu$SERVER_CPU" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
port_of() { if [ "$1" = outpost ]; then echo $OSIP; else echo $KSIP; fi; }

shm_used() { kamcmd -s "$CTL" core.shmmem | awk '$1 == "real_used:" {print $2}'; }
printf 'server\tidle_pss\tidle_rss\tidle_shm\n' >"$WORK/idle.tsv"
for s in outpost kamailio; do
  shm=-; [ $s = outpost ] || shm=$(shm_used)
  printf '%s\t%s\t%s\t%s\n' $s "$(pss_kb $s)" "$(rss_kb $s)" "$shm" >>"$WORK/idle.tsv"
done
printf 'server\tpss\trss\tbindings\tshm_used\n' >"$WORK/loaded.tsv"
printf 'server\tmode\tn\tdir\tsipp_rc\twall\tsipp_user\tsipp_sys\tcpu_ticks\tsocket_drops\tother_ticks\n' >"$WORK/runs.tsv"
HZ=$(getconf CLK_TCK)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

run() { # server rate|limit N round: open loop at N registrations/s, or closed loop with N outstanding
  local s=$1 mode=$2 n=$3 dir="$WORK/$4/$1-$2-$3" c0 c1 d0 d1 b0 b1 calls load
  if [ "$mode" = rate ]; then
    calls=$(( n * MIN_SECS > USERS ? n * MIN_SECS : USERS )); load=(-r "$n")
  else
    calls=$(( USERS * 6 )); load=(-r 1000000 -l "$n")
  fi
  mkdir -p "$dir"
  if [ "$mode" = rate ] && [ "$n" -le "$CAPTURE_MAX" ]; then
    : >"$dir/tcpdump.log"
    taskset -c $LOAD_CPU tcpdump -i lo -n -s 1500 -B 65536 --time-stamp-precision=nano \
      -w "$dir/capture.pcap" "udp port $(port_of "$s")" 2>"$dir/tcpdump.log" &
    TPID=$!
    for _ in $(seq 100); do grep -q "listening on" "$dir/tcpdump.log" && break; sleep 0.05; done
  fi
  c0=$(cpu_ticks "$s"); d0=$(socket_drops "$s"); b0=$(core_busy)
  local TIMEFORMAT='%R %U %S' rc=0
  { time (cd "$dir" && taskset -c $LOAD_CPU sipp "127.0.0.1:$(port_of "$s")" -sf "$WORK/sipp/register.xml" \
      -inf "$WORK/sipp/users.csv" -t u1 -i 127.0.0.1 -p $SIPP_PORT -buff_size 4194304 -m $calls "${load[@]}" \
      -timeout 120 -nostdin -trace_stat -fd 3600 -trace_err >/dev/null 2>"$dir/sipp.stderr" </dev/null); } 2>"$dir/time" || rc=$?
  c1=$(cpu_ticks "$s"); d1=$(socket_drops "$s"); b1=$(core_busy)
  if [ -n "$TPID" ]; then sleep 0.2; kill -INT $TPID; wait $TPID 2>/dev/null || true; TPID=; fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$mode" "$n" "$dir" "$rc" "$(tr ' ' '\t' <"$dir/time")" "$((c1 - c0))" "$((d1 - d0))" \
    "$((b1 - b0 - (c1 - c0)))" >>"$WORK/runs.tsv"
}
FIRST=1
LOADS=(); for n in $RATES; do LOADS+=("rate:$n"); done; for n in $LIMITS; do LOADS+=("limit:$n"); done
for round in $(seq "$REPEAT"); do for load in "${LOADS[@]}"; do
  for s in outpost kamailio; do
    run $s "${load%%:*}" "${load#*:}" "$round"
    if [ $FIRST = 1 ]; then
      sleep 1
      shm=-; [ $s = outpost ] || shm=$(shm_used)
      printf '%s\t%s\t%s\t%s\t%s\n' $s "$(pss_kb $s)" "$(rss_kb $s)" "$(bindings $s)" "$shm" >>"$WORK/loaded.tsv"
    fi
  done
  FIRST=0
done; done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report
export LOAD_BEFORE LOAD_AFTER KAMAILIO_AUTH SERVER_CPU LOAD_CPU
export KAMAILIO_VERSION="$(kamailio -v | head -1 | sed 's/version: kamailio //; s/ *$//')" SIPP_VERSION="$(sipp -v 2>&1 | grep -o 'v[0-9.]*' | head -1)"
export OUTPOST_VERSION="$($BIN --version)"
python3 - "$WORK" "$HZ" "$LAT_RATE" "$USERS" <<'PY'
import csv, glob, os, struct, sys
work, hz, lat_rate, users = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
env = os.environ
cpu = open("/proc/cpuinfo").read().split("model name")[1].split(":")[1].split("\n")[0].strip()

def tsv(name):
    return list(csv.DictReader(open(f"{work}/{name}"), delimiter="\t"))

def packets(path):
    f = open(path, "rb"); head = f.read(24)
    nano = struct.unpack("<I", head[:4])[0] == 0xa1b23c4d
    link = struct.unpack("<I", head[20:24])[0]
    skip = {1: 14, 113: 16}.get(link, 0)
    while len(h := f.read(16)) == 16:
        s, frac, incl, _ = struct.unpack("<IIII", h)
        ip = f.read(incl)[skip:]
        if ip and ip[0] >> 4 == 4 and ip[9] == 17:
            yield s + frac / (1e9 if nano else 1e6), ip[(ip[0] & 15) * 4 + 8:]

def latencies(path):
    """µs from each request's first copy to its first final response, by CSeq 1 (-> 401) and 2 (-> 200)."""
    req, resp = {}, {}
    for t, payload in packets(path):
        first, _, rest = payload.decode("latin1").partition("\r\n")
        hdr = {}
        for line in rest.split("\r\n"):
            if not line: break
            k, _, v = line.partition(":"); hdr[k.strip().lower()] = v.strip()
        key = (hdr.get("call-id"), hdr.get("cseq", "").split(" ")[0])
        if first.startswith("SIP/2.0 "):
            if not first[8:9] == "1": resp.setdefault(key, (t, first[8:11]))
        else:
            req.setdefault(key, t)
    out = {}
    for cseq, code in (("1", "401"), ("2", "200")):
        out[code] = sorted((resp[k][0] - t) * 1e6 for k, t in req.items() if k[1] == cseq and resp.get(k, (0, ""))[1] == code)
    return out

def pct(xs, p):
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")

runs = []
for r in tsv("runs.tsv"):
    stat = list(csv.reader(open(glob.glob(f"{r['dir']}/*_.csv")[0]), delimiter=";"))
    last = dict(zip(stat[0], stat[-1]))
    elapsed = float(last["CurrentTime"].split()[-1]) - float(last["StartTime"].split()[-1])
    captured = os.path.exists(f"{r['dir']}/capture.pcap")
    drops = [l for l in open(f"{r['dir']}/tcpdump.log") if "dropped by kernel" in l] if captured else []
    runs.append(dict(server=r["server"], mode=r["mode"], n=r["n"], elapsed=elapsed,
                     ok=int(last["SuccessfulCall(C)"]), failed=int(last["FailedCall(C)"]),
                     cpu=int(r["cpu_ticks"]) / hz, sockdrops=int(r["socket_drops"]), other=int(r["other_ticks"]) / hz,
                     retrans=int(last["Retransmissions(C)"]),
                     sipp_cpu=(float(r["sipp_user"]) + float(r["sipp_sys"])) / float(r["wall"]),
                     lat=latencies(f"{r['dir']}/capture.pcap") if captured else None,
                     drops=int(drops[0].split()[0]) if drops else None))

def median(xs):
    xs = sorted(xs)
    return (xs[(len(xs) - 1) // 2] + xs[len(xs) // 2]) / 2

# One row per server and load: medians over the rounds, sums of counts, response times pooled.
loads = []
for r in runs:
    key = (r["server"], r["mode"], r["n"])
    if key not in [l["key"] for l in loads]:
        rs = [x for x in runs if (x["server"], x["mode"], x["n"]) == key]
        regs = [x["ok"] / x["elapsed"] for x in rs]
        caps = [x["lat"] for x in rs if x["lat"]]
        loads.append(dict(
            key=key, server=key[0], mode=key[1], n=key[2], rounds=len(rs),
            label=f"{key[2]}/s" if key[1] == "rate" else f"closed loop, {key[2]} outstanding",
            ok=sum(x["ok"] for x in rs), failed=sum(x["failed"] for x in rs),
            regs=median(regs), regs_min=min(regs), regs_max=max(regs),
            busy=median([x["cpu"] / x["elapsed"] for x in rs]),
            other=median([max(x["other"], 0) / x["elapsed"] for x in rs]),
            per_cpu=sum(x["ok"] for x in rs) / max(sum(x["cpu"] for x in rs), 1 / hz),
            sipp_cpu=median([x["sipp_cpu"] for x in rs]),
            sockdrops=sum(x["sockdrops"] for x in rs), retrans=sum(x["retrans"] for x in rs),
            lat={c: sorted(v for l in caps for v in l[c]) for c in ("401", "200")} if caps else None,
            drops=sum(x["drops"] for x in rs if x["drops"] is not None) if caps else None))

def side(server):
    ls = [l for l in loads if l["server"] == server]
    good = [l for l in ls if l["failed"] < 0.01 * (l["ok"] + l["failed"])]
    best = max(good, key=lambda l: l["regs"]) if good else None
    at = next((l for l in ls if l["mode"] == "rate" and l["n"] == lat_rate and l["lat"]), None)
    idle = next(r for r in tsv("idle.tsv") if r["server"] == server)
    loaded = next(r for r in tsv("loaded.tsv") if r["server"] == server)
    rs = [r for r in runs if r["server"] == server]
    cpu = sum(r["cpu"] for r in rs)
    return dict(best=best, at=at, idle=idle, loaded=loaded,
                per_cpu=sum(r["ok"] for r in rs) / cpu if cpu else float("nan"))
o, k = side("outpost"), side("kamailio")

def fmt(x, d=0):
    return "-" if x is None or x != x else f"{x:,.{d}f}"
def row(name, a, b, d=0):
    ratio = f"{a / b:.2f}" if a is not None and b and a == a and b == b else "n/a"
    print(f"| {name} | {fmt(a, d)} | {fmt(b, d)} | {ratio} |")

print(f"{env['OUTPOST_VERSION']} and Kamailio {env['KAMAILIO_VERSION']} ({env['KAMAILIO_AUTH']} passwords), "
      f"sipp {env['SIPP_VERSION']}; {os.cpu_count()} x {cpu}; servers on CPU {env['SERVER_CPU']}, sipp and tcpdump "
      f"on CPU {env['LOAD_CPU']}; load average before {env['LOAD_BEFORE']}, after {env['LOAD_AFTER']}")
print()
print("| measure | Outpost | Kamailio | ratio (Outpost / Kamailio) |")
print("|---|---|---|---|")
ob, kb = o["best"], k["best"]
row("authenticated registrations/s, best load with < 1 % failed (median of rounds)", ob and ob["regs"], kb and kb["regs"])
print(f"| ... that load | {ob and ob['label']} | {kb and kb['label']} | |")
busy = lambda l: f"{l['busy']:.0%}" if l else "n/a"
print(f"| ... server CPU busy at that load (of its one core) | {busy(ob)} | {busy(kb)} | |")
row("registrations per server CPU-second at that load", ob and ob["per_cpu"], kb and kb["per_cpu"])
row("registrations per server CPU-second, all runs", o["per_cpu"], k["per_cpu"])
for code, what in (("401", "REGISTER -> 401 challenge"), ("200", "authenticated REGISTER -> 200")):
    for p, pn in ((0.5, "p50"), (0.99, "p99")):
        lat = lambda s: pct(s["at"]["lat"][code], p) if s["at"] else None
        row(f"{what}, {pn} at {lat_rate}/s (µs)", lat(o), lat(k))
row("PSS idle, users loaded (KiB)", int(o["idle"]["idle_pss"]), int(k["idle"]["idle_pss"]))
row(f"PSS with {users:,} bindings (KiB)", int(o["loaded"]["pss"]), int(k["loaded"]["pss"]))
row(f"RSS with {users:,} bindings, summed over processes (KiB)", int(o["loaded"]["rss"]), int(k["loaded"]["rss"]))
bpb = lambda s: (int(s["loaded"]["pss"]) - int(s["idle"]["idle_pss"])) * 1024 / users
row("bytes per binding (PSS growth / bindings)", bpb(o), bpb(k))
num = lambda v: int(v) if v.strip().isdigit() else None
row("bindings counted by the server", num(o["loaded"]["bindings"]), num(k["loaded"]["bindings"]))
print()
shm0, shm = num(k["idle"]["idle_shm"]), num(k["loaded"]["shm_used"])
if shm0 and shm:
    print(f"Kamailio's own count of its shared memory (core.shmmem real_used, of the 64 MiB it maps at start): "
          f"{shm0 / 1024:,.0f} KiB idle, {shm / 1024:,.0f} KiB with {users:,} bindings, "
          f"{(shm - shm0) / users:,.0f} bytes per binding")
print()
print(f"Per server and load, over {max(l['rounds'] for l in loads)} round(s): registrations/s and CPU as medians "
      "(with the range), counts summed, response times pooled. \"CPU 1 busy otherwise\": the server's core busy "
      "outside the server's processes (softirq for its packets, and anything else that ran there).")
print()
print("| server | load | ok | failed | registrations/s (min-max) | server CPU | per CPU-second | sipp CPU | "
      "401 p50 / p99 µs | 200 p50 / p99 µs | drops at server socket | sipp retransmissions | CPU 1 busy otherwise |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for l in loads:
    lat = lambda c, p: fmt(pct(l["lat"][c], p)) if l["lat"] else "-"
    print(f"| {l['server']} | {l['label']} | {l['ok']} | {l['failed']} | "
          f"{l['regs']:,.0f} ({l['regs_min']:,.0f}-{l['regs_max']:,.0f}) | {l['busy']:.0%} | {l['per_cpu']:,.0f} | "
          f"{l['sipp_cpu']:.0%} | {lat('401', .5)} / {lat('401', .99)} | {lat('200', .5)} / {lat('200', .99)} | "
          f"{l['sockdrops']} | {l['retrans']} | {l['other']:.0%} |")
captured = [l["drops"] for l in loads if l["drops"] is not None]
print()
print(f"Packets the capture itself lost: {sum(captured)}" if captured else "No packet capture.")
PY
