#!/usr/bin/env bash
# Benchmark: the box's HTTPS API beside nginx, in one run, on loopback.
#
# Both serve over TLS with the same self-signed certificate (the box's), HTTP/1.1 keep-alive,
# loaded by wrk with the same connections and threads:
#   - outpost: GET /api/v1/health (a SQLite read and a JSON answer)
#   - nginx:   GET /health.json, a static file of the same answer
# Also: `outpost config apply` of a 3000-extension document (wall time, peak RSS), and each
# server's resident memory after the load.
# Usage: tools/bench/https-api.sh [seconds]    (needs root for apt: nginx-light, wrk)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
for tool in nginx wrk; do command -v $tool >/dev/null || apt-get install -y -qq nginx-light wrk </dev/null; done

cargo build --release -p appliance --bin outpost >/dev/null 2>&1
BIN=target/release/outpost
WORK=$(mktemp -d)
# nginx workers run unprivileged: they must be able to read the file (mktemp -d is 0700).
chmod 755 "$WORK"
trap 'kill $(cat $WORK/outpost.pid 2>/dev/null) 2>/dev/null || true; nginx -c $WORK/nginx.conf -s stop 2>/dev/null || true; rm -rf $WORK' EXIT

OPORT=18443; NPORT=18444
cat > $WORK/outpost.toml <<CONF
data_dir = "$WORK/data"
[api]
listen = "127.0.0.1:$OPORT"
[sip]
udp = "off"
tcp = "off"
tls = "off"
[tftp]
listen = "off"
[log]
level = "warn"
CONF
$BIN run --config $WORK/outpost.toml > $WORK/banner 2>$WORK/log & echo $! > $WORK/outpost.pid
for _ in $(seq 50); do [ -s $WORK/banner ] && grep -q "Admin login" $WORK/banner && break; sleep 0.1; done
curl -s --cacert $WORK/data/tls/cert.pem https://127.0.0.1:$OPORT/api/v1/health > $WORK/health.json

mkdir -p $WORK/www && cp $WORK/health.json $WORK/www/health.json
cat > $WORK/nginx.conf <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$NPORT ssl;
    ssl_certificate $WORK/data/tls/cert.pem;
    ssl_certificate_key $WORK/data/tls/key.pem;
    location / { root $WORK/www; }
  }
}
CONF
nginx -c $WORK/nginx.conf

rate() { wrk -t2 -c32 -d${SECS}s "$1" | awk '/Requests\/sec/ {print $2}'; }
rss_kb() { awk '/VmRSS/ {print $2}' /proc/$1/status; }
O=$(rate https://127.0.0.1:$OPORT/api/v1/health)
N=$(rate https://127.0.0.1:$NPORT/health.json)
ORSS=$(rss_kb $(cat $WORK/outpost.pid))
NRSS=0; for p in $(pgrep -f "nginx: worker process" ; cat $WORK/nginx.pid); do NRSS=$((NRSS + $(rss_kb $p))); done

python3 - "$WORK" <<'PY'
import sys, tomllib
src = open("examples/site.toml").read()
extra = "".join(f'\n[[tenants.extensions]]\nnumber = "{20000+n}"\nname = "bench {n}"\nsecret = "bench-secret-{n}"\n' for n in range(3000))
# append extensions to the last tenant (bright), which is the last [[tenants]] before dhcp_scopes
head, tail = src.split("[[dhcp_scopes]]", 1)
open(sys.argv[1] + "/big.toml", "w").write(head + extra + "\n[[dhcp_scopes]]" + tail)
PY
APPLY=$( { /usr/bin/time -f "%e %M" $BIN config apply --data-dir $WORK/apply $WORK/big.toml >/dev/null; } 2>&1 | tail -1)

echo "| measure | outpost | nginx | ratio (outpost / nginx) |"
echo "|---|---|---|---|"
echo "| HTTPS requests/s (wrk -t2 -c32 -d${SECS}s) | $O | $N | $(python3 -c "print(f'{$O/$N:.2f}')") |"
echo "| resident memory after load (KiB) | $ORSS | $NRSS | $(python3 -c "print(f'{$ORSS/$NRSS:.2f}')") |"
echo
echo "config apply of 3005 extensions: $(echo $APPLY | cut -d' ' -f1) s wall, peak RSS $(echo $APPLY | cut -d' ' -f2) KiB"
