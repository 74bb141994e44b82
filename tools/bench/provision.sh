#!/usr/bin/env bash
# Benchmark: provisioning. A benchmark, not a test: it measures and prints, never fails on a figure.
#
# 1. TFTP throughput, Outpost beside tftp-hpa (in.tftpd) on the same file: Outpost's Yealink
#    bootstrap is fetched from Outpost once and copied into in.tftpd's directory, then
#    `phone-sim tftp-load` fetches it from PARALLEL clients for SECONDS from each server in turn.
# 2. A provisioning storm: PHONES phone-sim phones of all seven vendors cold-boot at once
#    (TFTP bootstrap -> HTTPS device file -> REGISTER with the account found in it, PARALLEL_BOOT
#    at a time) against a box whose site lists them all; the time until the last one is
#    registered. Without DHCP (loopback); the DHCP step is measured by tools/bench/dhcp.sh.
#
# Usage: sudo tools/bench/provision.sh      (as root: installs tftpd-hpa with apt if missing)
#   env PHONES=1000 PARALLEL_BOOT=1000 PARALLEL=8 SECONDS_EACH=5 KEEP=1
set -euo pipefail
cd "$(dirname "$0")/../.."

PHONES=${PHONES:-1000}
PARALLEL_BOOT=${PARALLEL_BOOT:-1000}
PARALLEL=${PARALLEL:-8}
SECONDS_EACH=${SECONDS_EACH:-5}

command -v in.tftpd >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tftpd-hpa </dev/null; }
# The Debian package starts a system tftpd on port 69: this benchmark uses its own ports.
systemctl stop tftpd-hpa 2>/dev/null || true

cargo build --release -p appliance --bin outpost -p tools --bin phone-sim >/dev/null 2>&1
OUTPOST=target/release/outpost
SIM=target/release/phone-sim
WORK=$(mktemp -d)
chmod 755 "$WORK"
cleanup() {
  kill "$(cat "$WORK/outpost.pid" 2>/dev/null)" 2>/dev/null || true
  kill "$(cat "$WORK/tftpd.pid" 2>/dev/null)" 2>/dev/null || true
  if [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

API=18443 SIP=15060 TFTP=16969 HPA=16970
python3 - "$PHONES" > "$WORK/site.toml" <<'EOF'
import sys
n = int(sys.argv[1])
vendors = ["yealink", "poly", "cisco", "grandstream", "fanvil", "snom", "gigaset"]
ouis = {"yealink": "80:5e:c0", "poly": "00:04:f2", "cisco": "00:1e:7a", "grandstream": "00:0b:82",
        "fanvil": "0c:38:3e", "snom": "00:04:13", "gigaset": "7c:2f:80"}
print('schema = 1\n[site]\nname = "bench"\n[[tenants]]\nname = "bench"\ndomains = ["bench.local"]')
for i in range(n):
    print(f'[[tenants.extensions]]\nnumber = "{100000 + i}"\nsecret = "pw-{100000 + i}-storm"')
for i in range(n):
    v = vendors[i % len(vendors)]
    b = i.to_bytes(3, "big")
    print(f'[[tenants.devices]]\nmac = "{ouis[v]}:{b[0]:02x}:{b[1]:02x}:{b[2]:02x}"\nvendor = "{v}"\nextension = "{100000 + i}"')
EOF
cat > "$WORK/outpost.toml" <<EOF
data_dir = "$WORK/data"
[log]
level = "warn"
[api]
listen = "127.0.0.1:$API"
[sip]
udp = "127.0.0.1:$SIP"
tcp = "off"
tls = "off"
rate_per_second = 1000000.0
burst = 1000000.0
allowlist = ["127.0.0.0/8"]
[tftp]
listen = "127.0.0.1:$TFTP"
[provision]
allowlist = ["127.0.0.0/8"]
EOF
"$OUTPOST" config apply "$WORK/site.toml" --config "$WORK/outpost.toml" >/dev/null
"$OUTPOST" run --config "$WORK/outpost.toml" > "$WORK/outpost.out" 2> "$WORK/outpost.log" &
echo $! > "$WORK/outpost.pid"
for _ in $(seq 100); do grep -q "is running" "$WORK/outpost.out" 2>/dev/null && break; sleep 0.1; done

# 1. TFTP: the same bytes from both servers.
mkdir -p "$WORK/tftproot"
tftp -m binary 127.0.0.1 $TFTP -c get y000000000000.cfg "$WORK/tftproot/y000000000000.cfg"
chmod 644 "$WORK/tftproot/y000000000000.cfg"
in.tftpd -L -s "$WORK/tftproot" -a 127.0.0.1:$HPA -u nobody &
echo $! > "$WORK/tftpd.pid"
sleep 0.3
size=$(stat -c %s "$WORK/tftproot/y000000000000.cfg")
load() { "$SIM" tftp-load --server "127.0.0.1:$1" --file y000000000000.cfg --parallel "$PARALLEL" --seconds "$SECONDS_EACH"; }
o=$(load $TFTP); h=$(load $HPA); o2=$(load $TFTP); h2=$(load $HPA)
rate() { echo "$1" | sed -n 's/.* per_second \([0-9]*\) bytes.*/\1/p'; }
best() { [ "$1" -gt "$2" ] && echo "$1" || echo "$2"; }
O=$(best "$(rate "$o")" "$(rate "$o2")"); H=$(best "$(rate "$h")" "$(rate "$h2")")
echo "| measure | outpost | tftp-hpa | ratio (outpost / tftp-hpa) |"
echo "|---|---|---|---|"
echo "| TFTP fetches/s of a $size-byte file, $PARALLEL clients, best of 2 x ${SECONDS_EACH}s | $O | $H | $(python3 -c "print(f'{$O/$H:.2f}')") |"
echo "(raw: outpost [$o] [$o2]; tftp-hpa [$h] [$h2])"

# 2. The storm.
rss_before=$(awk '/VmRSS/ {print $2}' /proc/"$(cat "$WORK/outpost.pid")"/status)
start=$(date +%s.%N)
"$SIM" boot --vendors yealink,poly,cisco,grandstream,fanvil,snom,gigaset --count "$PHONES" \
  --parallel "$PARALLEL_BOOT" --cacert "$WORK/data/tls/cert.pem" --tftp 127.0.0.1:$TFTP \
  > "$WORK/storm.out" 2> "$WORK/storm.err" || true
end=$(date +%s.%N)
rss_after=$(awk '/VmRSS/ {print $2}' /proc/"$(cat "$WORK/outpost.pid")"/status)
tail -n 1 "$WORK/storm.out"
head -n 5 "$WORK/storm.err"
echo "storm: $PHONES phones, $PARALLEL_BOOT at once: $(python3 -c "print(f'{$end-$start:.2f}')") s until the last registered; box RSS ${rss_before} -> ${rss_after} KiB"
