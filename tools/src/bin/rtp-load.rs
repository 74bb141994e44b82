//! `rtp-load`: the RTP relay benchmark's load generator (tools/bench/rtp.sh). Plays both phones
//! of `--calls` G.711 calls (20 ms packets of 172 bytes, 50 per second each way) through a
//! relay and measures what comes out of the other side: loss, added latency (send time inside
//! the payload, compared on arrival) and, given `--server-pid`, the relay's CPU time, hence
//! relayed packets per second per core.
//!
//! The relay is either Outpost's media bridge (`--ports-file`, written by
//! `appliance/examples/media_bench.rs`) or rtpengine, driven over its ng control protocol
//! (`--ng`: bencode over UDP, `offer` and `answer` per call, `delete` at the end).
//!
//! All the A phones share one socket and all the B phones another (as behind one NAT): the
//! relay still has two sockets per call, and the generator stays cheap enough to not be what is
//! measured. The call and direction travel in the payload.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "RTP relay load generator: G.711 calls through Outpost or rtpengine")]
struct Args {
    #[arg(long, default_value_t = 100)]
    calls: usize,
    /// The A phones' socket.
    #[arg(long, default_value = "127.0.0.1:40000")]
    a: SocketAddr,
    /// The B phones' socket.
    #[arg(long, default_value = "127.0.0.1:40001")]
    b: SocketAddr,
    /// Outpost: `<index> <leg A port> <leg B port>` per line, from media_bench.
    #[arg(long, conflicts_with = "ng")]
    ports_file: Option<std::path::PathBuf>,
    /// rtpengine's ng control address.
    #[arg(long)]
    ng: Option<SocketAddr>,
    /// The relay's address (where the phones send).
    #[arg(long, default_value = "127.0.0.1")]
    relay: std::net::IpAddr,
    /// Seconds of load measured, after the warm-up.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// The relay's process, whose CPU time (all threads) is read over the measured window.
    #[arg(long)]
    server_pid: Option<u32>,
    /// A name for the JSON line printed at the end.
    #[arg(long, default_value = "relay")]
    label: String,
}

const PACKET: usize = 172;
const PTIME: Duration = Duration::from_millis(20);
/// Latency histogram: 1 µs buckets up to this; slower packets count in the last bucket.
const HIST_US: usize = 200_000;

/// Where each call's two phones send: (leg A port, leg B port) on the relay.
fn ports_from_file(path: &std::path::Path, calls: usize) -> anyhow::Result<Vec<(u16, u16)>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        match std::fs::read_to_string(path) {
            Ok(t) => break t,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(e).context("the ports file never appeared"),
        }
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let mut it = line.split(' ').skip(1).map(str::parse::<u16>);
        match (it.next(), it.next()) {
            (Some(Ok(a)), Some(Ok(b))) => out.push((a, b)),
            _ => bail!("bad line in ports file: {line}"),
        }
    }
    if out.len() < calls {
        bail!("ports file has {} calls, {calls} wanted", out.len());
    }
    out.truncate(calls);
    Ok(out)
}

// --- bencode, just what the ng protocol needs ---------------------------------------------

#[derive(Debug, Clone)]
enum Ben {
    Bytes(Vec<u8>),
    Int(i64),
    List(Vec<Ben>),
    Dict(BTreeMap<Vec<u8>, Ben>),
}

fn encode(v: &Ben, out: &mut Vec<u8>) {
    match v {
        Ben::Bytes(b) => {
            out.extend_from_slice(format!("{}:", b.len()).as_bytes());
            out.extend_from_slice(b);
        }
        Ben::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
        Ben::List(l) => {
            out.push(b'l');
            l.iter().for_each(|x| encode(x, out));
            out.push(b'e');
        }
        Ben::Dict(d) => {
            out.push(b'd');
            for (k, x) in d {
                encode(&Ben::Bytes(k.clone()), out);
                encode(x, out);
            }
            out.push(b'e');
        }
    }
}

fn decode(input: &[u8]) -> anyhow::Result<(Ben, &[u8])> {
    let bad = || anyhow!("bad bencode");
    match input.first().ok_or_else(bad)? {
        b'i' => {
            let end = input.iter().position(|&c| c == b'e').ok_or_else(bad)?;
            Ok((Ben::Int(std::str::from_utf8(&input[1..end])?.parse()?), &input[end + 1..]))
        }
        b'l' | b'd' => {
            let dict = input[0] == b'd';
            let mut rest = &input[1..];
            let (mut list, mut map) = (Vec::new(), BTreeMap::new());
            while rest.first() != Some(&b'e') {
                let (k, r) = decode(rest)?;
                if dict {
                    let Ben::Bytes(k) = k else { bail!("dict key is not a string") };
                    let (v, r) = decode(r)?;
                    map.insert(k, v);
                    rest = r;
                } else {
                    list.push(k);
                    rest = r;
                }
                if rest.is_empty() {
                    return Err(bad());
                }
            }
            Ok((if dict { Ben::Dict(map) } else { Ben::List(list) }, &rest[1..]))
        }
        _ => {
            let colon = input.iter().position(|&c| c == b':').ok_or_else(bad)?;
            let len: usize = std::str::from_utf8(&input[..colon])?.parse()?;
            let body = input.get(colon + 1..colon + 1 + len).ok_or_else(bad)?;
            Ok((Ben::Bytes(body.to_vec()), &input[colon + 1 + len..]))
        }
    }
}

fn dict(pairs: &[(&str, Ben)]) -> Ben {
    Ben::Dict(pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.clone())).collect())
}

fn s(text: &str) -> Ben {
    Ben::Bytes(text.as_bytes().to_vec())
}

/// One ng command and its answer (`<cookie> <bencode>` both ways, retried once).
fn ng(sock: &UdpSocket, to: SocketAddr, cookie: usize, command: &Ben) -> anyhow::Result<BTreeMap<Vec<u8>, Ben>> {
    // rtpengine caches answers by cookie (to answer retransmissions): cookies must never repeat,
    // not even across runs of this program against the same daemon.
    let cookie = format!("{}-{cookie}", std::process::id());
    let mut msg = format!("{cookie} ").into_bytes();
    encode(command, &mut msg);
    let mut buf = vec![0u8; 65_536];
    for _ in 0..3 {
        sock.send_to(&msg, to)?;
        let Ok((n, _)) = sock.recv_from(&mut buf) else { continue };
        let reply = &buf[..n];
        let space = reply.iter().position(|&c| c == b' ').ok_or_else(|| anyhow!("ng reply without cookie"))?;
        if reply[..space] != *cookie.as_bytes() {
            continue;
        }
        let (Ben::Dict(d), _) = decode(&reply[space + 1..])? else { bail!("ng reply is not a dict") };
        match d.get(b"result".as_slice()) {
            Some(Ben::Bytes(r)) if r == b"ok" => return Ok(d),
            other => bail!("ng said {other:?}: {:?}", d.get(b"error-reason".as_slice())),
        }
    }
    bail!("no answer from rtpengine at {to}")
}

fn phone_sdp(at: SocketAddr) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n",
        ip = at.ip(),
        port = at.port()
    )
}

fn sdp_port(d: &BTreeMap<Vec<u8>, Ben>) -> anyhow::Result<u16> {
    let Some(Ben::Bytes(body)) = d.get(b"sdp".as_slice()) else { bail!("ng reply without sdp") };
    // Outpost's own SDP parser reads rtpengine's rewritten body.
    Ok(appliance::media::sdp::parse(body)?.rtp.port())
}

/// Sets up every call on rtpengine: A offers, B answers; returns the ports each side sends to.
fn ports_from_rtpengine(ctl: SocketAddr, args: &Args) -> anyhow::Result<Vec<(u16, u16)>> {
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut out = Vec::with_capacity(args.calls);
    for i in 0..args.calls {
        let call = format!("bench-{i}");
        let offer = dict(&[
            ("command", s("offer")),
            ("call-id", s(&call)),
            ("from-tag", s(&format!("a{i}"))),
            ("sdp", s(&phone_sdp(args.a))),
            ("replace", Ben::List(vec![s("origin"), s("session-connection")])),
            ("ICE", s("remove")),
        ]);
        // The offer's answer is the SDP that goes to B: B sends to that port.
        let to_b = sdp_port(&ng(&sock, ctl, 2 * i, &offer)?)?;
        let answer = dict(&[
            ("command", s("answer")),
            ("call-id", s(&call)),
            ("from-tag", s(&format!("a{i}"))),
            ("to-tag", s(&format!("b{i}"))),
            ("sdp", s(&phone_sdp(args.b))),
            ("replace", Ben::List(vec![s("origin"), s("session-connection")])),
            ("ICE", s("remove")),
        ]);
        let to_a = sdp_port(&ng(&sock, ctl, 2 * i + 1, &answer)?)?;
        out.push((to_a, to_b));
    }
    Ok(out)
}

fn delete_on_rtpengine(ctl: SocketAddr, calls: usize) {
    let Ok(sock) = UdpSocket::bind("127.0.0.1:0") else { return };
    let _ = sock.set_read_timeout(Some(Duration::from_millis(500)));
    for i in 0..calls {
        let cmd =
            dict(&[("command", s("delete")), ("call-id", s(&format!("bench-{i}"))), ("from-tag", s(&format!("a{i}")))]);
        let _ = ng(&sock, ctl, 1_000_000 + i, &cmd);
    }
}

// --- the load -------------------------------------------------------------------------------

fn socket(at: SocketAddr) -> anyhow::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::for_address(at), Type::DGRAM, Some(Protocol::UDP))?;
    // Bursts of a few thousand packets must not overflow the queue of the generator itself.
    let _ = sock.set_recv_buffer_size(16 << 20);
    let _ = sock.set_send_buffer_size(16 << 20);
    sock.bind(&at.into())?;
    let sock: UdpSocket = sock.into();
    sock.set_read_timeout(Some(Duration::from_millis(100)))?;
    Ok(sock)
}

/// CPU seconds (user + system, all threads) of `pid` so far.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// The payload: RTP header, then call index (u32), direction (u8) and send time (u64 ns since
/// the generator started), the rest filler.
fn packet(buf: &mut [u8; PACKET], call: usize, dir: u8, seq: u16, sent_ns: u64) {
    buf[0] = 0x80;
    buf[1] = 0;
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&(u32::from(seq).wrapping_mul(160)).to_be_bytes());
    buf[8..12].copy_from_slice(&((call as u32) << 1 | u32::from(dir)).to_be_bytes());
    buf[12..16].copy_from_slice(&(call as u32).to_be_bytes());
    buf[16] = dir;
    buf[17..25].copy_from_slice(&sent_ns.to_be_bytes());
}

struct Window {
    start_ns: u64,
    end_ns: u64,
}

fn receive(sock: &UdpSocket, epoch: Instant, window: &Window, stop: &AtomicBool) -> (Vec<u64>, u64) {
    let mut hist = vec![0u64; HIST_US + 1];
    let mut received = 0u64;
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let Ok(n) = sock.recv(&mut buf) else { continue };
        let now = epoch.elapsed().as_nanos() as u64;
        if n != PACKET {
            continue;
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&buf[17..25]);
        let sent = u64::from_be_bytes(ts);
        if sent < window.start_ns || sent >= window.end_ns {
            continue;
        }
        received += 1;
        let us = (now.saturating_sub(sent) / 1000) as usize;
        hist[us.min(HIST_US)] += 1;
    }
    (hist, received)
}

fn percentile(hist: &[u64], total: u64, p: f64) -> usize {
    let want = ((total as f64) * p).ceil() as u64;
    let mut seen = 0;
    for (us, n) in hist.iter().enumerate() {
        seen += n;
        if seen >= want.max(1) {
            return us;
        }
    }
    HIST_US
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (sa, sb) = (socket(args.a)?, socket(args.b)?);
    let ports = match (&args.ports_file, args.ng) {
        (Some(f), None) => ports_from_file(f, args.calls)?,
        (None, Some(ctl)) => ports_from_rtpengine(ctl, &args)?,
        _ => bail!("give --ports-file (Outpost) or --ng (rtpengine)"),
    };
    let epoch = Instant::now();
    let window = Arc::new(Window {
        start_ns: Duration::from_secs(args.warmup).as_nanos() as u64,
        end_ns: Duration::from_secs(args.warmup + args.seconds).as_nanos() as u64,
    });
    let stop = Arc::new(AtomicBool::new(false));
    let receivers: Vec<_> = [sa.try_clone()?, sb.try_clone()?]
        .into_iter()
        .map(|sock| {
            let (window, stop) = (window.clone(), stop.clone());
            std::thread::spawn(move || receive(&sock, epoch, &window, &stop))
        })
        .collect();

    // Calls are spread over the 20 ms of a packet time, one slot per millisecond, so that the
    // relay sees a steady stream rather than one burst every 20 ms.
    let sent_in_window = Arc::new(AtomicU64::new(0));
    let slots = PTIME.as_millis() as usize;
    let mut seq = vec![0u16; args.calls];
    let mut buf = [0u8; PACKET];
    let total = Duration::from_secs(args.warmup + args.seconds);
    let mut cpu_start = None;
    let mut tick = 0u64;
    loop {
        let due = Duration::from_millis(tick);
        if due >= total {
            break;
        }
        if let Some(wait) = due.checked_sub(epoch.elapsed()) {
            std::thread::sleep(wait);
        }
        if cpu_start.is_none() && due >= Duration::from_secs(args.warmup) {
            cpu_start = Some((Instant::now(), args.server_pid.and_then(cpu_seconds)));
        }
        let slot = (tick % slots as u64) as usize;
        for call in (slot..args.calls).step_by(slots) {
            let (to_a, to_b) = ports[call];
            for (dir, sock, port) in [(0u8, &sa, to_a), (1u8, &sb, to_b)] {
                let now = epoch.elapsed().as_nanos() as u64;
                packet(&mut buf, call, dir, seq[call], now);
                if sock.send_to(&buf, SocketAddr::new(args.relay, port)).is_ok()
                    && now >= window.start_ns
                    && now < window.end_ns
                {
                    sent_in_window.fetch_add(1, Ordering::Relaxed);
                }
            }
            seq[call] = seq[call].wrapping_add(1);
        }
        tick += 1;
    }
    let cpu_end = (Instant::now(), args.server_pid.and_then(cpu_seconds));
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let mut hist = vec![0u64; HIST_US + 1];
    let mut received = 0;
    for r in receivers {
        let (h, n) = r.join().map_err(|_| anyhow!("receiver panicked"))?;
        hist.iter_mut().zip(h).for_each(|(a, b)| *a += b);
        received += n;
    }
    if let Some(ctl) = args.ng {
        delete_on_rtpengine(ctl, args.calls);
    }
    let sent = sent_in_window.load(Ordering::Relaxed);
    let (cpu, wall) = match (cpu_start, cpu_end) {
        (Some((t0, Some(c0))), (t1, Some(c1))) => (Some(c1 - c0), (t1 - t0).as_secs_f64()),
        _ => (None, args.seconds as f64),
    };
    let relayed_pps = received as f64 / wall;
    let report = serde_json::json!({
        "label": args.label,
        "calls": args.calls,
        "offered_pps": sent as f64 / args.seconds as f64,
        "relayed_pps": relayed_pps.round(),
        "loss_pct": if sent > 0 { 100.0 * (sent.saturating_sub(received)) as f64 / sent as f64 } else { 0.0 },
        "latency_us": {
            "p50": percentile(&hist, received, 0.50),
            "p99": percentile(&hist, received, 0.99),
            "p999": percentile(&hist, received, 0.999),
        },
        "server_cpu_s": cpu,
        "cpu_share": cpu.map(|c| c / wall),
        "pps_per_core": cpu.filter(|c| *c > 0.0).map(|c| (received as f64 / c).round()),
    });
    println!("{report}");
    Ok(())
}
