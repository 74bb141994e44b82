//! Any SDP body a phone or trunk might send: the rewrite never panics, is idempotent, keeps
//! every line it does not own byte for byte, and points the audio at the box.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use appliance::media::sdp;
use libfuzzer_sys::fuzz_target;

const BOX: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 10, 2));

fn lines(body: &[u8]) -> Vec<&[u8]> {
    body.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).collect()
}

fn owned(line: &[u8]) -> bool {
    line.starts_with(b"c=") || line.starts_with(b"m=") || line.starts_with(b"a=rtcp:")
}

fuzz_target!(|data: &[u8]| {
    let parsed = sdp::parse(data);
    let Ok((once, remote)) = sdp::rewrite(data, BOX, 10_000) else {
        assert!(parsed.is_err(), "parse and rewrite agree on what is SDP");
        return;
    };
    assert_eq!(parsed.as_ref(), Ok(&remote), "parse says what rewrite returns");
    let (twice, again) = sdp::rewrite(&once, BOX, 10_000).expect("a rewritten body is SDP");
    assert_eq!(once, twice, "idempotent");
    // Audio now points at the box, unless the sender said 0.0.0.0 (hold), which stays.
    let ip = if remote.rtp.ip().is_unspecified() { remote.rtp.ip() } else { BOX };
    assert_eq!(again.rtp, SocketAddr::new(ip, 10_000));
    let (before, after) = (lines(data), lines(&once));
    assert_eq!(before.len(), after.len(), "no line added or removed");
    for (b, a) in before.iter().zip(&after) {
        if !owned(b) {
            assert_eq!(b, a, "a line the rewrite does not own changed");
        }
    }
});
