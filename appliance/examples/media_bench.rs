//! Benchmark harness for the media bridge (tools/bench/rtp.sh): opens `--calls` calls on one
//! `Bridge` the way the B2BUA does (SDP rewrite of an offer from A and an answer from B, then
//! `expect_remote`), writes `<index> <leg A port> <leg B port>` per call to `--out`, and relays
//! until SIGTERM or Ctrl-C, then prints the totals. Not part of the daemon.
//!
//! Usage: media_bench --calls 500 --a 127.0.0.1:40000 --b 127.0.0.1:40001 --out ports.txt
//!        [--ports 30000-39999] [--threads 1] [--address 127.0.0.1]

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use appliance::media::{Bridge, Leg, MediaConfig};
use appliance::metrics::Metrics;

struct Args {
    calls: usize,
    a: SocketAddr,
    b: SocketAddr,
    out: std::path::PathBuf,
    ports: (u16, u16),
    threads: usize,
    address: IpAddr,
}

fn args() -> anyhow::Result<Args> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        calls: 100,
        a: "127.0.0.1:40000".parse()?,
        b: "127.0.0.1:40001".parse()?,
        out: "ports.txt".into(),
        ports: (30_000, 39_999),
        threads: 1,
        address: "127.0.0.1".parse()?,
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| anyhow!("{flag} needs a value"))?;
        match flag.as_str() {
            "--calls" => a.calls = value.parse()?,
            "--a" => a.a = value.parse()?,
            "--b" => a.b = value.parse()?,
            "--out" => a.out = value.into(),
            "--threads" => a.threads = value.parse()?,
            "--address" => a.address = value.parse()?,
            "--ports" => {
                let (lo, hi) = value.split_once('-').ok_or_else(|| anyhow!("--ports FROM-TO"))?;
                a.ports = (lo.parse()?, hi.parse()?);
            }
            _ => bail!("unknown flag {flag}"),
        }
    }
    Ok(a)
}

fn sdp(at: SocketAddr) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n",
        ip = at.ip(),
        port = at.port()
    )
}

async fn run(args: Args) -> anyhow::Result<()> {
    let config = MediaConfig::new(args.ports.0..=args.ports.1, Duration::from_secs(3600), args.address);
    let bridge = Bridge::new(config, Metrics::new());
    let mut lines = String::new();
    for i in 0..args.calls {
        let call = format!("bench-{i}");
        let media = bridge.open(&call).await?;
        let (_to_b, from_a) = media.sdp_to(Leg::B, sdp(args.a).as_bytes())?;
        bridge.expect_remote(&call, Leg::A, &from_a);
        let (_to_a, from_b) = media.sdp_to(Leg::A, sdp(args.b).as_bytes())?;
        bridge.expect_remote(&call, Leg::B, &from_b);
        lines.push_str(&format!("{i} {} {}\n", media.a.rtp, media.b.rtp));
    }
    // Written whole, then renamed: the load generator never reads half a file.
    let tmp = args.out.with_extension("tmp");
    std::fs::File::create(&tmp)?.write_all(lines.as_bytes())?;
    std::fs::rename(&tmp, &args.out).context("writing the ports file")?;
    eprintln!("media_bench: {} calls open", args.calls);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    let (mut relayed, mut dropped, mut lost) = (0, 0, 0);
    for (_, s) in bridge.all() {
        relayed += s.a.relayed_packets + s.b.relayed_packets;
        dropped += s.a.dropped + s.b.dropped;
        lost += s.a.received.lost + s.b.received.lost;
    }
    eprintln!("media_bench: relayed {relayed} packets, dropped {dropped}, lost upstream {lost}");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = args()?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads.max(1)).enable_all().build()?;
    runtime.block_on(run(args))
}
