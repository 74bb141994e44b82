#!/usr/bin/env bash
# Benchmark: how fast outside calls move from the cloud trunk to the fallback when the cloud
# dies, and back when it returns, with calls placed all along; and how many calls are lost in
# the switch. A benchmark, not a test: it measures and prints, it never fails on a figure.
#
# On loopback: the box (SIP on 127.0.0.1), the cloud PBX and a fallback provider as sipp UASes
# (tests/sipp/trunk_peer.xml on 127.0.0.2 and 127.0.0.3: they answer OPTIONS probes and calls
# and log both with timestamps), a sipp UAC as phone 101 placing RATE calls/s of HOLD_MS to a
# national number (route: cloud, then fallback). The cloud's sipp is killed after STEADY s and
# started again AFTER_KILL s later. Each health profile is one run (tools/bench/failover/run.py
# has the details):
#   - default:    probe_interval 2, probe_timeout 2, down_after 3, up_after 3, hold_down 30
#   - aggressive: probe_interval 1, probe_timeout 1, down_after 2, up_after 2, hold_down 3
# Figures: from the cloud's last answer (its log's last line) to the first call the fallback
# answered, to the cloud seen down and to survivable mode seen (API polled every 100 ms); from
# the cloud's restart to its first answered probe, up seen, normal mode seen and the first call
# it carried again; calls created / completed / failed (sipp's counts) and the box's CDRs by
# trunk, disposition and legs (legs=2: the cloud was tried first and the call was carried by
# the fallback).
#
# Usage: tools/bench/failover.sh          (about 3 minutes; sipp installed: apt-get install sip-tester)
#   env PROFILES="default aggressive" RATE=5 HOLD_MS=1000 STEADY=8 AFTER_KILL=15 KEEP=1
#       BIN=target/debug/outpost (default: a debug build; the figures are timers, not CPU)
#       RESULTS=failover-results.json
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v sipp >/dev/null || { echo "sipp is needed: apt-get install sip-tester" >&2; exit 1; }
if [ -z "${BIN:-}" ]; then
  cargo build --quiet -p appliance --bin outpost
  BIN=target/debug/outpost
fi
BIN=$(realpath "$BIN") RESULTS=${RESULTS:-$(mktemp -d)/failover-results.json} exec python3 tools/bench/failover/run.py
