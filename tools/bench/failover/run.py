#!/usr/bin/env python3
"""Failover and fail-back times of Outpost's trunks, measured on loopback with sipp peers.

Driven by tools/bench/failover.sh (read its header). One run per health profile:

  1. A box (the given `outpost` binary) with tenant `bench`: extension 101, trunks `cloud`
     (role cloud, a sipp UAS on 127.0.0.2) and `fallback` (a sipp UAS on 127.0.0.3), both
     tests/sipp/trunk_peer.xml (they answer OPTIONS and calls, and log each with a
     timestamp), and the route `0Z.` -> cloud, then fallback.
  2. Once both trunks are up, a sipp UAC (tests/sipp/trunk_short_call_uac.xml) places RATE
     calls/s to 0301234567, each HOLD_MS long, all through the run.
  3. After STEADY s the cloud's sipp is killed. Times are taken from the cloud's last answer
     (the last line of its log) to: the first call the fallback answered, the cloud seen
     `down` in GET /api/v1/trunks/status, survivable mode seen in GET /api/v1/survivable
     (the API is polled every 100 ms).
  4. AFTER_KILL s later the cloud is started again. Times from its restart to: its first
     answered probe, `up` seen, normal mode seen, the first call it answered again.
     Calls count as routed to the cloud again from the first INVITE it answers after it is
     seen up; INVITEs it gets before that are counted apart (stale_invites_to_the_returning_cloud):
     retransmissions of INVITEs of calls that moved to the fallback while it was dead.
     RATE=0: no calls at all (detection by the probes alone).
  5. The UAC is told to stop (SIGUSR1: no new calls, finish those up) and its counts are
     read (sipp's -trace_stat file); the box's CDRs are counted by trunk, disposition and legs
     (legs 2 = tried on the cloud first, carried by the fallback).

Prints one block per profile and writes RESULTS (JSON) for the docs.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import ssl

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SIPP = os.path.join(ROOT, "tests", "sipp")

PROFILES = {
    # The defaults of the site config (TrunkHealth::default): no [tenants.trunks.health] table.
    "default": None,
    "aggressive": dict(probe_interval=1, probe_timeout=1, down_after=2, up_after=2, hold_down=3),
}


def free_port(kind=socket.SOCK_DGRAM, ip="127.0.0.1"):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def free_sip_port():
    while True:
        port = free_port()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue


def free_block(ip):
    """SIP port, a gap, RTP and RTCP (and sipp's echo ports): four free UDP ports in a row."""
    while True:
        base = free_port(ip=ip)
        if base > 60000:
            continue
        held = []
        try:
            for p in range(base, base + 6):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((ip, p))
                held.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()


def health_toml(h):
    if h is None:
        return ""
    return "[tenants.trunks.health]\n" + "".join(f"{k} = {v}\n" for k, v in h.items())


class Box:
    def __init__(self, work, binary, health):
        self.work = work
        self.api_port = free_port(socket.SOCK_STREAM)
        self.sip_port = free_sip_port()
        self.cloud = ("127.0.0.2", free_block("127.0.0.2"))
        self.fallback = ("127.0.0.3", free_block("127.0.0.3"))
        site = f"""schema = 1
[site]
name = "bench"

[[tenants]]
name = "bench"
domains = ["bench.local"]

[[tenants.extensions]]
number = "101"
secret = "bench-caller-101"

[[tenants.trunks]]
name = "cloud"
role = "cloud"
host = "{self.cloud[0]}"
port = {self.cloud[1]}
transport = "udp"
max_channels = 200
{health_toml(health)}
[[tenants.trunks]]
name = "fallback"
role = "fallback"
host = "{self.fallback[0]}"
port = {self.fallback[1]}
transport = "udp"
max_channels = 200
{health_toml(health)}
[[tenants.outbound_routes]]
name = "national"
pattern = "0Z."
trunks = ["cloud", "fallback"]
"""
        config = f"""data_dir = "{work}/box"
[api]
listen = "127.0.0.1:{self.api_port}"
[sip]
udp = "127.0.0.1:{self.sip_port}"
tcp = "off"
tls = "off"
digest_algorithms = ["MD5"]
allowlist = ["127.0.0.0/8"]
[tftp]
listen = "off"
[daemon]
shutdown_timeout_secs = 5
"""
        with open(f"{work}/site.toml", "w") as f:
            f.write(site)
        with open(f"{work}/outpost.toml", "w") as f:
            f.write(config)
        subprocess.run([binary, "config", "apply", "--config", f"{work}/outpost.toml", f"{work}/site.toml"],
                       check=True, stdout=subprocess.DEVNULL)
        self.out = open(f"{work}/outpost.out", "w")
        self.log = open(f"{work}/outpost.log", "w")
        self.proc = subprocess.Popen([binary, "run", "--config", f"{work}/outpost.toml"], stdout=self.out,
                                     stderr=self.log, stdin=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "info"})
        password = None
        for _ in range(200):
            text = open(f"{work}/outpost.out").read()
            if "Admin login: admin / " in text:
                password = text.split("Admin login: admin / ")[1].split()[0]
                break
            time.sleep(0.1)
        if password is None:
            raise SystemExit("outpost did not start: see " + f"{work}/outpost.log")
        self.ctx = ssl.create_default_context(cafile=f"{work}/box/tls/cert.pem")
        self.token = None
        token = self.call("POST", "/api/v1/login", {"username": "admin", "password": password})["token"]
        self.token = token
        self.call("POST", "/api/v1/password", {"current": password, "new": "bench-admin-password"}, raw=True)
        self.token = self.call("POST", "/api/v1/login", {"username": "admin", "password": "bench-admin-password"})["token"]

    def call(self, method, path, body=None, raw=False):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"https://127.0.0.1:{self.api_port}{path}", data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
            text = r.read()
        return text if raw else json.loads(text)

    def state(self, trunk):
        rows = self.call("GET", "/api/v1/trunks/status")
        return next(r["state"] for r in rows if r["name"] == trunk)

    def survivable(self):
        return self.call("GET", "/api/v1/survivable")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Peer:
    def __init__(self, work, name, addr):
        self.work, self.name, (self.ip, self.port) = work, name, addr
        self.runs = 0
        self.proc = None

    def log_path(self, run):
        return f"{self.work}/{self.name}-{run}.log"

    def start(self):
        self.runs += 1
        self.proc = subprocess.Popen(
            ["sipp", "-sf", f"{SIPP}/trunk_peer.xml", "-i", self.ip, "-p", str(self.port), "-mi", self.ip,
             "-mp", str(self.port + 2), "-rtp_echo", "-nostdin", "-timeout", "900", "-trace_logs", "-log_file",
             self.log_path(self.runs), "-trace_err", "-error_file", f"{self.work}/{self.name}-{self.runs}-errors.log"],
            cwd=self.work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.started = time.time()

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.killed = time.time()
        self.proc = None

    def lines(self, run=None):
        runs = [run] if run else range(1, self.runs + 1)
        out = []
        for r in runs:
            try:
                out += open(self.log_path(r)).read().splitlines()
            except FileNotFoundError:
                pass
        return out

    def times(self, what, run=None):
        """Unix times of the answered INVITEs or OPTIONS (the last field of sipp's [timestamp])."""
        return [float(l.split()[-1]) for l in self.lines(run) if l.startswith(f"answered {what}")]

    def last_answer(self):
        return max(self.times("INVITE", self.runs) + self.times("OPTIONS", self.runs))


def poll(what, bound, probe):
    deadline = time.time() + bound
    while time.time() < deadline:
        v = probe()
        if v:
            return time.time()
        time.sleep(0.1)
    print(f"  ! {what}: not seen within {bound} s", file=sys.stderr)
    return None


def first_after(times, t):
    later = [x for x in times if x > t]
    return min(later) if later else None


def stat_counts(path):
    """Last line of sipp's -trace_stat file: created, successful, failed (cumulative)."""
    with open(path) as f:
        rows = [l.rstrip("\n").split(";") for l in f if l.strip()]
    head, last = rows[0], rows[-1]
    get = lambda name: int(last[head.index(name)])
    return get("TotalCallCreated"), get("SuccessfulCall(C)"), get("FailedCall(C)")


def run(profile, binary, rate, hold_ms, steady, after_kill, keep):
    work = tempfile.mkdtemp(prefix=f"failover-{profile}-")
    health = PROFILES[profile]
    box = Box(work, binary, health)
    cloud, fallback = Peer(work, "cloud", box.cloud), Peer(work, "fallback", box.fallback)
    uac = None
    result = {"profile": profile, "health": health or "defaults (2/2/3/3/30)", "rate": rate, "hold_ms": hold_ms}
    try:
        cloud.start()
        fallback.start()
        for t in ("cloud", "fallback"):
            if not poll(f"{t} up", 30, lambda: box.state(t) == "up"):
                raise SystemExit(f"trunk {t} never came up; see {work}")
        with open(f"{work}/uac.csv", "w") as f:
            f.write("SEQUENTIAL\n101;bench.local;[authentication username=101 password=bench-caller-101];600\n")
        uac_port = free_block("127.0.0.1")
        uac = None if rate == 0 else subprocess.Popen(
            ["sipp", f"127.0.0.1:{box.sip_port}", "-sf", f"{SIPP}/trunk_short_call_uac.xml", "-inf", "uac.csv",
             "-s", "0301234567", "-i", "127.0.0.1", "-p", str(uac_port), "-mi", "127.0.0.1", "-mp", str(uac_port + 2),
             "-r", str(rate), "-d", str(hold_ms), "-l", str(rate * 20), "-m", str(rate * 1000), "-timeout", "900",
             "-nostdin", "-trace_stat", "-stf", "uac_stat.csv", "-fd", "1", "-trace_err", "-error_file",
             "uac_errors.log"],
            cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(steady)

        cloud.kill()
        t_kill = cloud.killed
        t_last = cloud.last_answer()
        t_down = poll("cloud down", 120, lambda: box.state("cloud") == "down")
        t_surv = poll("survivable", 120, lambda: box.survivable()["survivable"])
        if uac:
            poll("a call on the fallback", 60, lambda: first_after(fallback.times("INVITE"), t_kill))
        t_fb = first_after(fallback.times("INVITE"), t_kill)
        time.sleep(max(0.0, after_kill - (time.time() - t_kill)))

        cloud.start()
        t_restart = cloud.started
        bound = (health or {}).get("hold_down", 30) + 120
        t_up = poll("cloud up", bound, lambda: box.state("cloud") == "up")
        t_normal = poll("normal mode", bound, lambda: not box.survivable()["survivable"])
        # Calls routed to the cloud again: INVITEs it got once it was up. Those it got before
        # (while the box still counted it down) are retransmissions of INVITEs of calls that
        # had moved to the fallback while it was dead.
        if uac:
            poll("a call on the cloud again", 60, lambda: first_after(cloud.times("INVITE", cloud.runs), t_up or 0))
        t_probe = min(cloud.times("OPTIONS", cloud.runs), default=None)
        t_cloud = first_after(cloud.times("INVITE", cloud.runs), t_up or 0)
        stale = len([t for t in cloud.times("INVITE", cloud.runs) if t_up is None or t < t_up])
        time.sleep(3)

        created = ok = failed = 0
        if uac:
            uac.send_signal(signal.SIGUSR1)  # sipp: no new calls, exit when those up are done
            try:
                uac.wait(60)
            except subprocess.TimeoutExpired:
                uac.kill()
            created, ok, failed = stat_counts(f"{work}/uac_stat.csv")
        cdrs = box.call("GET", "/api/v1/cdrs?limit=100000")
        by = {}
        for c in cdrs:
            key = (c.get("trunk") or "-", c["disposition"], c["legs"])
            by[key] = by.get(key, 0) + 1
        events = box.survivable()["events"]
        rel = lambda t, t0: None if t is None or t0 is None else round(t - t0, 2)
        result.update({
            "cloud_last_answer_to_first_fallback_call_s": rel(t_fb, t_last),
            "cloud_last_answer_to_down_seen_s": rel(t_down, t_last),
            "cloud_last_answer_to_survivable_seen_s": rel(t_surv, t_last),
            "kill_after_last_answer_s": rel(t_kill, t_last),
            "restart_to_first_probe_answered_s": rel(t_probe, t_restart),
            "restart_to_up_seen_s": rel(t_up, t_restart),
            "restart_to_normal_seen_s": rel(t_normal, t_restart),
            "restart_to_first_cloud_call_s": rel(t_cloud, t_restart),
            "stale_invites_to_the_returning_cloud": stale,
            "calls_created": created, "calls_ok": ok, "calls_failed": failed,
            "cdrs": {f"{k[0]}/{k[1]}/legs={k[2]}": v for k, v in sorted(by.items())},
            "events": [f"{e['at']} {e.get('trunk') or 'site'} {e['kind']}: {e['reason']}" for e in events],
            "work": work,
        })
    finally:
        if uac and uac.poll() is None:
            uac.kill()
        for p in (cloud, fallback):
            if p.proc:
                p.kill()
        box.stop()
        if not keep:
            subprocess.run(["rm", "-rf", work])
    return result


def main():
    binary = os.environ["BIN"]
    rate = int(os.environ.get("RATE", "5"))
    hold_ms = int(os.environ.get("HOLD_MS", "1000"))
    steady = float(os.environ.get("STEADY", "8"))
    after_kill = float(os.environ.get("AFTER_KILL", "15"))
    keep = bool(os.environ.get("KEEP"))
    out = os.environ.get("RESULTS", "failover-results.json")
    results = []
    for profile in os.environ.get("PROFILES", "default aggressive").split():
        print(f"== {profile}: {PROFILES[profile] or 'the defaults'}; {rate} calls/s of {hold_ms} ms", flush=True)
        r = run(profile, binary, rate, hold_ms, steady, after_kill, keep)
        results.append(r)
        for k, v in r.items():
            if k not in ("events", "profile"):
                print(f"  {k}: {v}")
        for e in r["events"]:
            print(f"  event {e}")
    with open(out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"results in {out}")


if __name__ == "__main__":
    main()
