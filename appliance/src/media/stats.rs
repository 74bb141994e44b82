//! Receive statistics of one RTP stream, as RFC 3550 appendix A computes them: loss from the
//! extended highest sequence number (A.1, A.3) and interarrival jitter (A.8). Pure: the caller
//! passes the arrival time, so tests give exact times and get exact figures.

use serde::Serialize;

use super::rtp::RtpHeader;

/// A sequence jump at most this far ahead is loss; RFC 3550 A.1's MAX_DROPOUT.
const MAX_DROPOUT: u16 = 3000;
/// A sequence at most this far behind is a late or duplicate packet; A.1's MAX_MISORDER.
const MAX_MISORDER: u16 = 100;

/// Counters of what one phone sent to the box on one leg.
#[derive(Debug, Clone, Default)]
pub struct StreamStats {
    pub packets: u64,
    pub bytes: u64,
    ssrc: Option<u32>,
    seq: Option<Sequence>,
    /// Loss of earlier streams of this leg (before an SSRC change or a sequence restart).
    lost_before: u64,
    /// Jitter in timestamp units, times 16 (A.8's integer form keeps the fraction).
    jitter_q4: u64,
    /// The clock rate the jitter is in; 0 until a packet of a known rate arrived.
    jitter_rate: u32,
    last: Option<Transit>,
    pub payload_type: Option<u8>,
}

#[derive(Debug, Clone, Copy)]
struct Sequence {
    base: u32,
    max: u16,
    cycles: u32,
    /// A.1's bad_seq: a large jump is believed (as a restart) when the next packet follows it.
    bad: Option<u16>,
    received: u64,
}

#[derive(Debug, Clone, Copy)]
struct Transit {
    payload_type: u8,
    value: u32,
}

/// What `StreamStats` reports (and the API shows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Reception {
    pub packets: u64,
    pub bytes: u64,
    pub lost: u64,
    /// Interarrival jitter in milliseconds.
    pub jitter_ms: f64,
    pub ssrc: Option<u32>,
    pub payload_type: Option<u8>,
}

impl Sequence {
    fn new(seq: u16) -> Sequence {
        Sequence { base: u32::from(seq), max: seq, cycles: 0, bad: None, received: 1 }
    }

    fn expected(&self) -> u64 {
        u64::from(self.cycles) + u64::from(self.max) + 1 - u64::from(self.base)
    }

    fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }
}

impl StreamStats {
    /// Counts one packet of `len` bytes that arrived at `arrival_us` (microseconds on any
    /// monotonic clock). `clock_rate` is the RTP clock of its payload type, 0 when unknown or
    /// when the type does not carry media at a steady pace (telephone-event, comfort noise):
    /// such packets count for loss but not for jitter.
    pub fn on_packet(&mut self, h: &RtpHeader, len: usize, arrival_us: u64, clock_rate: u32) {
        self.packets += 1;
        self.bytes += len as u64;
        if self.ssrc != Some(h.ssrc) {
            // A new source (the phone restarted its stream, or a re-INVITE moved the leg):
            // keep the old loss, start the sequence and jitter afresh.
            self.lost_before += self.seq.map_or(0, |s| s.lost());
            self.ssrc = Some(h.ssrc);
            self.seq = None;
            self.last = None;
        }
        self.update_sequence(h.sequence);
        self.payload_type = Some(h.payload_type);
        if clock_rate == 0 {
            return;
        }
        if self.jitter_rate != clock_rate {
            self.jitter_rate = clock_rate;
            self.jitter_q4 = 0;
            self.last = None;
        }
        let arrival = (u128::from(arrival_us) * u128::from(clock_rate) / 1_000_000) as u32;
        let transit = arrival.wrapping_sub(h.timestamp);
        if let Some(last) = self.last.filter(|l| l.payload_type == h.payload_type) {
            let d = u64::from((transit.wrapping_sub(last.value) as i32).unsigned_abs());
            // J += (|D| - J) / 16, on J scaled by 16 (RFC 3550 A.8).
            self.jitter_q4 = self.jitter_q4 + d - ((self.jitter_q4 + 8) >> 4);
        }
        self.last = Some(Transit { payload_type: h.payload_type, value: transit });
    }

    fn update_sequence(&mut self, seq: u16) {
        let Some(s) = self.seq.as_mut() else {
            self.seq = Some(Sequence::new(seq));
            return;
        };
        let delta = seq.wrapping_sub(s.max);
        if delta < MAX_DROPOUT {
            if seq < s.max {
                s.cycles += 1 << 16;
            }
            s.max = seq;
            s.received += 1;
        } else if delta <= u16::MAX - MAX_MISORDER {
            // A big jump: either a stray packet or the sender restarted its numbering.
            if s.bad == Some(seq) {
                self.lost_before += s.lost();
                self.seq = Some(Sequence::new(seq));
            } else {
                s.bad = Some(seq.wrapping_add(1));
            }
        } else {
            // Late or duplicate: counted as received (so a late packet is not a loss).
            s.received += 1;
        }
    }

    pub fn lost(&self) -> u64 {
        self.lost_before + self.seq.map_or(0, |s| s.lost())
    }

    /// Interarrival jitter in RTP timestamp units of the stream's clock (RTCP's figure).
    pub fn jitter(&self) -> u32 {
        (self.jitter_q4 >> 4) as u32
    }

    pub fn jitter_ms(&self) -> f64 {
        if self.jitter_rate == 0 {
            return 0.0;
        }
        self.jitter_q4 as f64 / 16.0 * 1000.0 / f64::from(self.jitter_rate)
    }

    pub fn report(&self) -> Reception {
        Reception {
            packets: self.packets,
            bytes: self.bytes,
            lost: self.lost(),
            jitter_ms: self.jitter_ms(),
            ssrc: self.ssrc,
            payload_type: self.payload_type,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(seq: u16, ts: u32) -> RtpHeader {
        RtpHeader { marker: false, payload_type: 0, sequence: seq, timestamp: ts, ssrc: 7 }
    }

    /// G.711 at 20 ms: 160 timestamp units and 20,000 µs per packet.
    fn feed(s: &mut StreamStats, seqs: &[u16], at_us: impl Fn(usize) -> u64) {
        for (i, &seq) in seqs.iter().enumerate() {
            s.on_packet(&header(seq, u32::from(seq) * 160), 172, at_us(i), 8000);
        }
    }

    #[test]
    fn a_steady_stream_has_no_loss_and_no_jitter() {
        let mut s = StreamStats::default();
        let seqs: Vec<u16> = (100..200).collect();
        feed(&mut s, &seqs, |i| 1_000_000 + i as u64 * 20_000);
        assert_eq!((s.packets, s.bytes, s.lost(), s.jitter()), (100, 17_200, 0, 0));
    }

    #[test]
    fn a_gap_is_loss_and_a_late_packet_is_not() {
        let mut s = StreamStats::default();
        // 5 and 6 missing, then 6 arrives late.
        let seqs = [1, 2, 3, 4, 7, 8, 6, 9];
        for &seq in &seqs {
            s.on_packet(&header(seq, u32::from(seq) * 160), 172, u64::from(seq) * 20_000, 8000);
        }
        assert_eq!(s.lost(), 1);
        assert_eq!(s.packets, 8);
    }

    #[test]
    fn loss_across_the_sequence_wrap() {
        let mut s = StreamStats::default();
        feed(&mut s, &[65_533, 65_534, 1, 2], |i| i as u64 * 20_000);
        assert_eq!(s.lost(), 2, "65535 and 0 missing");
    }

    #[test]
    fn a_restart_of_the_numbering_keeps_earlier_loss() {
        let mut s = StreamStats::default();
        feed(&mut s, &[10, 11, 13], |i| i as u64 * 20_000);
        // A jump of more than MAX_DROPOUT, confirmed by the next packet: a restart.
        feed(&mut s, &[40_000, 40_001, 40_002], |i| 100_000 + i as u64 * 20_000);
        assert_eq!(s.lost(), 1);
        // A new SSRC: same.
        s.on_packet(&RtpHeader { ssrc: 8, ..header(5, 0) }, 172, 500_000, 8000);
        s.on_packet(&RtpHeader { ssrc: 8, ..header(7, 320) }, 172, 520_000, 8000);
        assert_eq!(s.lost(), 2);
    }

    #[test]
    fn jitter_follows_rfc_3550() {
        let mut s = StreamStats::default();
        // Every other packet arrives 10 ms (80 units) late: |D| = 80 from the second packet on.
        let seqs: Vec<u16> = (0..400).collect();
        feed(&mut s, &seqs, |i| i as u64 * 20_000 + if i % 2 == 1 { 10_000 } else { 0 });
        // J converges to |D| = 80 units = 10 ms.
        assert!((79..=80).contains(&s.jitter()), "{}", s.jitter());
        assert!((s.jitter_ms() - 10.0).abs() < 0.2, "{}", s.jitter_ms());
        // The first step exactly: J = 80/16 = 5.
        let mut one = StreamStats::default();
        feed(&mut one, &[0, 1], |i| i as u64 * 30_000);
        assert_eq!(one.jitter(), 5);
    }

    #[test]
    fn events_do_not_count_for_jitter() {
        let mut s = StreamStats::default();
        feed(&mut s, &[0, 1, 2], |i| i as u64 * 20_000);
        // telephone-event repeats one timestamp: with rate 0 it leaves jitter alone.
        for (i, seq) in (3..10).enumerate() {
            s.on_packet(&RtpHeader { payload_type: 101, ..header(seq, 480) }, 16, 60_000 + i as u64 * 50_000, 0);
        }
        assert_eq!((s.jitter(), s.lost(), s.packets), (0, 0, 10));
    }
}
