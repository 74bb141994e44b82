//! Whether a trunk carries calls, from its answers to OPTIONS probes and the fate of real
//! calls. Pure: told the time, it only counts; the manager sends the probes and says how each
//! one ended.
//!
//! - `Unknown` at start counts as usable, so a freshly booted box calls at once; its first
//!   answer makes it `Up`, `down_after` misses make it `Down`.
//! - `Up` → `Down` after `down_after` consecutive misses, or at once when a real call fails
//!   during setup (5xx or no answer): the call already proved the trunk broken.
//! - `Down` → `Up` after `up_after` consecutive answers that also span `hold_down` seconds
//!   from the first answer of the streak. Any miss restarts the streak, so a peer that
//!   flaps faster than the hold-down stays `Down`.
//!
//! What counts as an answer: any final response 2xx–4xx. A 403, 404 or 405 to OPTIONS still
//! shows a SIP stack that processes our requests (many carriers answer OPTIONS with 403).
//! 5xx and 6xx count as misses: the peer is there but says it cannot (or will not) serve, and
//! calls would fail the same way.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::sip::core::Now;
use crate::site::TrunkHealth;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Unknown,
    Up,
    Down,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Unknown => "unknown",
            State::Up => "up",
            State::Down => "down",
        }
    }
}

/// A state change and why it happened ("3 probes unanswered", "503 on a call").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub from: State,
    pub to: State,
    pub reason: String,
}

/// Whether a probe's final response shows the peer alive (see the module doc).
pub fn alive(code: u16) -> bool {
    (200..500).contains(&code)
}

#[derive(Debug, Clone)]
pub struct Health {
    cfg: TrunkHealth,
    state: State,
    since_unix: i64,
    /// Consecutive misses (reset by an answer).
    misses: u32,
    /// Consecutive answers, and when the first of them came (reset by a miss).
    answers: u32,
    streak_start: Option<Instant>,
    reason: String,
}

impl Health {
    pub fn new(now: Now, cfg: TrunkHealth) -> Health {
        Health {
            cfg,
            state: State::Unknown,
            since_unix: now.unix,
            misses: 0,
            answers: 0,
            streak_start: None,
            reason: "not probed yet".into(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn since_unix(&self) -> i64 {
        self.since_unix
    }

    pub fn misses(&self) -> u32 {
        self.misses
    }

    /// Why the trunk is in its state.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    pub fn config(&self) -> &TrunkHealth {
        &self.cfg
    }

    /// New probe settings take effect from the next probe; counts and state are kept.
    pub fn set_config(&mut self, cfg: TrunkHealth) {
        self.cfg = cfg;
    }

    pub fn usable(&self) -> bool {
        self.state != State::Down
    }

    /// A final response to a probe.
    pub fn response(&mut self, now: Now, code: u16) -> Option<Change> {
        if alive(code) {
            self.answered(now)
        } else {
            self.missed(now, &format!("{code} to OPTIONS"))
        }
    }

    /// A probe answered (2xx–4xx).
    pub fn answered(&mut self, now: Now) -> Option<Change> {
        self.misses = 0;
        self.answers = self.answers.saturating_add(1);
        let start = *self.streak_start.get_or_insert(now.at);
        match self.state {
            State::Up => None,
            State::Unknown => self.go(now, State::Up, "first probe answered".into()),
            State::Down => {
                let held = now.at.saturating_duration_since(start);
                let hold = Duration::from_secs(self.cfg.hold_down.into());
                if self.answers >= self.cfg.up_after.max(1) && held >= hold {
                    let reason = format!("{} answers over {} s", self.answers, held.as_secs());
                    self.go(now, State::Up, reason)
                } else {
                    None
                }
            }
        }
    }

    /// A probe unanswered within its timeout, answered 5xx/6xx, or not sendable (`why`).
    pub fn missed(&mut self, now: Now, why: &str) -> Option<Change> {
        self.answers = 0;
        self.streak_start = None;
        self.misses = self.misses.saturating_add(1);
        if self.state != State::Down && self.misses >= self.cfg.down_after.max(1) {
            let reason =
                if self.misses == 1 { why.to_owned() } else { format!("{} probes missed ({why})", self.misses) };
            return self.go(now, State::Down, reason);
        }
        None
    }

    /// A real call failed during setup: down at once (and any recovery streak starts over).
    pub fn call_failed(&mut self, now: Now, why: &str) -> Option<Change> {
        self.answers = 0;
        self.streak_start = None;
        if self.state == State::Down {
            return None;
        }
        self.go(now, State::Down, format!("{why} on a call"))
    }

    fn go(&mut self, now: Now, to: State, reason: String) -> Option<Change> {
        let from = self.state;
        self.state = to;
        self.since_unix = now.unix;
        self.reason.clone_from(&reason);
        if to == State::Up {
            self.answers = 0;
            self.streak_start = None;
        }
        Some(Change { from, to, reason })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Virtual time: `t(s)` is `s` seconds after an arbitrary start.
    struct Clock(Instant);

    impl Clock {
        fn t(&self, secs: f64) -> Now {
            Now { at: self.0 + Duration::from_secs_f64(secs), unix: 1_000_000 + secs as i64 }
        }
    }

    /// Drives probes the way the manager does (one every `probe_interval`, a miss after
    /// `probe_timeout`) against a peer that answers when `alive(t)`; returns the changes with
    /// their time, until `end`.
    fn run(
        cfg: &TrunkHealth,
        h: &mut Health,
        clock: &Clock,
        end: f64,
        alive: impl Fn(f64) -> bool,
    ) -> Vec<(f64, Change)> {
        let mut out = Vec::new();
        let mut t = 0.0;
        while t <= end {
            let change = if alive(t) {
                h.answered(clock.t(t + 0.25))
            } else {
                h.missed(clock.t(t + f64::from(cfg.probe_timeout)), "no answer")
            };
            if let Some(c) = change {
                let at = if alive(t) { t + 0.25 } else { t + f64::from(cfg.probe_timeout) };
                out.push((at, c));
            }
            t += f64::from(cfg.probe_interval);
        }
        out
    }

    #[test]
    fn a_dead_peer_is_down_within_8_s_of_its_last_answer_with_defaults() {
        let cfg = TrunkHealth::default();
        let clock = Clock(Instant::now());
        let mut h = Health::new(clock.t(0.0), cfg.clone());
        assert!(h.usable(), "unknown counts as usable");
        let changes = run(&cfg, &mut h, &clock, 30.0, |t| t < 10.0);
        assert_eq!(changes[0].1.to, State::Up);
        assert_eq!(changes[0].1.reason, "first probe answered");
        let (at, down) = &changes[1];
        assert_eq!(down.to, State::Down);
        // The last answer came at 8.25 s; the probes of 10, 12 and 14 s time out at 16 s.
        assert!(*at - 8.25 <= 8.0, "down {at} s");
        assert_eq!(down.reason, "3 probes missed (no answer)");
        assert!(!h.usable());
        assert_eq!(changes.len(), 2);
    }

    #[test]
    fn down_comes_back_only_after_the_hold_down() {
        let cfg = TrunkHealth::default();
        let clock = Clock(Instant::now());
        let mut h = Health::new(clock.t(0.0), cfg.clone());
        let changes = run(&cfg, &mut h, &clock, 80.0, |t| !(4.0..20.0).contains(&t));
        let states: Vec<State> = changes.iter().map(|(_, c)| c.to).collect();
        assert_eq!(states, [State::Up, State::Down, State::Up]);
        let (at, up) = &changes[2];
        // Answers again from 20 s: up at the first answer at least 30 s after that, 50 s.
        assert!((*at - 50.25).abs() < 0.01, "up at {at}");
        assert_eq!(up.reason, "16 answers over 30 s");
        assert_eq!(h.misses(), 0);
    }

    #[test]
    fn a_flapping_peer_never_comes_up() {
        let cfg = TrunkHealth::default();
        let clock = Clock(Instant::now());
        let mut h = Health::new(clock.t(0.0), cfg.clone());
        assert!(h.missed(clock.t(2.0), "x").is_none());
        h.call_failed(clock.t(2.5), "503");
        // Up 3 s, down 3 s, for ten minutes.
        let changes = run(&cfg, &mut h, &clock, 600.0, |t| (t % 6.0) < 3.0);
        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(h.state(), State::Down);
    }

    #[test]
    fn up_after_counts_as_well_as_time() {
        let cfg = TrunkHealth { probe_interval: 20, up_after: 3, hold_down: 5, ..TrunkHealth::default() };
        let clock = Clock(Instant::now());
        let mut h = Health::new(clock.t(0.0), cfg);
        h.call_failed(clock.t(0.0), "timeout");
        assert!(h.answered(clock.t(20.0)).is_none());
        assert!(h.answered(clock.t(40.0)).is_none(), "held 20 s but only 2 answers");
        assert_eq!(h.answered(clock.t(60.0)).unwrap().reason, "3 answers over 40 s");
    }

    #[test]
    fn a_failed_call_is_down_at_once_and_5xx_is_a_miss() {
        let cfg = TrunkHealth::default();
        let clock = Clock(Instant::now());
        let mut h = Health::new(clock.t(0.0), cfg);
        assert_eq!(h.response(clock.t(0.1), 404).unwrap().to, State::Up, "404 shows the peer alive");
        let c = h.call_failed(clock.t(1.0), "503").unwrap();
        assert_eq!((c.from, c.to, c.reason.as_str()), (State::Up, State::Down, "503 on a call"));
        assert_eq!(h.since_unix(), 1_000_001);
        assert!(h.call_failed(clock.t(2.0), "503").is_none(), "already down");
        let mut h = Health::new(clock.t(0.0), TrunkHealth::default());
        assert!(h.response(clock.t(1.0), 503).is_none());
        assert!(h.response(clock.t(2.0), 603).is_none());
        assert_eq!(h.response(clock.t(3.0), 500).unwrap().reason, "3 probes missed (500 to OPTIONS)");
        assert!(alive(200) && alive(403) && alive(405) && !alive(503) && !alive(100));
    }
}
