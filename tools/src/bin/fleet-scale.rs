//! `fleet-scale`: the fleet-scale benchmark's load (tools/bench/fleet-scale.sh, issue 7).
//!
//! Plays `--boxes` simulated box agents in one process (one tokio runtime, one rumqttc
//! connection each, MQTT 3.1.1 like the box) against a running `outpost-fleet` and its broker,
//! and measures one config change pushed to every box through the fleet's REST API.
//!
//! Each agent speaks the real protocol with the `cloud-sync` types: client id = username = its
//! box id, `clean_session = false`, last will `status` offline (retained); on each connect it
//! subscribes to its `config/desired`, publishes `status` online (retained) and a hello report;
//! on each desired document it checks the base revision like a box does (applying is bumping its
//! in-memory revision), and publishes `config/reported` with the outcome.
//!
//! Phases, each timed, with the CPU time (utime + stime) of `--fleet-pid` and `--broker-pid`:
//! 1. connect: all agents connected, subscribed, and their hello reports seen by the observer;
//! 2. config round: one `POST /api/v1/boxes/<id>/config` per box (`--pushers` in parallel);
//!    per box, from its POST to its `applied` report reaching the observer (a client
//!    subscribed as the fleet user to `outpost/v1/+/config/reported`), then a check that the
//!    fleet stored every report (`GET /api/v1/boxes/<id>`). Without an observer
//!    (`--observer-user` not given) the API is polled instead, which costs the fleet CPU;
//! 3. chunk throughput: `--chunk-agents` agents each publish `--chunks` messages of 128 KiB
//!    (QoS 1) on `outpost/v1/<id>/backup/bench/<n>`; bytes / (first publish → last one at the
//!    observer), and → last PUBACK at the publishers. This is raw broker throughput of
//!    backup-sized chunks, not a backup through the fleet service.
//!
//! Passwords come from the environment, never the command line: `$OUTPOST_BOX_PASSWORD` (every
//! simulated box), `$OUTPOST_FLEET_PASSWORD` (the observer), `$OUTPOST_FLEET_ADMIN_PASSWORD`
//! (the API login; without it the API is called without a token). The figures are printed on
//! stderr as they come and as one JSON object on stdout at the end.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::Parser;
use cloud_sync::{decode, encode, BoxId, BoxState, Desired, Outcome, Reported, Status, Topic};
use rumqttc::{AsyncClient, Event, EventLoop, LastWill, MqttOptions, Packet, QoS};
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(about = "Fleet-scale benchmark: simulated box agents against outpost-fleet and its broker")]
struct Args {
    /// Where the boxes connect: mqtt://host:port.
    #[arg(long)]
    mqtt: String,
    /// The fleet's REST API: http://host:port (the `outpost-fleet API on` line).
    #[arg(long)]
    api: String,
    #[arg(long, default_value_t = 1000)]
    boxes: usize,
    /// Box ids are `<prefix>-<n>` (n zero-padded to 4 digits).
    #[arg(long, default_value = "bench")]
    prefix: String,
    /// The observer's broker username (the fleet's, which may read every box's topics); its
    /// password is $OUTPOST_FLEET_PASSWORD. Without it the API is polled for the reports.
    #[arg(long)]
    observer_user: Option<String>,
    /// The operator name for `POST /api/v1/login` (password $OUTPOST_FLEET_ADMIN_PASSWORD).
    #[arg(long, default_value = "admin")]
    admin: String,
    /// The fleet service's process (CPU time and memory).
    #[arg(long)]
    fleet_pid: Option<u32>,
    /// The broker's process, when it is not inside the fleet service.
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Clock ticks per second of /proc/<pid>/stat (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
    /// Agents connecting at once (the next batch starts when one is connected).
    #[arg(long, default_value_t = 100)]
    connect_batch: usize,
    /// Parallel POSTs of the config round.
    #[arg(long, default_value_t = 8)]
    pushers: usize,
    /// Extensions in the pushed site config (its size).
    #[arg(long, default_value_t = 20)]
    extensions: usize,
    /// Agents publishing 128 KiB chunks in the throughput phase (0: skip it).
    #[arg(long, default_value_t = 10)]
    chunk_agents: usize,
    /// Chunks each of them publishes.
    #[arg(long, default_value_t = 20)]
    chunks: usize,
    /// Seconds each phase may take before the benchmark gives up on it.
    #[arg(long, default_value_t = 180)]
    timeout: u64,
    /// A name for the JSON printed at the end.
    #[arg(long, default_value = "fleet")]
    label: String,
}

const CHUNK: usize = cloud_sync::backup::CHUNK_SIZE;
const VERSION: &str = "fleet-scale";
const BOOT_SEQ: u64 = 1;
/// The simulated boxes' site revision before the push.
const START_REVISION: u64 = 1;

/// What happened to one box, as instants of this process's clock.
#[derive(Debug, Default, Clone)]
struct Times {
    connected: Option<Instant>,
    subscribed: bool,
    hello_seen: bool,
    /// The POST of its config change was sent, and what it answered.
    push: Option<Instant>,
    pushed_revision: Option<u64>,
    /// The agent received the desired document and published its report.
    desired: Option<Instant>,
    reported: Option<Instant>,
    /// Its `applied` report reached the observer (or the API, when polled).
    seen: Option<Instant>,
    seen_revision: Option<u64>,
    stored: bool,
}

struct Shared {
    times: Mutex<Vec<Times>>,
    index: HashMap<String, usize>,
    /// MQTT errors seen by the agents (each is a reconnect), and PUBACKs they received.
    errors: AtomicUsize,
    pubacks: AtomicU64,
    /// Bytes and messages of chunks that reached the observer, and when the last did.
    chunk_bytes: AtomicU64,
    chunk_msgs: AtomicU64,
    last_chunk: Mutex<Option<Instant>>,
}

impl Shared {
    fn times(&self) -> MutexGuard<'_, Vec<Times>> {
        // A panicking agent task must not hide the others' figures.
        self.times.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, f: impl Fn(&Times) -> bool) -> usize {
        self.times().iter().filter(|t| f(t)).count()
    }
}

fn parse_mqtt(url: &str) -> anyhow::Result<(String, u16)> {
    let rest = url.strip_prefix("mqtt://").ok_or_else(|| anyhow!("--mqtt `{url}`: use mqtt://host:port"))?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(|| anyhow!("--mqtt `{url}`: no port"))?;
    Ok((host.to_owned(), port.parse().with_context(|| format!("--mqtt `{url}`: bad port"))?))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// CPU seconds (all threads) and memory (KiB) of a process, from /proc.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    cpu: f64,
    rss_kib: u64,
    hwm_kib: u64,
}

fn usage(pid: Option<u32>, clk_tck: u64) -> Option<Usage> {
    let pid = pid?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields count from after its closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Some(Usage { cpu: ticks as f64 / clk_tck.max(1) as f64, rss_kib: kib("VmRSS:"), hwm_kib: kib("VmHWM:") })
}

/// Usage of the fleet service, the broker and this process at one instant.
#[derive(Debug, Clone, Copy)]
struct Snapshot {
    at: Instant,
    fleet: Option<Usage>,
    broker: Option<Usage>,
    me: Option<Usage>,
}

fn snapshot(args: &Args) -> Snapshot {
    Snapshot {
        at: Instant::now(),
        fleet: usage(args.fleet_pid, args.clk_tck),
        broker: usage(args.broker_pid, args.clk_tck),
        me: usage(Some(std::process::id()), args.clk_tck),
    }
}

fn cpu_between(a: &Snapshot, b: &Snapshot) -> Value {
    let d = |x: Option<Usage>, y: Option<Usage>| match (x, y) {
        (Some(x), Some(y)) => json!(((y.cpu - x.cpu) * 1000.0).round() / 1000.0),
        _ => Value::Null,
    };
    json!({
        "secs": b.at.duration_since(a.at).as_secs_f64(),
        "fleet_cpu_s": d(a.fleet, b.fleet),
        "broker_cpu_s": d(a.broker, b.broker),
        "agents_cpu_s": d(a.me, b.me),
    })
}

fn mem(u: Option<Usage>) -> Value {
    u.map_or(Value::Null, |u| json!({"rss_kib": u.rss_kib, "hwm_kib": u.hwm_kib}))
}

fn box_options(id: &BoxId, host: &str, port: u16, password: &str) -> MqttOptions {
    let mut o = MqttOptions::new(id.as_str(), host, port);
    o.set_credentials(id.as_str(), password);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_clean_session(false);
    o.set_max_packet_size(1024 * 1024, 1024 * 1024);
    o.set_last_will(LastWill::new(
        id.topic(&Topic::Status),
        encode(&Status::new(BoxState::Offline, BOOT_SEQ, VERSION, unix_now())),
        QoS::AtLeastOnce,
        true,
    ));
    o
}

/// One simulated box: its site revision and the last desired revision it handled, in memory.
struct Agent {
    idx: usize,
    id: BoxId,
    revision: u64,
    handled: Option<(u64, Reported)>,
}

impl Agent {
    /// What a box does with a desired document (docs/sync-protocol.md, "Revision rules"):
    /// one already handled gets the same report again, an older one is ignored, a base that
    /// is not the box's revision is a conflict; otherwise it applies (here: bumps its revision).
    fn on_desired(&mut self, d: &Desired) -> Option<Reported> {
        if let Some((rev, report)) = &self.handled {
            if d.revision == *rev {
                return Some(report.clone());
            }
            if d.revision < *rev {
                return None;
            }
        }
        let outcome = if d.base_revision == self.revision {
            self.revision += 1;
            Outcome::Applied { applied_revision: self.revision }
        } else {
            Outcome::Conflict { base_revision: d.base_revision, current_revision: self.revision }
        };
        let mut report = Reported::new(self.revision);
        report.desired_revision = Some(d.revision);
        report.outcome = Some(outcome);
        self.handled = Some((d.revision, report.clone()));
        Some(report)
    }

    fn hello(&self, session_present: bool) -> Reported {
        let mut r = Reported::new(self.revision);
        r.want_full = !session_present;
        r
    }
}

/// The agent's event loop, polled by its own task like the box's; it reconnects forever.
async fn run_agent(mut agent: Agent, client: AsyncClient, mut events: EventLoop, shared: Arc<Shared>) {
    let desired_topic = agent.id.topic(&Topic::Desired);
    let reported_topic = agent.id.topic(&Topic::Reported);
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                shared.times()[agent.idx].connected.get_or_insert_with(Instant::now);
                // try_: this task is the one draining the request queue.
                let online = encode(&Status::new(BoxState::Online, BOOT_SEQ, VERSION, unix_now()));
                let results = [
                    client.try_subscribe(desired_topic.clone(), QoS::AtLeastOnce),
                    client.try_publish(agent.id.topic(&Topic::Status), QoS::AtLeastOnce, true, online),
                    client.try_publish(
                        reported_topic.clone(),
                        QoS::AtLeastOnce,
                        false,
                        encode(&agent.hello(ack.session_present)),
                    ),
                ];
                if results.iter().any(|r| r.is_err()) {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => shared.times()[agent.idx].subscribed = true,
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                shared.pubacks.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Event::Incoming(Packet::Publish(p))) if p.topic == desired_topic => {
                let at = Instant::now();
                let Ok(desired) = decode::<Desired>(&p.payload) else {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                if let Some(report) = agent.on_desired(&desired) {
                    if client.try_publish(reported_topic.clone(), QoS::AtLeastOnce, false, encode(&report)).is_err() {
                        shared.errors.fetch_add(1, Ordering::Relaxed);
                    }
                    let mut times = shared.times();
                    let t = &mut times[agent.idx];
                    t.desired.get_or_insert(at);
                    t.reported.get_or_insert_with(Instant::now);
                }
            }
            Ok(_) => {}
            Err(_) => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// The fleet-side observer: timestamps reports and chunks as the fleet's subscription sees them.
async fn run_observer(mut events: EventLoop, shared: Arc<Shared>, subscribed: tokio::sync::oneshot::Sender<()>) {
    let mut subscribed = Some(subscribed);
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                if let Some(tx) = subscribed.take() {
                    let _ = tx.send(());
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let at = Instant::now();
                let Ok((id, kind)) = Topic::parse(&p.topic) else { continue };
                let Some(&idx) = shared.index.get(id.as_str()) else { continue };
                match kind {
                    Topic::Reported => {
                        let Ok(r) = decode::<Reported>(&p.payload) else { continue };
                        let mut times = shared.times();
                        let t = &mut times[idx];
                        match (r.outcome, r.desired_revision) {
                            (Some(Outcome::Applied { .. }), Some(rev)) if t.seen.is_none() => {
                                t.seen = Some(at);
                                t.seen_revision = Some(rev);
                            }
                            (None, None) => t.hello_seen = true,
                            _ => {}
                        }
                    }
                    Topic::Backup(_) => {
                        shared.chunk_bytes.fetch_add(p.payload.len() as u64, Ordering::Relaxed);
                        shared.chunk_msgs.fetch_add(1, Ordering::Relaxed);
                        *shared.last_chunk.lock().unwrap_or_else(|e| e.into_inner()) = Some(at);
                    }
                    _ => {}
                }
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("observer: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Waits until `done()` or the phase's timeout; says how far it got either way.
async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> (usize, usize)) -> bool {
    let deadline = Instant::now() + timeout;
    let mut last_print = Instant::now();
    loop {
        let (have, want) = done();
        if have >= want {
            return true;
        }
        if Instant::now() > deadline {
            eprintln!("{what}: gave up after {} s at {have} of {want}", timeout.as_secs());
            return false;
        }
        if last_print.elapsed() > Duration::from_secs(5) {
            eprintln!("{what}: {have} of {want}");
            last_print = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The pushed site config: a tenant with `n` extensions, shaped like `outpost config export`.
fn site_document(n: usize) -> Value {
    let extensions: Vec<Value> = (0..n)
        .map(|i| json!({"number": format!("{}", 100 + i), "name": format!("Bench {i}"), "secret": format!("bench-secret-{i:04}")}))
        .collect();
    json!({
        "site": {"name": "Fleet bench", "time_zone": "UTC"},
        "tenants": [{"name": "bench", "domains": ["bench.pbx.local"], "emergency_numbers": ["112"], "extensions": extensions}],
    })
}

struct Api {
    base: String,
    token: Option<String>,
    http: ureq::Agent,
}

impl Api {
    fn new(base: &str) -> Api {
        let http = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
        Api { base: base.trim_end_matches('/').to_owned(), token: None, http }
    }

    fn auth(&self, req: ureq::Request) -> ureq::Request {
        match &self.token {
            Some(t) => req.set("Authorization", &format!("Bearer {t}")),
            None => req,
        }
    }

    fn login(&mut self, name: &str, password: &str) -> anyhow::Result<()> {
        let answer: Value = self
            .http
            .post(&format!("{}/api/v1/login", self.base))
            .send_json(json!({"name": name, "password": password}))
            .context("POST /api/v1/login")?
            .into_json()
            .context("the login's answer")?;
        let token = answer["token"].as_str().ok_or_else(|| anyhow!("the login answered no token: {answer}"))?;
        self.token = Some(token.to_owned());
        Ok(())
    }

    fn push(&self, id: &str, base_revision: u64, document: &Value) -> anyhow::Result<u64> {
        let url = format!("{}/api/v1/boxes/{id}/config", self.base);
        let body = json!({"base_revision": base_revision, "document": document, "author": "fleet-scale"});
        let answer: Value = self.auth(self.http.post(&url)).send_json(body)?.into_json()?;
        answer["revision"].as_u64().ok_or_else(|| anyhow!("POST {url} answered no revision: {answer}"))
    }

    /// The desired revision the fleet has stored from the box's last report.
    fn stored_revision(&self, id: &str) -> anyhow::Result<Option<u64>> {
        let url = format!("{}/api/v1/boxes/{id}", self.base);
        let answer: Value = self.auth(self.http.get(&url)).call()?.into_json()?;
        let reported = &answer["reported"];
        let applied = reported["outcome"]["result"] == "applied";
        Ok(reported["desired_revision"].as_u64().filter(|_| applied))
    }
}

/// Nearest-rank percentiles of durations, in milliseconds.
fn percentiles(mut ms: Vec<f64>) -> Value {
    if ms.is_empty() {
        return json!({"n": 0});
    }
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| {
        let rank = ((p / 100.0) * ms.len() as f64).ceil() as usize;
        let v = ms[rank.clamp(1, ms.len()) - 1];
        (v * 10.0).round() / 10.0
    };
    json!({"n": ms.len(), "min": at(0.0), "p50": at(50.0), "p90": at(90.0), "p99": at(99.0), "max": at(100.0)})
}

fn ms(a: Instant, b: Instant) -> f64 {
    b.saturating_duration_since(a).as_secs_f64() * 1000.0
}

/// Pushes one config change to every box from `pushers` threads; each box's POST instant and
/// the revision the fleet gave it go into its `Times`.
fn push_round(api: &Api, shared: &Shared, ids: &[BoxId], pushers: usize, document: &Value) -> usize {
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..pushers.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = ids.get(i) else { break };
                shared.times()[i].push = Some(Instant::now());
                match api.push(id.as_str(), START_REVISION, document) {
                    Ok(rev) => shared.times()[i].pushed_revision = Some(rev),
                    Err(e) => {
                        if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("push to {id}: {e}");
                        }
                    }
                }
            });
        }
    });
    failed.into_inner()
}

/// Polls the API for every box whose report is not yet known stored, until all are or
/// `timeout`; with `mark_seen`, the first stored sighting is also the box's arrival time.
fn poll_stored(api: &Api, shared: &Shared, ids: &[BoxId], threads: usize, timeout: Duration, mark_seen: bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let pending: Vec<usize> = {
            let times = shared.times();
            (0..ids.len()).filter(|&i| !times[i].stored && times[i].pushed_revision.is_some()).collect()
        };
        if pending.is_empty() {
            return;
        }
        let next = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..threads.max(1) {
                s.spawn(|| {
                    while let Some(&i) = pending.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let Ok(stored) = api.stored_revision(ids[i].as_str()) else { continue };
                        let at = Instant::now();
                        let mut times = shared.times();
                        let t = &mut times[i];
                        if stored.is_some() && stored == t.pushed_revision {
                            t.stored = true;
                            if mark_seen && t.seen.is_none() {
                                t.seen = Some(at);
                                t.seen_revision = stored;
                            }
                        }
                    }
                });
            }
        });
        std::thread::sleep(Duration::from_millis(if mark_seen { 50 } else { 500 }));
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (host, port) = parse_mqtt(&args.mqtt)?;
    let box_password = std::env::var("OUTPOST_BOX_PASSWORD").context("set $OUTPOST_BOX_PASSWORD")?;
    let ids: Vec<BoxId> = (0..args.boxes)
        .map(|i| BoxId::new(&format!("{}-{i:04}", args.prefix)))
        .collect::<Result<_, _>>()
        .context("--prefix")?;
    let shared = Arc::new(Shared {
        times: Mutex::new(vec![Times::default(); ids.len()]),
        index: ids.iter().enumerate().map(|(i, id)| (id.as_str().to_owned(), i)).collect(),
        errors: AtomicUsize::new(0),
        pubacks: AtomicU64::new(0),
        chunk_bytes: AtomicU64::new(0),
        chunk_msgs: AtomicU64::new(0),
        last_chunk: Mutex::new(None),
    });
    let timeout = Duration::from_secs(args.timeout);
    let idle = snapshot(&args);

    // The observer, subscribed before any box connects.
    let observing = if let Some(user) = &args.observer_user {
        let password = std::env::var("OUTPOST_FLEET_PASSWORD").unwrap_or_default();
        let mut o = MqttOptions::new(format!("fleet-scale-observer-{}", std::process::id()), host.as_str(), port);
        o.set_credentials(user.as_str(), password);
        o.set_keep_alive(Duration::from_secs(30));
        o.set_max_packet_size(1024 * 1024, 1024 * 1024);
        let (client, events) = AsyncClient::new(o, 16);
        client.subscribe("outpost/v1/+/config/reported", QoS::AtLeastOnce).await?;
        client.subscribe("outpost/v1/+/backup/#", QoS::AtLeastOnce).await?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(run_observer(events, shared.clone(), tx));
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .map_err(|_| anyhow!("the observer ({user}) was not subscribed within 10 s"))?
            .map_err(|_| anyhow!("the observer stopped"))?;
        eprintln!("observer subscribed as {user}");
        Some(client)
    } else {
        eprintln!("no observer: reports are polled from the API");
        None
    };

    // Phase 1: connect every agent, `connect_batch` at a time.
    let t_connect = Instant::now();
    let mut clients = Vec::with_capacity(ids.len());
    for (idx, id) in ids.iter().enumerate() {
        let (client, events) = AsyncClient::new(box_options(id, &host, port, &box_password), 32);
        let agent = Agent { idx, id: id.clone(), revision: START_REVISION, handled: None };
        tokio::spawn(run_agent(agent, client.clone(), events, shared.clone()));
        clients.push(client);
        if (idx + 1) % args.connect_batch.max(1) == 0 {
            let want = idx + 1 - args.connect_batch.max(1) / 2;
            wait_until("connect", timeout, || (shared.count(|t| t.connected.is_some()), want)).await;
        }
    }
    let n = ids.len();
    let all_connected =
        wait_until("connect", timeout, || (shared.count(|t| t.connected.is_some() && t.subscribed), n)).await;
    let connect_ms = ms(t_connect, Instant::now());
    let hellos = if observing.is_some() {
        wait_until("hello reports at the observer", timeout, || (shared.count(|t| t.hello_seen), n)).await;
        Some(shared.count(|t| t.hello_seen))
    } else {
        None
    };
    let hello_ms = ms(t_connect, Instant::now());
    let connected_at: Vec<f64> = shared.times().iter().filter_map(|t| t.connected.map(|c| ms(t_connect, c))).collect();
    eprintln!(
        "connect: {} of {n} connected and subscribed in {connect_ms:.0} ms (hello reports seen after {hello_ms:.0} ms)",
        shared.count(|t| t.subscribed)
    );
    // Let the fleet store the hellos and statuses before the round is measured.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let connected = snapshot(&args);

    // Phase 2: one config change to every box.
    let mut api = Api::new(&args.api);
    if let Ok(pw) = std::env::var("OUTPOST_FLEET_ADMIN_PASSWORD") {
        if !pw.is_empty() {
            // A fleet build without logins answers 404 here: go on without a token.
            match api.login(&args.admin, &pw) {
                Ok(()) => eprintln!("logged in to the API as {}", args.admin),
                Err(e) => eprintln!("no API login ({e:#}): calling the API without a token"),
            }
        }
    }
    let api = Arc::new(api);
    let document = Arc::new(site_document(args.extensions));
    let doc_bytes = serde_json::to_vec(&*document)?.len();
    let before_push = snapshot(&args);
    let t_push = Instant::now();
    let push_failed = {
        let (api, shared, ids, document, pushers) =
            (api.clone(), shared.clone(), ids.clone(), document.clone(), args.pushers);
        tokio::task::spawn_blocking(move || push_round(&api, &shared, &ids, pushers, &document)).await?
    };
    let push_ms = ms(t_push, Instant::now());
    let pushed = shared.count(|t| t.pushed_revision.is_some());
    eprintln!("pushed {pushed} of {n} in {push_ms:.0} ms ({push_failed} failed)");
    if observing.is_some() {
        wait_until("applied reports at the observer", timeout, || (shared.count(|t| t.seen.is_some()), pushed)).await;
    } else {
        let (api, shared, ids) = (api.clone(), shared.clone(), ids.clone());
        tokio::task::spawn_blocking(move || poll_stored(&api, &shared, &ids, 4, timeout, true)).await?;
    }
    let t_all_seen = shared.times().iter().filter_map(|t| t.seen).max();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_round = snapshot(&args);
    if observing.is_some() {
        let (api, shared, ids) = (api.clone(), shared.clone(), ids.clone());
        tokio::task::spawn_blocking(move || poll_stored(&api, &shared, &ids, 4, Duration::from_secs(60), false))
            .await?;
    }
    let (lat, delivery, agent_ms, wrong_rev, stored, first_push) = {
        let times = shared.times();
        let lat: Vec<f64> = times.iter().filter_map(|t| Some(ms(t.push?, t.seen?))).collect();
        let delivery: Vec<f64> = times.iter().filter_map(|t| Some(ms(t.push?, t.desired?))).collect();
        let agent_ms: Vec<f64> = times.iter().filter_map(|t| Some(ms(t.desired?, t.reported?))).collect();
        let wrong = times.iter().filter(|t| t.seen.is_some() && t.seen_revision != t.pushed_revision).count();
        let stored = times.iter().filter(|t| t.stored).count();
        let first = times.iter().filter_map(|t| t.push).min();
        (lat, delivery, agent_ms, wrong, stored, first)
    };
    let makespan_ms = match (first_push, t_all_seen) {
        (Some(a), Some(b)) => ms(a, b),
        _ => f64::NAN,
    };
    let round = json!({
        "pushed": pushed,
        "push_failed": push_failed,
        "push_all_ms": (push_ms * 10.0).round() / 10.0,
        "push_to_report_ms": percentiles(lat),
        "push_to_desired_at_box_ms": percentiles(delivery),
        "box_handling_ms": percentiles(agent_ms),
        "first_push_to_last_report_ms": (makespan_ms * 10.0).round() / 10.0,
        "reports_with_other_revision": wrong_rev,
        "stored_by_fleet": stored,
        "document_bytes": doc_bytes,
        "cpu": cpu_between(&before_push, &after_round),
    });
    eprintln!("config round: {round}");

    // Phase 3: raw broker throughput of 128 KiB chunks.
    let chunk_agents = args.chunk_agents.min(n);
    let chunks = if chunk_agents > 0 && args.chunks > 0 {
        let before = snapshot(&args);
        let acks0 = shared.pubacks.load(Ordering::Relaxed);
        let payload = vec![0x5a_u8; CHUNK];
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for (client, id) in clients.iter().zip(&ids).take(chunk_agents) {
            let (client, id, payload, count) = (client.clone(), id.clone(), payload.clone(), args.chunks);
            tasks.push(tokio::spawn(async move {
                for c in 0..count {
                    let topic = id.topic(&Topic::backup(&format!("bench/{c}"))?);
                    client.publish(topic, QoS::AtLeastOnce, false, payload.clone()).await?;
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        let total = (chunk_agents * args.chunks) as u64;
        let acked = wait_until("chunk PUBACKs", timeout, || {
            ((shared.pubacks.load(Ordering::Relaxed) - acks0) as usize, total as usize)
        })
        .await;
        let t_acked = Instant::now();
        let delivered = if observing.is_some() {
            wait_until("chunks at the observer", timeout, || {
                (shared.chunk_msgs.load(Ordering::Relaxed) as usize, total as usize)
            })
            .await
        } else {
            false
        };
        let after = snapshot(&args);
        let bytes = total * CHUNK as u64;
        let mib = bytes as f64 / (1024.0 * 1024.0);
        let last = *shared.last_chunk.lock().unwrap_or_else(|e| e.into_inner());
        let to_observer = last.filter(|_| delivered).map(|l| ms(t0, l));
        let value = json!({
            "what": "raw broker throughput of 128 KiB chunk messages (QoS 1), agents -> fleet-user subscriber",
            "agents": chunk_agents,
            "messages": total,
            "mib": mib,
            "acked": acked,
            "to_pubacks_ms": ms(t0, t_acked),
            "mib_per_s_acked": mib / t_acked.duration_since(t0).as_secs_f64(),
            "delivered_msgs": shared.chunk_msgs.load(Ordering::Relaxed),
            "to_observer_ms": to_observer,
            "mib_per_s_delivered": to_observer.map(|m| mib / (m / 1000.0)),
            "cpu": cpu_between(&before, &after),
        });
        eprintln!("chunks: {value}");
        value
    } else {
        Value::Null
    };

    let end = snapshot(&args);
    let result = json!({
        "label": args.label,
        "boxes": n,
        "connect": {
            "all_connected": all_connected,
            "connected_and_subscribed": shared.count(|t| t.subscribed),
            "to_all_subscribed_ms": (connect_ms * 10.0).round() / 10.0,
            "to_all_hello_seen_ms": (hello_ms * 10.0).round() / 10.0,
            "hello_reports_seen": hellos,
            "connack_ms": percentiles(connected_at),
            "cpu": cpu_between(&idle, &connected),
        },
        "config_round": round,
        "chunks": chunks,
        "mqtt_errors": shared.errors.load(Ordering::Relaxed),
        "memory_idle": {"fleet": mem(idle.fleet), "broker": mem(idle.broker)},
        "memory_connected": {"fleet": mem(connected.fleet), "broker": mem(connected.broker), "agents": mem(connected.me)},
        "memory_end": {"fleet": mem(end.fleet), "broker": mem(end.broker), "agents": mem(end.me)},
        "cpu_total": cpu_between(&idle, &end),
    });
    println!("{result}");
    if shared.count(|t| t.seen.is_some()) < n {
        bail!("only {} of {n} boxes reported the change", shared.count(|t| t.seen.is_some()));
    }
    Ok(())
}
