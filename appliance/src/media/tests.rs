//! The bridge on loopback with real UDP sockets: two fake phones (plain sockets) talk through
//! it. Waits are bounded so that a bug fails the test instead of hanging it; nothing asserts
//! on how fast anything happens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;

use super::*;
use crate::metrics::Metrics;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A fresh even port range per test (tests run in parallel in one process), below Linux's
/// ephemeral range so that no client socket of another test takes them.
fn ports(pairs: u16) -> std::ops::RangeInclusive<u16> {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 21_000 + (std::process::id() % 200) as u16 * 40;
    let start = base + NEXT.fetch_add(pairs * 2, Ordering::Relaxed) % 2_000;
    let start = start & !1;
    start..=start + pairs * 2 - 1
}

fn bridge(pairs: u16, timeout: Duration) -> Bridge {
    let mut config = MediaConfig::new(ports(pairs), timeout, LOCAL);
    config.bind = LOCAL;
    Bridge::new(config, Metrics::new())
}

async fn phone() -> UdpSocket {
    UdpSocket::bind((LOCAL, 0)).await.unwrap()
}

fn rtp_packet(seq: u16, ts: u32, ssrc: u32, fill: u8) -> Vec<u8> {
    let mut p = vec![fill; 172];
    p[0] = 0x80;
    p[1] = 0;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&ts.to_be_bytes());
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    p
}

async fn recv(sock: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 4096];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .expect("a packet within 5 s")
        .unwrap();
    (buf[..n].to_vec(), from)
}

/// Nothing arrives within a short while (used only to check that a packet was dropped).
async fn nothing(sock: &UdpSocket) {
    let mut buf = [0u8; 4096];
    assert!(tokio::time::timeout(Duration::from_millis(200), sock.recv_from(&mut buf)).await.is_err());
}

fn box_rtp(media: &CallMedia, leg: Leg) -> SocketAddr {
    SocketAddr::new(LOCAL, media.leg(leg).rtp)
}

fn box_rtcp(media: &CallMedia, leg: Leg) -> SocketAddr {
    SocketAddr::new(LOCAL, media.leg(leg).rtcp)
}

#[tokio::test]
async fn each_phone_gets_the_others_packets_unchanged() {
    let bridge = bridge(4, Duration::from_secs(30));
    let media = bridge.open("call-1").await.unwrap();
    assert_eq!(media.a.rtcp, media.a.rtp + 1);
    assert_eq!(media.a.rtp % 2, 0);
    let (a, b) = (phone().await, phone().await);
    let (a_rtcp, b_rtcp) = (phone().await, phone().await);
    bridge.expect("call-1", Leg::A, a.local_addr().unwrap(), Some(a_rtcp.local_addr().unwrap()));
    bridge.expect("call-1", Leg::B, b.local_addr().unwrap(), Some(b_rtcp.local_addr().unwrap()));

    for seq in 0..20u16 {
        let from_a = rtp_packet(seq, u32::from(seq) * 160, 0xaaaa, seq as u8);
        a.send_to(&from_a, box_rtp(&media, Leg::A)).await.unwrap();
        let (got, source) = recv(&b).await;
        assert_eq!(got, from_a, "byte for byte");
        assert_eq!(source, box_rtp(&media, Leg::B), "B hears leg B's socket");

        let from_b = rtp_packet(1000 + seq, u32::from(seq) * 160, 0xbbbb, 0x55);
        b.send_to(&from_b, box_rtp(&media, Leg::B)).await.unwrap();
        let (got, source) = recv(&a).await;
        assert_eq!(got, from_b);
        assert_eq!(source, box_rtp(&media, Leg::A));
    }
    // RTCP (a receiver report) takes the odd ports the same way.
    let rr = [
        0x81, 201, 0, 7, 0, 0, 0xaa, 0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
        22, 23, 24,
    ];
    a_rtcp.send_to(&rr, box_rtcp(&media, Leg::A)).await.unwrap();
    let (got, source) = recv(&b_rtcp).await;
    assert_eq!((got.as_slice(), source), (rr.as_slice(), box_rtcp(&media, Leg::B)));
    b_rtcp.send_to(&rr, box_rtcp(&media, Leg::B)).await.unwrap();
    assert_eq!(recv(&a_rtcp).await.0, rr);

    let stats = bridge.stats("call-1").unwrap();
    assert_eq!(stats.a.received.packets, 20);
    assert_eq!(stats.a.received.bytes, 20 * 172);
    assert_eq!(stats.a.received.lost, 0);
    assert_eq!(stats.a.received.ssrc, Some(0xaaaa));
    assert_eq!(stats.a.relayed_packets, 21, "20 RTP and one RTCP");
    assert_eq!(stats.b.sent_packets, 21);
    assert_eq!(stats.a.latched, Some(a.local_addr().unwrap()));
    assert_eq!(stats.a.rtcp_latched, Some(a_rtcp.local_addr().unwrap()));
    assert_eq!(stats.a.rtcp_packets, 1);
    assert_eq!(stats.b.port, media.b.rtp);
    assert_eq!(bridge.all().len(), 1);
    let last = bridge.close("call-1").unwrap();
    assert_eq!(last.b.received.packets, 20);
    assert!(bridge.stats("call-1").is_none());
    assert!(bridge.close("call-1").is_none());
}

#[tokio::test]
async fn latches_to_where_packets_come_from_behind_nat() {
    let bridge = bridge(4, Duration::from_secs(30));
    let media = bridge.open("nat").await.unwrap();
    // A's SDP names one address; its NAT sends from another.
    let (sdp_said, a_nat, b) = (phone().await, phone().await, phone().await);
    bridge.expect("nat", Leg::A, sdp_said.local_addr().unwrap(), None);
    bridge.expect("nat", Leg::B, b.local_addr().unwrap(), None);

    // Before A sends, B's audio goes where A's SDP said.
    b.send_to(&rtp_packet(1, 160, 2, 0), box_rtp(&media, Leg::B)).await.unwrap();
    assert_eq!(recv(&sdp_said).await.0, rtp_packet(1, 160, 2, 0));

    // A junk datagram from the NAT address does not latch...
    a_nat.send_to(b"hello", box_rtp(&media, Leg::A)).await.unwrap();
    // ...A's first RTP packet does, and reaches B.
    a_nat.send_to(&rtp_packet(7, 0, 1, 9), box_rtp(&media, Leg::A)).await.unwrap();
    assert_eq!(recv(&b).await.0, rtp_packet(7, 0, 1, 9));
    b.send_to(&rtp_packet(2, 320, 2, 0), box_rtp(&media, Leg::B)).await.unwrap();
    assert_eq!(recv(&a_nat).await.0, rtp_packet(2, 320, 2, 0), "B's audio now follows the latch");

    // A stranger cannot take over the live stream.
    let stranger = phone().await;
    stranger.send_to(&rtp_packet(8, 160, 1, 0xee), box_rtp(&media, Leg::A)).await.unwrap();
    a_nat.send_to(&rtp_packet(9, 320, 1, 9), box_rtp(&media, Leg::A)).await.unwrap();
    assert_eq!(recv(&b).await.0, rtp_packet(9, 320, 1, 9), "the stranger's packet was not relayed");

    let stats = bridge.stats("nat").unwrap();
    assert_eq!(stats.a.expected, Some(sdp_said.local_addr().unwrap()));
    assert_eq!(stats.a.latched, Some(a_nat.local_addr().unwrap()));
    assert_eq!(stats.a.dropped, 2, "the junk and the stranger");
    assert_eq!(stats.a.received.packets, 2);

    // A re-INVITE that moves leg A elsewhere forgets the latch.
    let moved = phone().await;
    bridge.expect("nat", Leg::A, moved.local_addr().unwrap(), None);
    b.send_to(&rtp_packet(3, 480, 2, 0), box_rtp(&media, Leg::B)).await.unwrap();
    assert_eq!(recv(&moved).await.0, rtp_packet(3, 480, 2, 0));
    nothing(&a_nat).await;
}

#[tokio::test]
async fn hold_address_gets_nothing_until_the_phone_sends() {
    let bridge = bridge(4, Duration::from_secs(30));
    let media = bridge.open("hold").await.unwrap();
    let (a, b) = (phone().await, phone().await);
    let body = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio {} RTP/AVP 0\r\na=sendonly\r\n",
        a.local_addr().unwrap().port()
    );
    let (to_b, remote) = media.sdp_to(Leg::B, body.as_bytes()).unwrap();
    assert!(String::from_utf8(to_b).unwrap().contains(&format!("m=audio {} ", media.b.rtp)));
    bridge.expect_remote("hold", Leg::A, &remote);
    bridge.expect("hold", Leg::B, b.local_addr().unwrap(), None);
    b.send_to(&rtp_packet(1, 0, 2, 0), box_rtp(&media, Leg::B)).await.unwrap();
    nothing(&a).await;
    assert_eq!(bridge.stats("hold").unwrap().b.dropped, 1, "nowhere to send: 0.0.0.0");
    // Held A still sends (sendonly) and so latches: B's audio then reaches it.
    a.send_to(&rtp_packet(1, 0, 1, 0), box_rtp(&media, Leg::A)).await.unwrap();
    recv(&b).await;
    b.send_to(&rtp_packet(2, 160, 2, 0), box_rtp(&media, Leg::B)).await.unwrap();
    recv(&a).await;
}

#[tokio::test]
async fn loss_and_jitter_from_the_stream() {
    let bridge = bridge(4, Duration::from_secs(30));
    let media = bridge.open("lossy").await.unwrap();
    let (a, b) = (phone().await, phone().await);
    bridge.expect("lossy", Leg::A, a.local_addr().unwrap(), None);
    bridge.expect("lossy", Leg::B, b.local_addr().unwrap(), None);
    // Sequence 0..10 with 4 and 5 missing; timestamps jump far ahead of real time (which is
    // all but zero here), so the transit time changes: jitter is above zero.
    for seq in (0..10u16).filter(|s| *s != 4 && *s != 5) {
        a.send_to(&rtp_packet(seq, u32::from(seq) * 1600, 1, 0), box_rtp(&media, Leg::A)).await.unwrap();
        recv(&b).await;
    }
    let stats = bridge.stats("lossy").unwrap();
    assert_eq!(stats.a.received.packets, 8);
    assert_eq!(stats.a.received.lost, 2);
    assert!(stats.a.received.jitter_ms > 0.0, "{stats:?}");
    assert_eq!(stats.b.received.lost, 0);
}

#[tokio::test(start_paused = true)]
async fn silence_both_ways_is_a_timeout() {
    let bridge = bridge(4, Duration::from_secs(30));
    let mut events = bridge.subscribe();
    let media = bridge.open("quiet").await.unwrap();
    let (a, b) = (phone().await, phone().await);
    bridge.expect("quiet", Leg::A, a.local_addr().unwrap(), None);
    bridge.expect("quiet", Leg::B, b.local_addr().unwrap(), None);
    a.send_to(&rtp_packet(0, 0, 1, 0), box_rtp(&media, Leg::A)).await.unwrap();
    recv(&b).await;
    let start = tokio::time::Instant::now();
    let event = tokio::time::timeout(Duration::from_secs(120), events.recv()).await.unwrap();
    assert_eq!(event, Some(MediaEvent::Timeout { call: "quiet".into() }));
    // Virtual time: the event came no earlier than the timeout.
    assert!(start.elapsed() >= Duration::from_secs(29), "{:?}", start.elapsed());
    assert!(bridge.stats("quiet").unwrap().idle_secs >= 30.0);
    // The bridge does not end the call itself; the B2BUA does.
    assert!(bridge.close("quiet").is_some());
}

#[tokio::test(start_paused = true)]
async fn ringing_without_media_does_not_time_out() {
    let bridge = bridge(4, Duration::from_secs(30));
    let mut events = bridge.subscribe();
    let _media = bridge.open("ringing").await.unwrap();
    let a = phone().await;
    // The INVITE's SDP is known, the answer's not yet: five minutes of ringing.
    bridge.expect("ringing", Leg::A, a.local_addr().unwrap(), None);
    assert!(tokio::time::timeout(Duration::from_secs(300), events.recv()).await.is_err());
    // Answered: now silence counts, from the answer on.
    let answered = tokio::time::Instant::now();
    let b = phone().await;
    bridge.expect("ringing", Leg::B, b.local_addr().unwrap(), None);
    let event = tokio::time::timeout(Duration::from_secs(120), events.recv()).await.unwrap();
    assert_eq!(event, Some(MediaEvent::Timeout { call: "ringing".into() }));
    assert!(answered.elapsed() >= Duration::from_secs(30));
}

#[tokio::test]
async fn the_phone_the_sdp_named_takes_over_from_a_stranger() {
    let bridge = bridge(4, Duration::from_secs(30));
    let media = bridge.open("race").await.unwrap();
    let (a, b, stranger) = (phone().await, phone().await, phone().await);
    bridge.expect("race", Leg::A, a.local_addr().unwrap(), None);
    bridge.expect("race", Leg::B, b.local_addr().unwrap(), None);
    stranger.send_to(&rtp_packet(1, 0, 9, 0xee), box_rtp(&media, Leg::A)).await.unwrap();
    assert_eq!(recv(&b).await.0, rtp_packet(1, 0, 9, 0xee), "first come, latched");
    a.send_to(&rtp_packet(1, 0, 1, 1), box_rtp(&media, Leg::A)).await.unwrap();
    assert_eq!(recv(&b).await.0, rtp_packet(1, 0, 1, 1));
    b.send_to(&rtp_packet(1, 0, 2, 2), box_rtp(&media, Leg::B)).await.unwrap();
    assert_eq!(recv(&a).await.0, rtp_packet(1, 0, 2, 2), "B's audio goes to the real phone");
    nothing(&stranger).await;
    assert_eq!(bridge.stats("race").unwrap().a.latched, Some(a.local_addr().unwrap()));
}

#[tokio::test]
async fn ports_come_back_on_close_and_the_range_runs_out_clearly() {
    let range = ports(2);
    let mut config = MediaConfig::new(range.clone(), Duration::from_secs(30), LOCAL);
    config.bind = LOCAL;
    let bridge = Bridge::new(config, Metrics::new());
    let first = bridge.open("one").await.unwrap();
    let mut used = vec![first.a.rtp, first.a.rtcp, first.b.rtp, first.b.rtcp];
    used.sort();
    assert_eq!(used, range.clone().collect::<Vec<_>>(), "two pairs: the whole range");
    match bridge.open("two").await {
        Err(e @ MediaError::PortsExhausted { .. }) => {
            assert!(
                e.to_string().starts_with(&format!("no free RTP ports in {}-{}", range.start(), range.end())),
                "{e}"
            )
        }
        other => panic!("expected exhaustion, got {other:?}"),
    }
    assert!(matches!(bridge.open("one").await, Err(MediaError::Exists(_))));
    bridge.close("one").unwrap();
    // The ports are free again (open waits for the closed call's sockets to be released).
    let again = bridge.open("two").await.unwrap();
    let sock = phone().await;
    sock.send_to(&rtp_packet(0, 0, 1, 0), box_rtp(&again, Leg::A)).await.unwrap();
    assert_eq!(bridge.stats("two").unwrap().a.latched, None, "no B yet, but not an error either");
    bridge.close("two").unwrap();
}

#[tokio::test]
async fn metrics_count_calls_and_packets() {
    let metrics = Metrics::new();
    let mut config = MediaConfig::new(ports(4), Duration::from_secs(30), LOCAL);
    config.bind = LOCAL;
    let bridge = Bridge::new(config, metrics.clone());
    let media = bridge.open("m").await.unwrap();
    let (a, b) = (phone().await, phone().await);
    bridge.expect("m", Leg::B, b.local_addr().unwrap(), None);
    for seq in 0..3 {
        a.send_to(&rtp_packet(seq, 0, 1, 0), box_rtp(&media, Leg::A)).await.unwrap();
        recv(&b).await;
    }
    assert!(metrics.render().contains("outpost_rtp_active_calls 1\n"));
    bridge.close("m");
    let text = metrics.render();
    assert!(text.contains("outpost_rtp_calls_total 1\n"), "{text}");
    assert!(text.contains("outpost_rtp_relayed_packets_total 3\n"), "{text}");
    assert!(text.contains("outpost_rtp_relayed_bytes_total 516\n"), "{text}");
    assert!(text.contains("outpost_rtp_active_calls 0\n"), "{text}");
}
