//! The INVITE server transaction (RFC 3261 §17.2.1, Figure 7, with RFC 6026's Accepted state).
//!
//! - A new INVITE gets `100 Trying` at once, so the caller stops retransmitting while the
//!   call is routed and forked.
//! - A retransmitted INVITE gets the last response again.
//! - A non-2xx final response is retransmitted with Timer G (over UDP) until its ACK, which
//!   the transaction absorbs; Timer H gives up; Timer I absorbs late ACK copies.
//! - A 2xx moves to Accepted: the 2xx is retransmitted with Timer G (over UDP) until the
//!   dialog's ACK (an end-to-end transaction the user sees) is reported with `Ack2xx`, or
//!   64·T1 passes, which is reported as `timed_out` so the user can hang the call up.

use std::time::{Duration, Instant};

use super::{Step, T1, T2, T4, TIMEOUT};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
    Terminated,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// The same INVITE again.
    Retransmission,
    /// The user's response (bytes as sent) with its status code.
    Respond {
        code: u16,
        bytes: Vec<u8>,
    },
    /// An ACK matching this transaction (non-2xx: same branch).
    Ack,
    /// The dialog's ACK for our 2xx arrived.
    Ack2xx,
    Timer,
}

#[derive(Debug)]
pub struct ServerInvite {
    reliable: bool,
    state: State,
    last: Vec<u8>,
    final_code: u16,
    retransmit: Option<(Instant, Duration)>,
    end: Option<Instant>,
}

impl ServerInvite {
    /// A new transaction for an INVITE; `trying` is the 100 to send now.
    pub fn start(reliable: bool, trying: Vec<u8>) -> (ServerInvite, Step) {
        let txn = ServerInvite {
            reliable,
            state: State::Proceeding,
            last: trying.clone(),
            final_code: 0,
            retransmit: None,
            end: None,
        };
        (txn, Step::send(trying))
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The final status sent, 0 while none was.
    pub fn final_code(&self) -> u16 {
        self.final_code
    }

    pub fn deadline(&self) -> Option<Instant> {
        match (self.retransmit, self.end) {
            (Some((r, _)), Some(e)) => Some(r.min(e)),
            (Some((r, _)), None) => Some(r),
            (None, e) => e,
        }
    }

    pub fn handle(&mut self, now: Instant, input: Input) -> (Step, Option<Instant>) {
        let step = match (self.state, input) {
            (State::Terminated, _) => Step::default(),
            (State::Proceeding | State::Completed, Input::Retransmission) => Step::send(self.last.clone()),
            // RFC 6026: a retransmitted INVITE in Accepted is absorbed (the 2xx is resent by Timer G).
            (_, Input::Retransmission) => Step::default(),
            (State::Proceeding, Input::Respond { code, bytes }) => self.respond(now, code, bytes),
            (State::Accepted, Input::Respond { code, bytes }) if (200..300).contains(&code) => {
                // A 2xx retransmitted by the user: pass it on.
                self.last = bytes.clone();
                Step::send(bytes)
            }
            (_, Input::Respond { .. }) => Step::default(),
            (State::Completed, Input::Ack) => {
                self.state = State::Confirmed;
                self.retransmit = None;
                self.end = Some(now + if self.reliable { Duration::ZERO } else { T4 });
                if self.reliable {
                    self.state = State::Terminated;
                    self.end = None;
                    return (Step { terminated: true, ..Step::default() }, None);
                }
                Step::default()
            }
            (State::Accepted, Input::Ack2xx) => {
                self.retransmit = None;
                Step::default()
            }
            (_, Input::Ack | Input::Ack2xx) => Step::default(),
            (_, Input::Timer) => self.on_timer(now),
        };
        (step, self.deadline())
    }

    fn respond(&mut self, now: Instant, code: u16, bytes: Vec<u8>) -> Step {
        self.last = bytes.clone();
        if code < 200 {
            return Step::send(bytes);
        }
        self.final_code = code;
        self.state = if code < 300 { State::Accepted } else { State::Completed };
        self.retransmit = (!self.reliable).then_some((now + T1, T1));
        self.end = Some(now + TIMEOUT);
        Step::send(bytes)
    }

    fn on_timer(&mut self, now: Instant) -> Step {
        if self.end.is_some_and(|e| now >= e) {
            let unacked = match self.state {
                State::Completed => true,
                State::Accepted => self.retransmit.is_some(),
                _ => false,
            };
            self.state = State::Terminated;
            self.retransmit = None;
            self.end = None;
            return Step { timed_out: unacked, terminated: true, ..Step::default() };
        }
        match self.retransmit {
            Some((at, interval)) if now >= at => {
                let next = (interval * 2).min(T2);
                self.retransmit = Some((now + next, next));
                Step::send(self.last.clone())
            }
            _ => Step::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_retransmitted_until_its_ack_is_absorbed() {
        let t0 = Instant::now();
        let (mut t, step) = ServerInvite::start(false, b"100".to_vec());
        assert_eq!(step.send, vec![b"100".to_vec()], "100 Trying at once");
        assert_eq!(t.handle(t0, Input::Retransmission).0.send, vec![b"100".to_vec()]);
        let (step, deadline) = t.handle(t0, Input::Respond { code: 486, bytes: b"486".to_vec() });
        assert_eq!(step.send, vec![b"486".to_vec()]);
        assert_eq!(deadline, Some(t0 + T1), "Timer G");
        let (step, deadline) = t.handle(t0 + T1, Input::Timer);
        assert_eq!(step.send, vec![b"486".to_vec()]);
        assert_eq!(deadline, Some(t0 + 3 * T1), "G doubles");
        assert_eq!(t.handle(t0 + T1, Input::Retransmission).0.send, vec![b"486".to_vec()]);
        let (step, deadline) = t.handle(t0 + 2 * T1, Input::Ack);
        assert!(step.send.is_empty() && !step.terminated);
        assert_eq!(t.state(), State::Confirmed);
        assert_eq!(deadline, Some(t0 + 2 * T1 + T4), "Timer I");
        assert!(t.handle(t0 + 2 * T1 + T4, Input::Timer).0.terminated);
    }

    #[test]
    fn an_unacked_failure_times_out_with_timer_h() {
        let t0 = Instant::now();
        let (mut t, _) = ServerInvite::start(false, b"100".to_vec());
        t.handle(t0, Input::Respond { code: 404, bytes: b"404".to_vec() });
        let mut sends = 0;
        let now = loop {
            let now = t.deadline().unwrap();
            let (step, _) = t.handle(now, Input::Timer);
            sends += step.send.len();
            if step.terminated {
                assert!(step.timed_out);
                break now;
            }
        };
        assert_eq!(now, t0 + TIMEOUT);
        assert!(sends >= 7, "{sends}");
    }

    #[test]
    fn a_2xx_is_retransmitted_until_the_dialog_ack_and_tcp_does_not_retransmit() {
        let t0 = Instant::now();
        let (mut t, _) = ServerInvite::start(false, b"100".to_vec());
        t.handle(t0, Input::Respond { code: 200, bytes: b"200".to_vec() });
        assert_eq!(t.state(), State::Accepted);
        assert_eq!(t.handle(t0 + T1, Input::Timer).0.send, vec![b"200".to_vec()]);
        assert!(t.handle(t0 + T1, Input::Retransmission).0.send.is_empty(), "absorbed in Accepted");
        let (_, deadline) = t.handle(t0 + T1, Input::Ack2xx);
        assert_eq!(deadline, Some(t0 + TIMEOUT), "only the end of Accepted is left");
        let (step, _) = t.handle(t0 + TIMEOUT, Input::Timer);
        assert!(step.terminated && !step.timed_out);

        let (mut t, _) = ServerInvite::start(false, b"100".to_vec());
        t.handle(t0, Input::Respond { code: 200, bytes: b"200".to_vec() });
        let (step, _) = t.handle(t0 + TIMEOUT, Input::Timer);
        assert!(step.timed_out, "a 2xx never ACKed is reported");

        let (mut t, _) = ServerInvite::start(true, b"100".to_vec());
        let (_, deadline) = t.handle(t0, Input::Respond { code: 487, bytes: b"487".to_vec() });
        assert_eq!(deadline, Some(t0 + TIMEOUT), "no Timer G over TCP");
        assert!(t.handle(t0, Input::Ack).0.terminated, "Timer I is zero over TCP");
    }
}
