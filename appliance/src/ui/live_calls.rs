//! The dashboard's calls in progress: who calls whom, ringing or talking and for how long,
//! and the media quality from the bridge's RTP figures (loss and jitter, the worse of the two
//! directions). A pure function of the B2BUA's calls and the bridge's statistics, so the
//! words and thresholds are unit-tested.
//!
//! The quality words follow the usual VoIP rules of thumb (ITU-T G.113/G.114 territory):
//! under 1 % loss and 30 ms jitter a call sounds good, up to 3 % and 50 ms fair, beyond that
//! poor.

use serde::Serialize;

use crate::media::CallStats;
use crate::sip::b2bua::ActiveCall;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRow {
    pub caller: String,
    pub dialled: String,
    /// Who answered, `—` while ringing.
    pub callee: String,
    /// `ringing` or `talking`.
    pub state: &'static str,
    /// Talking time once answered, ringing time before, `m:ss`.
    pub time: String,
    /// `good`, `fair`, `poor`, or `no media yet`.
    pub quality: &'static str,
    /// Packets lost of those expected, in percent, the worse direction.
    pub loss_pct: f64,
    /// Interarrival jitter in milliseconds, the worse direction.
    pub jitter_ms: f64,
}

/// `m:ss`.
fn clock(seconds: i64) -> String {
    let s = seconds.max(0);
    format!("{}:{:02}", s / 60, s % 60)
}

/// The quality word and the worse direction's loss (%) and jitter (ms); none without packets.
pub fn quality(stats: Option<&CallStats>) -> (&'static str, f64, f64) {
    let Some(stats) = stats else { return ("no media yet", 0.0, 0.0) };
    let legs = [&stats.a.received, &stats.b.received];
    if legs.iter().all(|r| r.packets == 0) {
        return ("no media yet", 0.0, 0.0);
    }
    let loss = legs
        .iter()
        .map(|r| {
            let expected = r.packets + r.lost;
            if expected == 0 {
                0.0
            } else {
                r.lost as f64 * 100.0 / expected as f64
            }
        })
        .fold(0.0, f64::max);
    let jitter = legs.iter().map(|r| r.jitter_ms).fold(0.0, f64::max);
    let word = if loss < 1.0 && jitter < 30.0 {
        "good"
    } else if loss < 3.0 && jitter < 50.0 {
        "fair"
    } else {
        "poor"
    };
    (word, (loss * 10.0).round() / 10.0, (jitter * 10.0).round() / 10.0)
}

/// One row per call in progress, oldest first; `media` is the bridge's calls by name, `name`
/// how the SIP core names a call's media.
pub fn rows(
    calls: &[ActiveCall],
    media: &[(String, CallStats)],
    name: impl Fn(u64) -> String,
    now: i64,
) -> Vec<CallRow> {
    calls
        .iter()
        .map(|c| {
            let key = name(c.id);
            let stats = media.iter().find(|(k, _)| *k == key).map(|(_, s)| s);
            let (quality, loss_pct, jitter_ms) = quality(stats);
            let (state, from) = match c.answer_unix {
                Some(at) => ("talking", at),
                None => ("ringing", c.start_unix),
            };
            CallRow {
                caller: c.caller.clone(),
                dialled: c.dialled.clone(),
                callee: c.callee.clone().unwrap_or_else(|| "—".to_owned()),
                state,
                time: clock(now - from),
                quality,
                loss_pct,
                jitter_ms,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::stats::Reception;

    fn stats(a: (u64, u64, f64), b: (u64, u64, f64)) -> CallStats {
        let leg = |(packets, lost, jitter_ms): (u64, u64, f64)| crate::media::LegStats {
            port: 10_000,
            expected: None,
            latched: None,
            rtcp_latched: None,
            received: Reception { packets, bytes: packets * 172, lost, jitter_ms, ssrc: None, payload_type: Some(0) },
            rtcp_packets: 0,
            rtcp_bytes: 0,
            relayed_packets: packets,
            relayed_bytes: 0,
            dropped: 0,
            sent_packets: 0,
            sent_bytes: 0,
        };
        CallStats { call: "1".into(), a: leg(a), b: leg(b), duration_secs: 10.0, idle_secs: 0.0 }
    }

    #[test]
    fn the_worse_direction_decides_the_quality() {
        assert_eq!(quality(None).0, "no media yet");
        assert_eq!(quality(Some(&stats((0, 0, 0.0), (0, 0, 0.0)))).0, "no media yet");
        assert_eq!(quality(Some(&stats((500, 0, 4.0), (500, 2, 6.5)))), ("good", 0.4, 6.5));
        assert_eq!(quality(Some(&stats((500, 0, 4.0), (490, 10, 6.0)))), ("fair", 2.0, 6.0));
        assert_eq!(quality(Some(&stats((500, 0, 45.0), (500, 0, 2.0)))).0, "fair");
        assert_eq!(quality(Some(&stats((500, 0, 4.0), (450, 50, 2.0)))), ("poor", 10.0, 4.0));
        assert_eq!(quality(Some(&stats((500, 0, 80.0), (500, 0, 2.0)))).0, "poor");
    }

    #[test]
    fn ringing_counts_from_the_start_talking_from_the_answer() {
        let call = |id, answer_unix, callee: Option<&str>| ActiveCall {
            id,
            tenant: "acme".into(),
            caller: "201".into(),
            dialled: "600".into(),
            callee: callee.map(str::to_owned),
            start_unix: 1_000,
            answer_unix,
        };
        let media = vec![("b".to_owned(), stats((100, 0, 1.0), (100, 0, 1.0)))];
        let rows =
            rows(&[call(10, None, None), call(11, Some(1_010), Some("202"))], &media, |id| format!("{id:x}"), 1_075);
        assert_eq!((rows[0].state, rows[0].time.as_str(), rows[0].callee.as_str()), ("ringing", "1:15", "—"));
        assert_eq!(rows[0].quality, "no media yet", "no media of its own");
        assert_eq!((rows[1].state, rows[1].time.as_str(), rows[1].callee.as_str()), ("talking", "1:05", "202"));
        assert_eq!(rows[1].quality, "good", "its media by the core's name for it");
    }
}
