//! RTP and RTCP headers (RFC 3550 §5.1, §6.4), read in place from the received bytes: the relay
//! never copies or rewrites a packet, it only looks at the fixed header to latch and to count.

/// The fixed RTP header fields the relay uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

/// The header of an RTP packet: version 2, at least 12 bytes plus its CSRC list, and a payload
/// type outside 64..=95, which RFC 5761 §4 leaves to RTCP so that the two can share a port.
pub fn rtp(packet: &[u8]) -> Option<RtpHeader> {
    if packet.len() < 12 || packet[0] >> 6 != 2 {
        return None;
    }
    let csrcs = usize::from(packet[0] & 0x0f);
    let payload_type = packet[1] & 0x7f;
    if packet.len() < 12 + 4 * csrcs || (64..=95).contains(&payload_type) {
        return None;
    }
    Some(RtpHeader {
        marker: packet[1] & 0x80 != 0,
        payload_type,
        sequence: u16::from_be_bytes([packet[2], packet[3]]),
        timestamp: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
        ssrc: u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
    })
}

/// Whether `packet` looks like (compound) RTCP: version 2, at least a header, a packet type in
/// 192..=223 (SR 200, RR 201, SDES 202, BYE 203, APP 204, the feedback types 205/206...).
pub fn is_rtcp(packet: &[u8]) -> bool {
    packet.len() >= 8 && packet[0] >> 6 == 2 && (192..=223).contains(&packet[1])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_the_fixed_header() {
        let mut p = [0u8; 172];
        p[..12].copy_from_slice(&[0x80, 0x80, 0x12, 0x34, 0, 0, 0x01, 0x40, 0xde, 0xad, 0xbe, 0xef]);
        let h = rtp(&p).unwrap();
        assert_eq!(h, RtpHeader { marker: true, payload_type: 0, sequence: 0x1234, timestamp: 320, ssrc: 0xdeadbeef });
        assert!(!is_rtcp(&p));
    }

    #[test]
    fn refuses_what_is_not_rtp() {
        assert!(rtp(&[0x80; 11]).is_none(), "short");
        assert!(rtp(&[0x40; 20]).is_none(), "version 1");
        let mut p = [0u8; 16];
        p[0] = 0x82; // two CSRCs need 20 bytes
        assert!(rtp(&p).is_none());
        let rr = [0x80, 201, 0, 1, 0, 0, 0, 1];
        assert!(rtp(&[rr.as_slice(), &[0; 8]].concat()).is_none(), "RTCP RR is not RTP");
        assert!(is_rtcp(&rr));
        assert!(!is_rtcp(b"\x16\xfe\xfd\x00\x00\x00\x00\x00"), "DTLS");
    }
}
